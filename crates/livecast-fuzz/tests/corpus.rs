//! Replays every committed fuzz corpus (`fuzz/corpus/{target}/*`) through its target on
//! stable Rust, so an input that once crashed a parser keeps being tried.

use std::path::PathBuf;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus")
}

#[test]
fn every_target_has_a_corpus_and_survives_it() {
    let root = corpus_root();
    let mut total = 0;
    for (name, target) in livecast_fuzz::TARGETS {
        let dir = root.join(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("corpus entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "{name}: empty corpus in {}", dir.display());
        for file in &files {
            let data = std::fs::read(file).expect("corpus file");
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name} panicked on {}", file.display());
        }
        total += files.len();
        eprintln!("{name}: {} inputs", files.len());
    }
    assert!(total > 0);
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(corpus_root().join("../Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in livecast_fuzz::TARGETS {
        assert!(manifest.contains(&format!("name = \"{name}\"")), "fuzz/Cargo.toml has no [[bin]] {name}");
    }
}

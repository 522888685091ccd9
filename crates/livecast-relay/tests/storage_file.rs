//! The relay with `--storage file:DIR` outside its data directory: segments are files in
//! DIR, served with `Range`, and start-up recovery reconciles DIR with the database after a
//! SIGKILL (a file without a row is removed, a row without a file dropped).

mod common;

use common::{client, create, seg, start_open, tree};
use reqwest::StatusCode;

#[tokio::test]
async fn segments_live_in_the_storage_directory_and_recovery_checks_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("segments");
    let flag = format!("file:{}", store.display());
    let mut relay = start_open(dir.path(), &["--storage", &flag]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    for i in 0..3u32 {
        let res = c.put(relay.url(&format!("/live/{id}/{i}.ts"))).bearer_auth(&key).body(seg(i as usize)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::CREATED);
        assert_eq!(std::fs::read(store.join(format!("{id}/{i}.ts"))).unwrap(), seg(i as usize), "on disk before the 201");
    }
    assert!(!dir.path().join("data/streams").join(&id).exists(), "nothing in the default place");
    let res = c.get(relay.url(&format!("/hls/{id}/1.ts"))).header("Range", "bytes=0-187").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(res.bytes().await.unwrap(), seg(1)[..188]);
    relay.kill9();

    // After the crash: seq 1's file is gone (its row must go), a file 7 was never
    // acknowledged (it must go), a temp file was left mid-write.
    std::fs::remove_file(store.join(format!("{id}/1.ts"))).unwrap();
    std::fs::write(store.join(format!("{id}/7.ts")), seg(7)).unwrap();
    std::fs::write(store.join(format!("{id}/.8.ts.0a1b.tmp")), b"half").unwrap();
    let relay = start_open(dir.path(), &["--storage", &flag]);
    let files: Vec<String> = tree(&store.join(&id));
    assert_eq!(files, ["0.ts", "2.ts"]);
    let status: serde_json::Value = c.get(relay.url(&format!("/api/streams/{id}"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(status["segments"], 2);
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/1.ts"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.get(relay.url(&format!("/hls/{id}/2.ts"))).send().await.unwrap().bytes().await.unwrap(), seg(2));
    assert!(relay.logs().contains(&format!("file:{}", store.display())), "{}", relay.logs());
}

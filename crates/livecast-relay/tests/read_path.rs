//! The read path under ingest, on the real `livecast-relay` binary: viewers' playlist and
//! segment requests run on read-only database connections and cached renders beside the
//! uploads, and must still see every acknowledged segment at once and never a torn playlist.

mod common;

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use common::{client, create, seg, segments, start_open, Relay};
use m3u8_rs::{MediaPlaylist, Playlist};
use reqwest::StatusCode;

/// Segments in a live playlist for these tests (small, so the window slides).
const WINDOW: usize = 3;

async fn media_playlist(relay: &Relay, c: &reqwest::Client, id: &str) -> MediaPlaylist {
    let res = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.bytes().await.unwrap();
    match m3u8_rs::parse_playlist_res(&text) {
        Ok(Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist: {other:?}\n{}", String::from_utf8_lossy(&text)),
    }
}

fn seqs(p: &MediaPlaylist) -> Vec<u64> {
    p.segments.iter().map(|s| s.uri.trim_end_matches(".ts").parse().expect("N.ts")).collect()
}

/// What any live playlist of in-order uploads must look like: the last (at most) `WINDOW`
/// consecutive segments, the media sequence that of the first, nothing past what the
/// uploader had sent when the request was answered.
fn check_live(p: &MediaPlaylist, sent: i64, what: &str) {
    let s = seqs(p);
    assert!(!p.end_list, "{what}: a live playlist ended: {s:?}");
    assert!(!s.is_empty() && s.len() <= WINDOW, "{what}: {s:?}");
    assert!(s.windows(2).all(|w| w[1] == w[0] + 1), "{what}: not consecutive: {s:?}");
    assert_eq!(p.media_sequence, s[0], "{what}: media sequence of {s:?}");
    assert!((*s.last().unwrap() as i64) <= sent, "{what}: {s:?} lists a segment not sent yet (sent up to {sent})");
    // A full window once there are enough rows.
    assert!(s.len() == WINDOW || s[0] == 0, "{what}: a short window {s:?}");
}

/// Three streams uploaded at once while viewers poll each one's playlist and newest
/// segment: right after each `201`, a new request sees the segment (the playlist ends with
/// it, the segment is served byte for byte); every playlist any viewer gets is whole and
/// consecutive; after the end, the playlist is the whole stream with `EXT-X-ENDLIST`.
#[tokio::test]
async fn viewers_see_every_acknowledged_segment_while_streams_are_uploaded() {
    let dir = tempfile::tempdir().unwrap();
    let window = WINDOW.to_string();
    let relay = Arc::new(start_open(dir.path(), &["--window-segments", &window]));
    let c = client();
    let n = segments().len();
    let mut uploads = Vec::new();
    for _ in 0..3 {
        let (id, key) = create(&relay, &c).await;
        let (relay, c) = (Arc::clone(&relay), c.clone());
        uploads.push(tokio::spawn(async move {
            // Highest seq acknowledged so far (-1: none), for the viewers.
            let sent = Arc::new(AtomicI64::new(-1));
            let done = Arc::new(AtomicBool::new(false));
            let mut viewers = Vec::new();
            for v in 0..4 {
                let (relay, c, id, sent, done) = (Arc::clone(&relay), c.clone(), id.clone(), Arc::clone(&sent), Arc::clone(&done));
                viewers.push(tokio::spawn(async move {
                    let mut polls = 0u32;
                    while !done.load(Ordering::Acquire) {
                        // `sent` read after the answer: the upload it counts may have been
                        // acknowledged after this playlist was made, never the other way.
                        let res = c.get(relay.url(&format!("/hls/{id}/index.m3u8"))).send().await.unwrap();
                        let status = res.status();
                        let text = res.bytes().await.unwrap();
                        let upper = sent.load(Ordering::Acquire) + 1;
                        if status == StatusCode::NOT_FOUND && upper <= 0 {
                            continue; // nothing uploaded yet
                        }
                        assert_eq!(status, StatusCode::OK, "viewer {v}: {}", String::from_utf8_lossy(&text));
                        let Ok(Playlist::MediaPlaylist(p)) = m3u8_rs::parse_playlist_res(&text) else {
                            panic!("viewer {v}: not a media playlist:\n{}", String::from_utf8_lossy(&text));
                        };
                        if p.segments.is_empty() {
                            continue; // the stream exists, its first segment not stored yet
                        }
                        if p.end_list {
                            // Only once the end was asked for, and then the whole stream.
                            assert!(done.load(Ordering::Acquire), "viewer {v}: ended before the end: {:?}", seqs(&p));
                            assert_eq!(seqs(&p), (0..n as u64).collect::<Vec<_>>(), "viewer {v}");
                            break;
                        }
                        // One more than acknowledged may show: it is committed, its 201 on the way.
                        check_live(&p, upper, &format!("viewer {v} of {id}"));
                        let newest = *seqs(&p).last().unwrap();
                        let res = c.get(relay.url(&format!("/hls/{id}/{newest}.ts"))).send().await.unwrap();
                        assert_eq!(res.status(), StatusCode::OK, "viewer {v}: a listed segment");
                        assert_eq!(res.bytes().await.unwrap(), seg(newest as usize), "viewer {v}: segment {newest}");
                        polls += 1;
                    }
                    polls
                }));
            }
            for i in 0..n {
                let res = c
                    .put(relay.url(&format!("/live/{id}/{i}.ts")))
                    .bearer_auth(&key)
                    .body(seg(i))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::CREATED, "upload {i}: {}", res.text().await.unwrap());
                sent.store(i as i64, Ordering::Release);
                // Acknowledged, so the next request sees it.
                let p = media_playlist(&relay, &c, &id).await;
                check_live(&p, i as i64, &format!("right after upload {i} of {id}"));
                assert_eq!(*seqs(&p).last().unwrap(), i as u64, "right after upload {i} of {id}");
                let res = c.get(relay.url(&format!("/hls/{id}/{i}.ts"))).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::OK);
                assert_eq!(res.bytes().await.unwrap(), seg(i));
                // A retry is still a duplicate.
                let again = c.put(relay.url(&format!("/live/{id}/{i}.ts"))).bearer_auth(&key).body(seg(i)).send().await.unwrap();
                assert_eq!(again.status(), StatusCode::OK);
            }
            // Set before the end is asked for: a viewer may see the ended playlist from now on.
            done.store(true, Ordering::Release);
            let res = c.post(relay.url(&format!("/api/streams/{id}/end"))).bearer_auth(&key).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            let mut polls = 0;
            for v in viewers {
                polls += v.await.unwrap();
            }
            let p = media_playlist(&relay, &c, &id).await;
            assert!(p.end_list, "ended: {:?}", seqs(&p));
            assert_eq!(seqs(&p), (0..n as u64).collect::<Vec<_>>());
            polls
        }));
    }
    let mut polls = 0;
    for u in uploads {
        polls += u.await.unwrap();
    }
    eprintln!("{polls} viewer polls checked");
    assert!(polls > 0, "no viewer request was checked");
}

/// A segment just uploaded is served from memory, and after a restart from disk: the same
/// bytes, `Range`, `HEAD` and both validators either way.
#[tokio::test]
async fn a_segment_is_served_alike_from_memory_and_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let mut relay = start_open(dir.path(), &[]);
    let c = client();
    let (id, key) = create(&relay, &c).await;
    let res = c.put(relay.url(&format!("/live/{id}/0.ts"))).bearer_auth(&key).body(seg(0)).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let check = |relay: Relay, from: &'static str| {
        let (c, id) = (c.clone(), id.clone());
        async move {
            let uri = relay.url(&format!("/hls/{id}/0.ts"));
            let whole = c.get(&uri).send().await.unwrap();
            assert_eq!(whole.status(), StatusCode::OK, "{from}");
            let headers = whole.headers().clone();
            assert_eq!(headers["content-type"], "video/mp2t", "{from}");
            assert_eq!(headers["cache-control"], "public, max-age=31536000, immutable", "{from}");
            assert_eq!(whole.bytes().await.unwrap(), seg(0), "{from}");
            let etag = headers["etag"].to_str().unwrap().to_owned();
            let modified = headers["last-modified"].to_str().unwrap().to_owned();
            let res = c.get(&uri).header("if-none-match", &etag).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{from}: If-None-Match");
            let res = c.get(&uri).header("if-modified-since", &modified).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::NOT_MODIFIED, "{from}: If-Modified-Since");
            let res = c.get(&uri).header("range", "bytes=188-375").send().await.unwrap();
            assert_eq!(res.status(), StatusCode::PARTIAL_CONTENT, "{from}");
            assert_eq!(res.headers()["content-range"], format!("bytes 188-375/{}", seg(0).len()), "{from}");
            assert_eq!(res.bytes().await.unwrap(), seg(0)[188..376], "{from}");
            let res = c.head(&uri).send().await.unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{from}");
            assert_eq!(res.headers()["content-length"], seg(0).len().to_string().as_str(), "{from}");
            (relay, etag)
        }
    };
    let (mut relay_back, memory_etag) = check(relay, "from memory").await;
    let sha = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(seg(0)))
    };
    assert_eq!(memory_etag, format!("\"{sha}\""), "from memory the tag is the segment's SHA-256");
    relay_back.terminate(std::time::Duration::from_secs(10));
    relay = start_open(dir.path(), &[]);
    check(relay, "from disk").await;
}

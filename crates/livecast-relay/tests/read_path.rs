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

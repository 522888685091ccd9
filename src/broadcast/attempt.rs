//! One segment's way to the relay, sans-I/O: which node to put it through, what each
//! answer means, when to retry, when to give transcoding up and keep the source alone.
//!
//! [`SegmentUpload`] is fed the outcome of each step (a node that could not be paid, the
//! relay's answer to a PUT) and answers what to do next as [`Action`]s; the `Broadcaster`
//! (`js::broadcaster`) performs them with `fetch`, timers and events. Node choice itself is
//! [`TranscodeSession`]'s; the status rules are [`UploadVerdict`]'s and [`NodeFailure`]'s.
//!
//! The rules:
//! - A node that fails the segment (a retryable `502` from the relay's gateway) or cannot
//!   be paid is recorded as failed and the next node is tried at once, up to
//!   [`MAX_ATTEMPTS`] nodes. A refused payment first asks every node for fresh ticket
//!   params. A wallet whose user refused to sign ends the tries at once.
//! - No node left: if the relay already stored the source (a node failed after the relay
//!   took the upload), the segment is acknowledged and its renditions marked as a gap; if
//!   no node could be paid before the upload, the source goes up alone and, once stored,
//!   the gap is marked.
//! - The relay's own answers: stored → acknowledged; wrong key or stream → the broadcast
//!   fails; segment refused → dropped and reported; otherwise (network, 5xx, 429) retried
//!   with [`UploadBackoff`], unless the broadcast ended, and given up after
//!   `max_attempts` only when newer segments are waiting (the newest one is never given up).

use super::transcode::{TranscodeSession, MAX_ATTEMPTS};
use super::upload::{NodeFailure, UploadBackoff, UploadVerdict};
use crate::ErrorCode;

/// What to do next for a segment, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// A non-fatal `error` event about this segment.
    Report {
        /// Its code.
        code: ErrorCode,
        /// Its message.
        message: String,
        /// The HTTP status concerned, if any.
        status: Option<u16>,
    },
    /// Ask every node for fresh ticket params before the next try.
    RefreshNodes,
    /// Choose a node (another one) and upload again, now.
    TryNextNode,
    /// Upload again after `delay_ms` (the relay could not be reached): the broadcast is
    /// reconnecting.
    RetryAfter {
        /// How long to wait, ms.
        delay_ms: f64,
    },
    /// Tell the relay this segment's renditions are a gap (the source is kept).
    MarkGap,
    /// The relay stored the segment: the `segment` event.
    Acknowledge {
        /// Uploads made for it.
        attempts: u32,
        /// The node whose renditions the relay stored with it, if any.
        transcoder: Option<String>,
    },
    /// The segment is lost: counted as dropped (a `Report` says why).
    Drop,
    /// The stream key or id is wrong: the broadcast fails with `BAD_STREAM_KEY`.
    FailBadStreamKey {
        /// The relay's status.
        status: u16,
    },
}

/// What the Broadcaster knows when the relay answered a PUT.
#[derive(Debug, Clone, Copy)]
pub struct Answer<'a> {
    /// The HTTP status; `None` when the request got no answer.
    pub status: Option<u16>,
    /// The relay's error body, when it sent one.
    pub error: Option<&'a livecast_api::ErrorBody>,
    /// How long the upload took, ms.
    pub upload_ms: f64,
    /// The broadcast was stopped meanwhile.
    pub ended: bool,
    /// Newer segments wait in the queue.
    pub others_waiting: bool,
    /// A uniform random number in [0, 1), for the backoff's jitter.
    pub random: f64,
}

/// One segment's upload, from its first try to its end.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentUpload {
    seq: u64,
    backoff: UploadBackoff,
    attempts: u32,
    tried: Vec<String>,
    /// No node can be paid: the source goes up alone, and its gap is marked once stored.
    source_only: bool,
    /// The node this attempt goes through.
    node: Option<String>,
}

impl SegmentUpload {
    /// The upload of segment `seq`.
    pub fn new(seq: u64, backoff: UploadBackoff) -> Self {
        SegmentUpload { seq, backoff, attempts: 0, tried: Vec::new(), source_only: false, node: None }
    }

    /// Starts an attempt: whether to choose a node for it (false: the source goes alone).
    pub fn begin(&mut self) -> bool {
        self.attempts += 1;
        self.node = None;
        !self.source_only
    }

    /// The nodes tried so far (not to be chosen again).
    pub fn tried(&self) -> &[String] {
        &self.tried
    }

    /// Uploads made (or begun) so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The node this attempt goes through, if any.
    pub fn node(&self) -> Option<&str> {
        self.node.as_deref()
    }

    /// This attempt goes through `uri`.
    pub fn through(&mut self, uri: &str) {
        self.node = Some(uri.to_owned());
    }

    /// The node `uri` could not be paid for this segment (`code` and `message` from the
    /// payment): [`Action::TryNextNode`] at the end when another node is left, else the
    /// attempt goes on with the source alone.
    pub fn node_unpayable(&mut self, uri: &str, code: ErrorCode, message: &str, session: &mut TranscodeSession) -> Vec<Action> {
        let mut actions = vec![Action::Report { code, message: format!("segment {}: {message}", self.seq), status: None }];
        if code == ErrorCode::PaymentRejected {
            // Used-up or unusable params: fresh ones for the next attempts.
            actions.push(Action::RefreshNodes);
        }
        let another = self.fail_node(uri, session);
        if code == ErrorCode::UserRejected || !another {
            self.source_only = true;
            self.node = None;
        } else {
            actions.push(Action::TryNextNode);
        }
        actions
    }

    /// The relay answered this attempt's PUT.
    pub fn answered(&mut self, answer: Answer<'_>, session: Option<&mut TranscodeSession>) -> Vec<Action> {
        let node = self.node.take();
        let verdict = UploadVerdict::from_status(answer.status);
        if let (Some(uri), Some(session)) = (&node, session) {
            if let Some(failure) = NodeFailure::from_answer(answer.status, answer.error) {
                let (code, what) = if failure.payment_refused {
                    (ErrorCode::PaymentRejected, "refused the payment for")
                } else {
                    (ErrorCode::TranscodeFailed, "failed")
                };
                let another = self.fail_node(uri, session);
                let mut actions = vec![Action::Report {
                    code,
                    message: format!("transcoder {uri} {what} segment {}: {}", self.seq, failure.message),
                    status: answer.status,
                }];
                if failure.payment_refused {
                    // Stale or refused params: ask every node for fresh ones before going on.
                    actions.push(Action::RefreshNodes);
                }
                if another {
                    actions.push(Action::TryNextNode);
                } else {
                    // The relay stored the source before forwarding: keep it, mark the gap.
                    actions.push(Action::MarkGap);
                    actions.push(Action::Acknowledge { attempts: self.attempts, transcoder: None });
                }
                return actions;
            }
            if verdict == UploadVerdict::Acknowledged {
                session.record(uri, self.seq, Ok(answer.upload_ms));
            }
        }
        match verdict {
            UploadVerdict::Acknowledged => {
                let mut actions = Vec::new();
                if self.source_only {
                    actions.push(Action::MarkGap);
                }
                actions.push(Action::Acknowledge { attempts: self.attempts, transcoder: node });
                actions
            }
            UploadVerdict::BadStreamKey => vec![Action::FailBadStreamKey { status: answer.status.unwrap_or(0) }],
            UploadVerdict::SegmentRejected => vec![
                Action::Drop,
                Action::Report {
                    code: ErrorCode::SegmentRejected,
                    message: format!("the relay refused segment {} (HTTP {})", self.seq, answer.status.unwrap_or(0)),
                    status: answer.status,
                },
            ],
            UploadVerdict::Retry if answer.ended => Vec::new(),
            UploadVerdict::Retry if self.attempts >= self.backoff.max_attempts && answer.others_waiting => vec![
                Action::Drop,
                Action::Report {
                    code: ErrorCode::RelayUnreachable,
                    message: format!("segment {} was given up after {} attempts", self.seq, self.attempts),
                    status: answer.status,
                },
            ],
            UploadVerdict::Retry => vec![Action::RetryAfter { delay_ms: self.backoff.delay_ms(self.attempts, answer.random) }],
        }
    }

    /// Records `uri` as failed for this segment; whether another node is left to try.
    fn fail_node(&mut self, uri: &str, session: &mut TranscodeSession) -> bool {
        self.tried.push(uri.to_owned());
        session.record(uri, self.seq, Err(()));
        self.tried.len() < MAX_ATTEMPTS && session.choose(self.seq, &self.tried).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livecast_api::{ErrorBody, RelayErrorCode};
    use livecast_protocol::net::{OrchestratorInfo, PriceInfo};
    use livecast_protocol::profile::P240P30FPS16X9;

    /// A session with the nodes `https://{name}` for each name, all free.
    fn session(nodes: &[&str]) -> TranscodeSession {
        let mut s = TranscodeSession::new("m", vec![P240P30FPS16X9], 10.0).unwrap();
        let info = || OrchestratorInfo { price_info: Some(PriceInfo { price_per_unit: 0, pixels_per_unit: 1, ..Default::default() }), ..Default::default() };
        s.set_nodes(nodes.iter().map(|name| (format!("https://{name}"), info())).collect());
        s
    }

    fn answer(status: Option<u16>, error: Option<&ErrorBody>) -> Answer<'_> {
        Answer { status, error, upload_ms: 100.0, ended: false, others_waiting: false, random: 0.5 }
    }

    fn node_failed() -> ErrorBody {
        ErrorBody::new(RelayErrorCode::TranscoderTimeout, "the node timed out", Some(true))
    }

    /// One attempt through the node the session chooses.
    fn through_next(up: &mut SegmentUpload, s: &TranscodeSession) -> String {
        assert!(up.begin());
        let uri = s.choose(7, up.tried()).expect("a node").uri.clone();
        up.through(&uri);
        uri
    }

    #[test]
    fn a_stored_segment_is_acknowledged_with_its_node_whose_latency_is_recorded() {
        let mut s = session(&["a", "b"]);
        let mut up = SegmentUpload::new(7, UploadBackoff::default());
        let uri = through_next(&mut up, &s);
        assert_eq!(up.answered(answer(Some(201), None), Some(&mut s)), vec![Action::Acknowledge { attempts: 1, transcoder: Some(uri.clone()) }]);
        assert_eq!(s.nodes().iter().find(|n| n.uri == uri).and_then(|n| n.latency_ms), Some(100.0));
    }

    #[test]
    fn a_failing_node_moves_the_segment_to_the_next_up_to_three_then_the_source_is_kept_with_a_gap() {
        let mut s = session(&["a", "b", "c", "d"]);
        let mut up = SegmentUpload::new(7, UploadBackoff::default());
        let body = node_failed();
        let mut used = Vec::new();
        for round in 0..3 {
            let uri = through_next(&mut up, &s);
            assert!(!used.contains(&uri), "a node is tried once");
            used.push(uri.clone());
            let actions = up.answered(answer(Some(502), Some(&body)), Some(&mut s));
            assert!(matches!(&actions[0], Action::Report { code: ErrorCode::TranscodeFailed, status: Some(502), message } if message.contains(&uri)), "{actions:?}");
            if round < 2 {
                assert_eq!(actions[1..], [Action::TryNextNode]);
            } else {
                assert_eq!(actions[1..], [Action::MarkGap, Action::Acknowledge { attempts: 3, transcoder: None }], "after {MAX_ATTEMPTS} nodes");
            }
        }
        // The failed nodes sit out the next segments.
        assert_eq!(s.choose(8, &[]).map(|n| n.uri.as_str()), Some("https://d"));
    }

    #[test]
    fn a_refused_payment_refreshes_every_node_before_the_next_try() {
        let mut s = session(&["a", "b"]);
        let mut up = SegmentUpload::new(7, UploadBackoff::default());
        through_next(&mut up, &s);
        let refused = ErrorBody::new(RelayErrorCode::TranscoderPaymentRejected, "bad ticket", Some(true));
        let actions = up.answered(answer(Some(502), Some(&refused)), Some(&mut s));
        assert!(matches!(&actions[0], Action::Report { code: ErrorCode::PaymentRejected, .. }));
        assert_eq!(actions[1..], [Action::RefreshNodes, Action::TryNextNode]);
        // A 502 the next node would repeat (not retryable) is the relay's verdict: a retry.
        through_next(&mut up, &s);
        let invalid = ErrorBody::new(RelayErrorCode::RenditionInvalid, "bad rendition", Some(false));
        assert!(matches!(up.answered(answer(Some(502), Some(&invalid)), Some(&mut s))[..], [Action::RetryAfter { .. }]));
    }

    #[test]
    fn no_node_that_can_be_paid_sends_the_source_alone_and_marks_the_gap_once_stored() {
        let mut s = session(&["a", "b"]);
        let mut up = SegmentUpload::new(7, UploadBackoff::default());
        assert!(up.begin());
        let actions = up.node_unpayable("https://a", ErrorCode::PriceTooHigh, "too dear", &mut s);
        assert!(matches!(&actions[..], [Action::Report { code: ErrorCode::PriceTooHigh, message, .. }, Action::TryNextNode] if message == "segment 7: too dear"));
        assert!(up.begin());
        // The user refused to sign: no more nodes, whatever is left.
        let actions = up.node_unpayable("https://b", ErrorCode::UserRejected, "no", &mut s);
        assert!(matches!(&actions[..], [Action::Report { code: ErrorCode::UserRejected, .. }]), "{actions:?}");
        // The same attempt goes on with the source alone; later attempts choose no node.
        assert_eq!(up.answered(answer(None, None), Some(&mut s)), vec![Action::RetryAfter { delay_ms: UploadBackoff::default().delay_ms(2, 0.5) }]);
        assert!(!up.begin(), "the source alone from now on");
        assert_eq!(up.answered(answer(Some(201), None), Some(&mut s)), vec![Action::MarkGap, Action::Acknowledge { attempts: 3, transcoder: None }]);
    }

    #[test]
    fn a_refused_payment_before_upload_asks_for_fresh_params() {
        let mut s = session(&["a", "b"]);
        let mut up = SegmentUpload::new(7, UploadBackoff::default());
        up.begin();
        let actions = up.node_unpayable("https://a", ErrorCode::PaymentRejected, "params used up", &mut s);
        assert_eq!(actions[1..], [Action::RefreshNodes, Action::TryNextNode]);
    }

    #[test]
    fn the_relays_own_answers_retry_fail_or_drop() {
        let backoff = UploadBackoff { max_attempts: 3, ..UploadBackoff::default() };
        let mut up = SegmentUpload::new(7, backoff.clone());
        // Unreachable: retried with backoff, never given up while it is the only segment.
        let mut delays = Vec::new();
        for _ in 0..5 {
            assert!(up.begin());
            match &up.answered(answer(Some(503), None), None)[..] {
                [Action::RetryAfter { delay_ms }] => delays.push(*delay_ms),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(delays, (1..=5).map(|n| backoff.delay_ms(n, 0.5)).collect::<Vec<_>>());
        // With newer segments waiting, given up past max_attempts.
        up.begin();
        let actions = up.answered(Answer { others_waiting: true, ..answer(None, None) }, None);
        assert!(matches!(&actions[..], [Action::Drop, Action::Report { code: ErrorCode::RelayUnreachable, message, .. }] if message.contains("after 6 attempts")), "{actions:?}");
        // Stopped meanwhile: nothing more.
        let mut up = SegmentUpload::new(8, backoff.clone());
        up.begin();
        assert!(up.answered(Answer { ended: true, ..answer(None, None) }, None).is_empty());
        // Wrong key: the broadcast fails. Refused segment: dropped, reported, the broadcast goes on.
        let mut up = SegmentUpload::new(9, backoff);
        up.begin();
        assert_eq!(up.answered(answer(Some(401), None), None), vec![Action::FailBadStreamKey { status: 401 }]);
        up.begin();
        let actions = up.answered(answer(Some(409), None), None);
        assert!(matches!(&actions[..], [Action::Drop, Action::Report { code: ErrorCode::SegmentRejected, status: Some(409), .. }]));
    }
}

//! Upload policy: what to do with each relay answer, when to retry, and the bounded queue
//! that drops whole segments, oldest first, when the network cannot keep up.

use std::collections::VecDeque;

/// Retry timing as data: exponential backoff with full jitter, capped.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadBackoff {
    /// Attempts per segment, the first one included.
    pub max_attempts: u32,
    /// Delay before the first retry, ms.
    pub base_delay_ms: f64,
    /// Largest delay between attempts, ms.
    pub max_delay_ms: f64,
}

impl Default for UploadBackoff {
    fn default() -> Self {
        Self { max_attempts: 6, base_delay_ms: 250.0, max_delay_ms: 8000.0 }
    }
}

impl UploadBackoff {
    /// Delay before retry number `retry` (1 = first retry), given a uniform random number
    /// in [0, 1): half the exponential step plus up to half of it again at random, so
    /// many broadcasters retrying together spread out.
    pub fn delay_ms(&self, retry: u32, random: f64) -> f64 {
        let step = (self.base_delay_ms * 2f64.powi(retry.saturating_sub(1).min(30) as i32)).min(self.max_delay_ms);
        step / 2.0 + step / 2.0 * random.clamp(0.0, 1.0)
    }
}

/// What an upload attempt's outcome means for the segment and the broadcast.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadVerdict {
    /// Stored (201) or already stored with the same bytes (200).
    Acknowledged,
    /// Try again later: network failure, timeout, 408, 429 or a 5xx.
    Retry,
    /// The stream key is wrong or the stream is unknown (401, 403, 404): stop broadcasting.
    BadStreamKey,
    /// The relay refused this segment (400, 409, 413, 415, ...): report it, go on with the next.
    SegmentRejected,
}

impl UploadVerdict {
    /// Classifies an HTTP status; `None` means the request never got an answer.
    pub fn from_status(status: Option<u16>) -> Self {
        match status {
            None => Self::Retry,
            Some(200..=299) => Self::Acknowledged,
            Some(401 | 403 | 404) => Self::BadStreamKey,
            Some(408 | 425 | 429) | Some(500..=599) => Self::Retry,
            Some(_) => Self::SegmentRejected,
        }
    }
}

/// A transcoder node's failure of a segment, as the relay's gateway answers it: a `502`
/// whose error body says another node may succeed (`retryable`). The segment moves to the
/// next node; a refused payment (`transcoder_payment_rejected`) also asks every node for
/// fresh ticket params first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// The node refused the payment rather than failing the work.
    pub payment_refused: bool,
    /// The relay's message.
    pub message: String,
}

impl NodeFailure {
    /// The node failure in an upload's answer, if it is one: status `502` with a
    /// `retryable: true` error body. Anything else is judged by [`UploadVerdict`].
    pub fn from_answer(status: Option<u16>, body: Option<&livecast_api::ErrorBody>) -> Option<Self> {
        let error = &body?.error;
        (status == Some(502) && error.retryable == Some(true)).then(|| Self {
            payment_refused: error.code == livecast_api::RelayErrorCode::TranscoderPaymentRejected,
            message: error.message.clone(),
        })
    }
}

/// A segment waiting for upload.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingSegment {
    /// Sequence number (the `{seq}` in the upload URL).
    pub seq: u64,
    /// MPEG-TS bytes.
    pub data: Vec<u8>,
    /// Duration, ms (sent as `Content-Duration`).
    pub duration_ms: u64,
    /// Wall-clock capture time of the first frame, ms since the epoch.
    pub capture_start_ms: f64,
}

/// Segments waiting for upload, at most `capacity`. When full, the oldest whole segment
/// is dropped to make room: a live stream prefers fresh video to a growing delay.
#[derive(Debug)]
pub struct UploadQueue {
    capacity: usize,
    items: VecDeque<PendingSegment>,
    dropped: u64,
}

impl UploadQueue {
    /// A queue holding at most `capacity` (≥ 1) segments.
    pub fn new(capacity: usize) -> Self {
        Self { capacity: capacity.max(1), items: VecDeque::new(), dropped: 0 }
    }

    /// Adds a segment; returns the sequence number of the segment dropped to make room.
    pub fn push(&mut self, segment: PendingSegment) -> Option<u64> {
        let dropped = if self.items.len() >= self.capacity {
            self.dropped += 1;
            self.items.pop_front().map(|s| s.seq)
        } else {
            None
        };
        self.items.push_back(segment);
        dropped
    }

    /// Takes the oldest segment for upload.
    pub fn pop(&mut self) -> Option<PendingSegment> {
        self.items.pop_front()
    }

    /// Segments waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Segments dropped so far because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Empties the queue (a stop that could not wait any longer); the sequence numbers of
    /// what was waiting, oldest first.
    pub fn abandon(&mut self) -> Vec<u64> {
        self.items.drain(..).map(|s| s.seq).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn node_failures_are_retryable_502s_and_payment_refusals_are_told_apart() {
        use super::NodeFailure;
        use livecast_api::{ErrorBody, RelayErrorCode as Code};
        let body = |code, retryable| ErrorBody::new(code, "m", retryable);
        let paid = body(Code::TranscoderPaymentRejected, Some(true));
        assert_eq!(NodeFailure::from_answer(Some(502), Some(&paid)), Some(NodeFailure { payment_refused: true, message: "m".into() }));
        let slow = body(Code::TranscoderTimeout, Some(true));
        assert_eq!(NodeFailure::from_answer(Some(502), Some(&slow)).map(|f| f.payment_refused), Some(false));
        // Every node would repeat it: not a node failure, the upload verdict decides.
        assert_eq!(NodeFailure::from_answer(Some(502), Some(&body(Code::RenditionInvalid, Some(false)))), None);
        assert_eq!(NodeFailure::from_answer(Some(502), None), None);
        assert_eq!(NodeFailure::from_answer(Some(409), Some(&paid)), None);
        assert_eq!(NodeFailure::from_answer(None, Some(&paid)), None);
    }

    use super::*;

    fn segment(seq: u64) -> PendingSegment {
        PendingSegment { seq, data: vec![seq as u8; 4], duration_ms: 2000, capture_start_ms: 0.0 }
    }

    #[test]
    fn abandon_empties_the_queue_oldest_first() {
        let mut q = UploadQueue::new(3);
        for seq in [4, 5, 6] {
            q.push(segment(seq));
        }
        assert_eq!(q.pop().map(|s| s.seq), Some(4));
        assert_eq!(q.abandon(), [5, 6]);
        assert!(q.is_empty());
        assert_eq!(q.abandon(), Vec::<u64>::new());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let p = UploadBackoff::default();
        assert_eq!(p.delay_ms(1, 0.0), 125.0);
        assert_eq!(p.delay_ms(1, 1.0), 250.0);
        assert_eq!(p.delay_ms(2, 0.5), 375.0);
        assert_eq!(p.delay_ms(3, 1.0), 1000.0);
        assert_eq!(p.delay_ms(20, 1.0), 8000.0);
        assert_eq!(p.delay_ms(u32::MAX, 0.0), 4000.0);
        assert_eq!(p.delay_ms(1, 7.0), 250.0, "random is clamped");
    }

    #[test]
    fn statuses_map_to_what_the_broadcaster_does() {
        use UploadVerdict::*;
        for (status, verdict) in [
            (None, Retry),
            (Some(200), Acknowledged),
            (Some(201), Acknowledged),
            (Some(401), BadStreamKey),
            (Some(404), BadStreamKey),
            (Some(409), SegmentRejected),
            (Some(413), SegmentRejected),
            (Some(415), SegmentRejected),
            (Some(400), SegmentRejected),
            (Some(429), Retry),
            (Some(500), Retry),
            (Some(503), Retry),
        ] {
            assert_eq!(UploadVerdict::from_status(status), verdict, "{status:?}");
        }
    }

    #[test]
    fn a_full_queue_drops_whole_segments_oldest_first() {
        let mut q = UploadQueue::new(3);
        for seq in 0..3 {
            assert_eq!(q.push(segment(seq)), None);
        }
        assert_eq!(q.push(segment(3)), Some(0));
        assert_eq!(q.push(segment(4)), Some(1));
        assert_eq!((q.len(), q.dropped()), (3, 2));
        let order: Vec<u64> = std::iter::from_fn(|| q.pop()).map(|s| s.seq).collect();
        assert_eq!(order, vec![2, 3, 4]);
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }
}

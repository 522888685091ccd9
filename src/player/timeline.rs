//! What was appended where: each buffered segment's place in the SourceBuffer (which runs
//! in `sequence` mode, so segments follow each other whatever their timestamps) with its
//! sequence number, level and date. It maps the playhead back to a segment for latency.

use std::collections::VecDeque;

/// One appended segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Media sequence number.
    pub sequence: u64,
    /// Level it came from.
    pub level: usize,
    /// Where it starts in the SourceBuffer, s.
    pub start: f64,
    /// Where it ends in the SourceBuffer, s.
    pub end: f64,
    /// Its EXT-X-PROGRAM-DATE-TIME, ms since the epoch.
    pub date_ms: Option<f64>,
}

/// The appended segments, oldest first, bounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timeline {
    entries: VecDeque<Entry>,
}

/// Entries kept (older ones are forgotten; their media has been evicted long before).
const MAX_ENTRIES: usize = 512;

impl Timeline {
    /// Records an append.
    pub fn push(&mut self, entry: Entry) {
        if self.entries.len() == MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(entry);
    }

    /// The segment playing at `position`: the latest appended that spans it (after a seek
    /// back, segments are not appended in time order), else the last one starting before it.
    pub fn at(&self, position: f64) -> Option<&Entry> {
        let starts = |e: &&Entry| e.start <= position + 0.01;
        self.entries.iter().rev().find(|e| starts(e) && position < e.end).or_else(|| self.entries.iter().rev().find(starts))
    }

    /// The latest appended segment ending within `tolerance` s of `t`.
    pub fn ending_at(&self, t: f64, tolerance: f64) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| (e.end - t).abs() <= tolerance)
    }

    /// The first appended segment numbered `sequence` or later.
    pub fn first_from(&self, sequence: u64) -> Option<&Entry> {
        self.entries.iter().find(|e| e.sequence >= sequence)
    }

    /// The last appended segment.
    pub fn last(&self) -> Option<&Entry> {
        self.entries.back()
    }

    /// Forgets everything (after a pipeline reset).
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was appended.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The appended segments, newest first.
    pub fn newest_first(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().rev()
    }

    /// Latency at `position` from the segment's date: `now_ms` minus the wall-clock time of
    /// the frame at the playhead, s. `None` without a dated segment there.
    pub fn dated_latency(&self, position: f64, now_ms: f64) -> Option<f64> {
        let e = self.at(position)?;
        let date = e.date_ms?;
        let offset = (position - e.start).clamp(0.0, (e.end - e.start).max(0.0));
        Some((now_ms - date) / 1000.0 - offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_positions_to_segments_and_dates_to_latency() {
        let mut t = Timeline::default();
        assert!(t.is_empty() && t.at(0.0).is_none());
        t.push(Entry { sequence: 5, level: 0, start: 0.0, end: 2.0, date_ms: Some(10_000.0) });
        t.push(Entry { sequence: 6, level: 1, start: 2.0, end: 4.0, date_ms: None });
        assert_eq!(t.at(1.0).map(|e| e.sequence), Some(5));
        assert_eq!(t.at(2.0).map(|e| e.sequence), Some(6));
        assert_eq!(t.dated_latency(1.5, 15_000.0), Some(3.5));
        assert_eq!(t.dated_latency(3.0, 15_000.0), None);
        assert_eq!(t.last().map(|e| e.level), Some(1));
        assert_eq!(t.first_from(6).map(|e| e.start), Some(2.0));
        assert!(t.first_from(7).is_none());
        // Appended out of time order (a seek back): the entry spanning the position wins.
        t.push(Entry { sequence: 1, level: 2, start: 0.5, end: 1.5, date_ms: None });
        assert_eq!(t.at(1.0).map(|e| e.sequence), Some(1));
        assert_eq!(t.at(3.0).map(|e| e.sequence), Some(6));
        assert_eq!(t.at(9.0).map(|e| e.sequence), Some(1), "past every entry: the last appended one starting before");
        assert_eq!(t.ending_at(4.05, 0.1).map(|e| e.sequence), Some(6));
        assert!(t.ending_at(3.0, 0.1).is_none());
        for i in 0..600 {
            t.push(Entry { sequence: i, level: 0, start: i as f64, end: i as f64 + 1.0, date_ms: None });
        }
        assert_eq!(t.len(), MAX_ENTRIES);
        t.clear();
        assert!(t.is_empty());
    }
}

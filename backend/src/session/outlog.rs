//! The bounded, offset-addressed log of a session's output.
//!
//! Every byte a session's terminal shows (remote output and local echo) gets an offset in one
//! stream that starts at 0. The log keeps the most recent `capacity` bytes; a client that
//! needs an offset the log has already dropped gets a screen snapshot instead.

use std::collections::VecDeque;

/// A bounded byte log addressed by stream offset. Plain data: no I/O, no clock.
#[derive(Debug)]
pub struct OutputLog {
    buf: VecDeque<u8>,
    /// Offset of `buf[0]`.
    start: u64,
    capacity: usize,
}

/// What [`OutputLog::read`] found at an offset.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Bytes starting at the offset (empty when the offset is the end).
    Bytes(Vec<u8>),
    /// The offset is older than anything the log still holds.
    Evicted,
    /// The offset is beyond the end of the stream.
    Future,
}

impl OutputLog {
    /// A log keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> OutputLog {
        OutputLog {
            buf: VecDeque::new(),
            start: 0,
            capacity: capacity.max(1),
        }
    }

    /// A log continuing a stream that another relay began: it holds `tail`, which starts at
    /// offset `start` (issue 15: an adopted or followed session keeps its offsets).
    pub fn starting_at(capacity: usize, start: u64, tail: &[u8]) -> OutputLog {
        let mut log = OutputLog::new(capacity);
        log.start = start;
        log.append(tail);
        log
    }

    /// Offset of the oldest byte still held.
    pub fn start(&self) -> u64 {
        self.start
    }

    /// Offset one past the newest byte.
    pub fn end(&self) -> u64 {
        self.start + self.buf.len() as u64
    }

    /// Appends bytes, dropping the oldest ones beyond the capacity.
    pub fn append(&mut self, data: &[u8]) {
        if data.len() >= self.capacity {
            let keep = &data[data.len() - self.capacity..];
            self.start = self.end() + (data.len() - self.capacity) as u64;
            self.buf.clear();
            self.buf.extend(keep);
        } else {
            let overflow = (self.buf.len() + data.len()).saturating_sub(self.capacity);
            if overflow > 0 {
                self.buf.drain(..overflow);
                self.start += overflow as u64;
            }
            self.buf.extend(data);
        }
        // Give memory back after a burst: an idle session should stay small.
        if self.buf.capacity() > 4 * self.buf.len().max(4096) {
            self.buf.shrink_to(self.buf.len().max(4096));
        }
    }

    /// Up to `max` bytes from `offset`.
    pub fn read(&self, offset: u64, max: usize) -> Read {
        if offset < self.start {
            return Read::Evicted;
        }
        if offset > self.end() {
            return Read::Future;
        }
        let from = (offset - self.start) as usize;
        let to = (from + max).min(self.buf.len());
        let (a, b) = self.buf.as_slices();
        let mut out = Vec::with_capacity(to - from);
        if from < a.len() {
            out.extend_from_slice(&a[from..to.min(a.len())]);
            if to > a.len() {
                out.extend_from_slice(&b[..to - a.len()]);
            }
        } else {
            out.extend_from_slice(&b[from - a.len()..to - a.len()]);
        }
        Read::Bytes(out)
    }

    /// Bytes held, for metrics.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_was_appended() {
        let mut log = OutputLog::new(10);
        log.append(b"hello");
        assert_eq!(log.read(0, 100), Read::Bytes(b"hello".to_vec()));
        assert_eq!(log.read(2, 2), Read::Bytes(b"ll".to_vec()));
        assert_eq!(log.read(5, 2), Read::Bytes(vec![]));
        assert_eq!(log.read(6, 2), Read::Future);
    }

    #[test]
    fn evicts_oldest_beyond_capacity() {
        let mut log = OutputLog::new(8);
        log.append(b"0123456");
        log.append(b"789ab");
        assert_eq!((log.start(), log.end()), (4, 12));
        assert_eq!(log.read(3, 10), Read::Evicted);
        assert_eq!(log.read(4, 100), Read::Bytes(b"456789ab".to_vec()));
        log.append(b"ABCDEFGHIJKLMNOP");
        assert_eq!((log.start(), log.end()), (20, 28));
        assert_eq!(log.read(20, 100), Read::Bytes(b"IJKLMNOP".to_vec()));
    }

    #[test]
    fn reads_across_the_ring_seam() {
        let mut log = OutputLog::new(6);
        for chunk in [&b"abcd"[..], b"ef", b"gh", b"ij"] {
            log.append(chunk);
        }
        assert_eq!(log.read(log.start(), 100), Read::Bytes(b"efghij".to_vec()));
        assert_eq!(log.read(5, 3), Read::Bytes(b"fgh".to_vec()));
    }

    #[test]
    fn every_offset_reads_the_same_byte_as_the_stream() {
        let mut log = OutputLog::new(1000);
        let mut stream = Vec::new();
        for i in 0..500u32 {
            let chunk: Vec<u8> = (0..(i % 37)).map(|j| (i * 7 + j) as u8).collect();
            stream.extend_from_slice(&chunk);
            log.append(&chunk);
            let start = log.start() as usize;
            if let Read::Bytes(b) = log.read(log.start(), usize::MAX / 2) {
                assert_eq!(b, &stream[start..]);
            } else {
                panic!("start must be readable");
            }
        }
    }
}

//! A command's pending output: bounded, ordered, and drained in envelope-sized batches.
//!
//! Plain data with no I/O: the pipe readers push into it, a Receive takes a batch out of it.

use std::collections::VecDeque;

/// The output streams of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Bytes a base64 encoding of `n` bytes takes.
pub(crate) fn base64_len(n: usize) -> usize {
    n.div_ceil(3) * 4
}

/// The largest number of raw bytes whose base64 fits in `room` bytes.
fn raw_fitting(room: usize) -> usize {
    room / 4 * 3
}

/// Output not yet handed to a client, plus the end-of-command facts.
#[derive(Debug, Default)]
pub(crate) struct Output {
    chunks: VecDeque<(Stream, Vec<u8>)>,
    buffered: usize,
    stdout_eof: bool,
    stderr_eof: bool,
    exit_code: Option<i32>,
    done_delivered: bool,
    /// The last response of a numbered Receive, kept until the next number acknowledges it.
    kept: Option<Kept>,
}

/// A batch of output and the end of the command, as one Receive response says them.
pub(crate) type Batch = (Vec<(Stream, Vec<u8>)>, Option<i32>);

/// The last response given to a Receive with a `SequenceId`.
#[derive(Debug, Clone)]
struct Kept {
    sequence: u64,
    batch: Batch,
}

/// What a Receive with a `SequenceId` asks for, given the response kept for the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sequencing {
    /// The number of the kept response: answer it again (the answer was lost).
    Repeat,
    /// The next number (or the first one): the kept response is acknowledged; take new output.
    Next,
    /// Neither: the client skipped or went back. `last` is the kept response's number.
    OutOfOrder {
        /// The number of the kept response.
        last: u64,
    },
}

impl Output {
    /// Appends bytes read from a pipe.
    pub(crate) fn push(&mut self, stream: Stream, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.buffered += data.len();
        match self.chunks.back_mut() {
            // Merging keeps the element count (and so the envelope overhead) low.
            Some((s, last)) if *s == stream && last.len() < 64 * 1024 => {
                last.extend_from_slice(data)
            }
            _ => self.chunks.push_back((stream, data.to_vec())),
        }
    }

    /// Bytes waiting to be received.
    pub(crate) fn buffered(&self) -> usize {
        self.buffered
    }

    /// A pipe reached end of file.
    pub(crate) fn close(&mut self, stream: Stream) {
        match stream {
            Stream::Stdout => self.stdout_eof = true,
            Stream::Stderr => self.stderr_eof = true,
        }
    }

    /// The process ended with `code`.
    pub(crate) fn set_exit(&mut self, code: i32) {
        self.exit_code = Some(code);
    }

    /// The process has exited and both pipes are closed: nothing more will arrive.
    pub(crate) fn finished(&self) -> bool {
        self.stdout_eof && self.stderr_eof && self.exit_code.is_some()
    }

    /// True when a Receive has something to say: bytes, or the end of the command.
    pub(crate) fn ready(&self) -> bool {
        self.buffered > 0 || self.finished()
    }

    /// Takes the oldest output whose stream elements fit in `room` bytes of envelope, each
    /// element costing `element_overhead` bytes plus the base64 of its bytes. Returns the
    /// batch in order and whether the command is over (everything taken, process gone); in
    /// that case the caller sends the end-of-streams and `Done`. Always makes progress when
    /// there are bytes and `room` holds an element with at least one byte.
    pub(crate) fn take_batch(
        &mut self,
        room: usize,
        element_overhead: usize,
    ) -> (Vec<(Stream, Vec<u8>)>, Option<i32>) {
        let mut batch: Vec<(Stream, Vec<u8>)> = Vec::new();
        let mut left = room;
        while let Some((stream, data)) = self.chunks.front_mut() {
            if left < element_overhead + 4 {
                break;
            }
            let n = raw_fitting(left - element_overhead).min(data.len());
            let stream = *stream;
            let partial = n < data.len();
            let taken: Vec<u8> = if partial {
                data.drain(..n).collect()
            } else {
                self.chunks.pop_front().expect("front exists").1
            };
            self.buffered -= taken.len();
            left -= element_overhead + base64_len(taken.len());
            batch.push((stream, taken));
            if partial {
                break;
            }
        }
        let done = if self.chunks.is_empty() && self.finished() {
            self.done_delivered = true;
            self.exit_code
        } else {
            None
        };
        (batch, done)
    }

    /// What a Receive numbered `sequence` asks for.
    pub(crate) fn sequencing(&self, sequence: u64) -> Sequencing {
        match &self.kept {
            None => Sequencing::Next,
            Some(k) if k.sequence == sequence => Sequencing::Repeat,
            Some(k) if k.sequence.checked_add(1) == Some(sequence) => Sequencing::Next,
            Some(k) => Sequencing::OutOfOrder { last: k.sequence },
        }
    }

    /// The answer to a Receive numbered `sequence`, in one step (no response can be lost
    /// between taking the output and keeping it): the kept response again if `sequence` is its
    /// number; otherwise a new batch (see [`Output::take_batch`]) kept under `sequence` in
    /// place of the acknowledged one. A batch with nothing to say is not kept. Out of order,
    /// the error is the kept response's number.
    pub(crate) fn take_sequenced(
        &mut self,
        sequence: u64,
        room: usize,
        element_overhead: usize,
    ) -> Result<Batch, u64> {
        match self.sequencing(sequence) {
            Sequencing::Repeat => Ok(self.kept.as_ref().expect("kept").batch.clone()),
            Sequencing::Next => {
                let batch = self.take_batch(room, element_overhead);
                if !batch.0.is_empty() || batch.1.is_some() {
                    self.kept = Some(Kept {
                        sequence,
                        batch: batch.clone(),
                    });
                }
                Ok(batch)
            }
            Sequencing::OutOfOrder { last } => Err(last),
        }
    }

    /// The end of the command has been sent to a client already.
    pub(crate) fn done_delivered(&self) -> bool {
        self.done_delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(batch: &[(Stream, Vec<u8>)], overhead: usize) -> usize {
        batch
            .iter()
            .map(|(_, d)| overhead + base64_len(d.len()))
            .sum()
    }

    #[test]
    fn batches_fit_the_room_and_keep_order() {
        let mut out = Output::default();
        let mut expected = Vec::new();
        for i in 0..1000u32 {
            let s = if i % 7 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            let data = format!("line {i}\n").into_bytes();
            out.push(s, &data);
            expected.push((s, data));
        }
        out.close(Stream::Stdout);
        out.close(Stream::Stderr);
        out.set_exit(3);
        let mut got: Vec<(Stream, Vec<u8>)> = Vec::new();
        loop {
            let (batch, done) = out.take_batch(1000, 90);
            assert!(cost(&batch, 90) <= 1000, "batch over budget");
            got.extend(batch);
            if let Some(code) = done {
                assert_eq!(code, 3);
                break;
            }
        }
        assert!(out.done_delivered());
        for s in [Stream::Stdout, Stream::Stderr] {
            let want: Vec<u8> = expected
                .iter()
                .filter(|c| c.0 == s)
                .flat_map(|c| c.1.clone())
                .collect();
            let have: Vec<u8> = got
                .iter()
                .filter(|c| c.0 == s)
                .flat_map(|c| c.1.clone())
                .collect();
            assert_eq!(want, have);
        }
        assert_eq!(out.buffered(), 0);
    }

    #[test]
    fn a_big_chunk_is_split() {
        let mut out = Output::default();
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        out.push(Stream::Stdout, &data);
        let (batch, done) = out.take_batch(10_000, 100);
        assert_eq!(done, None);
        assert_eq!(batch.len(), 1);
        assert!(cost(&batch, 100) <= 10_000);
        assert!(
            batch[0].1.len() > 7000,
            "room should be used: {}",
            batch[0].1.len()
        );
        assert_eq!(out.buffered(), 200_000 - batch[0].1.len());
    }

    #[test]
    fn not_done_until_pipes_close_and_process_exits() {
        let mut out = Output::default();
        assert!(!out.ready());
        out.set_exit(0);
        out.close(Stream::Stdout);
        assert!(!out.ready());
        out.close(Stream::Stderr);
        assert!(out.ready());
        let (batch, done) = out.take_batch(1000, 50);
        assert!(batch.is_empty());
        assert_eq!(done, Some(0));
    }

    fn with_output(data: &[u8]) -> Output {
        let mut out = Output::default();
        out.push(Stream::Stdout, data);
        out.push(Stream::Stderr, b"E");
        out
    }

    #[test]
    fn a_numbered_response_is_repeated_until_the_next_number_acknowledges_it() {
        let mut out = with_output(b"0123456789");
        assert_eq!(out.sequencing(5), Sequencing::Next, "any first number");
        let first = out.take_sequenced(5, 50 + 8, 50).unwrap();
        assert_eq!(first, (vec![(Stream::Stdout, b"012345".to_vec())], None));
        // More output arrives meanwhile: a repeat still says exactly what it said.
        out.push(Stream::Stdout, b"abc");
        assert_eq!(out.take_sequenced(5, 1000, 50).unwrap(), first);
        assert_eq!(out.take_sequenced(5, 1000, 50).unwrap(), first);
        // 6 acknowledges 5 and takes what follows it, once.
        let second = out.take_sequenced(6, 1000, 50).unwrap();
        assert_eq!(
            second,
            (
                vec![
                    (Stream::Stdout, b"6789".to_vec()),
                    (Stream::Stderr, b"E".to_vec()),
                    (Stream::Stdout, b"abc".to_vec()),
                ],
                None
            )
        );
        assert_eq!(out.sequencing(5), Sequencing::OutOfOrder { last: 6 });
        assert_eq!(out.sequencing(8), Sequencing::OutOfOrder { last: 6 });
        assert_eq!(out.take_sequenced(4, 1000, 50), Err(6));
        assert_eq!(out.take_sequenced(6, 1000, 50).unwrap(), second);
        // The end is kept and repeated like output.
        out.close(Stream::Stdout);
        out.close(Stream::Stderr);
        out.set_exit(2);
        let end = out.take_sequenced(7, 1000, 50).unwrap();
        assert_eq!(end, (vec![], Some(2)));
        assert_eq!(out.take_sequenced(7, 1000, 50).unwrap(), end);
        assert_eq!(out.take_sequenced(8, 1000, 50).unwrap(), end);
    }

    #[test]
    fn nothing_to_say_is_not_kept() {
        let mut out = Output::default();
        assert_eq!(out.take_sequenced(0, 1000, 50).unwrap(), (vec![], None));
        assert_eq!(out.sequencing(0), Sequencing::Next);
        out.push(Stream::Stdout, b"x");
        assert_eq!(out.take_sequenced(0, 10, 50).unwrap(), (vec![], None));
        assert_eq!(out.sequencing(0), Sequencing::Next);
        assert_eq!(
            out.take_sequenced(0, 1000, 50).unwrap(),
            (vec![(Stream::Stdout, b"x".to_vec())], None)
        );
        assert_eq!(out.sequencing(0), Sequencing::Repeat);
    }

    #[test]
    fn the_largest_number_has_no_next() {
        let mut out = with_output(b"x");
        out.take_sequenced(u64::MAX, 1000, 50).unwrap();
        assert_eq!(out.sequencing(u64::MAX), Sequencing::Repeat);
        assert_eq!(out.sequencing(0), Sequencing::OutOfOrder { last: u64::MAX });
    }

    #[test]
    fn tiny_room_takes_nothing() {
        let mut out = Output::default();
        out.push(Stream::Stdout, b"hello");
        let (batch, done) = out.take_batch(10, 50);
        assert!(batch.is_empty() && done.is_none());
        assert_eq!(out.buffered(), 5);
    }
}

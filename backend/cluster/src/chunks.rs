//! The output log's addressing, as plain code: a session's output is a byte stream; in Redis
//! it is a stream of chunks whose entry id is `OFFSET-1`, OFFSET being the chunk's first byte
//! in the session's output. Ids therefore grow with the output, a reader finds the chunk that
//! holds any offset with one range query, and a blocking read after offset `END` waits for
//! ids above `END-0`.

/// The stream entry id of a chunk starting at `offset`.
pub fn chunk_id(offset: u64) -> String {
    format!("{offset}-1")
}

/// The id a blocking read waits after to get the chunks from `offset` on: every chunk that
/// starts at `offset` or later has a greater id.
pub fn after_id(offset: u64) -> String {
    format!("{offset}-0")
}

/// The offset a chunk id names; `None` for an id this crate did not write.
pub fn chunk_offset(id: &str) -> Option<u64> {
    let (ms, seq) = id.split_once('-')?;
    if seq != "1" {
        return None;
    }
    ms.parse().ok()
}

/// A piece of the output read from the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Offset of `data`'s first byte.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
    /// First offset the log still holds.
    pub start: u64,
    /// End of the output so far.
    pub end: u64,
}

/// What a read from `from` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// Bytes from `from` on (empty when `from` is the end).
    Bytes(Slice),
    /// `from` is older than the log's start: the reader missed output and needs a snapshot.
    Gone {
        /// First offset the log holds.
        start: u64,
        /// End of the output so far.
        end: u64,
    },
    /// `from` lies beyond the end of the output: the reader is confused (or the log was lost).
    Ahead {
        /// End of the output so far.
        end: u64,
    },
}

/// Joins chunks (offset, bytes), in order, into the bytes from `from` on, at most `max`
/// bytes. The first chunk must hold `from` (or start there); a chunk that does not follow
/// the previous one ends the slice (the log was trimmed between two reads).
pub fn join(chunks: &[(u64, Vec<u8>)], from: u64, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut next = from;
    for (offset, data) in chunks {
        let end = offset + data.len() as u64;
        if end <= next {
            continue;
        }
        if *offset > next {
            break;
        }
        let skip = (next - offset) as usize;
        let room = max - out.len();
        let take = (data.len() - skip).min(room);
        out.extend_from_slice(&data[skip..skip + take]);
        next += take as u64;
        if out.len() == max {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_order_like_offsets() {
        assert_eq!(chunk_id(0), "0-1");
        assert_eq!(chunk_offset(&chunk_id(123_456)), Some(123_456));
        assert_eq!(chunk_offset("123-0"), None);
        assert_eq!(chunk_offset("x-1"), None);
        assert_eq!(chunk_offset("17"), None);
        // A read after `after_id(n)` gets the chunk that starts at n.
        assert!(("5", "0") < ("5", "1"));
        assert_eq!(after_id(5), "5-0");
    }

    #[test]
    fn join_slices_from_any_offset() {
        let chunks = vec![(10, b"hello".to_vec()), (15, b" world".to_vec())];
        assert_eq!(join(&chunks, 10, 100), b"hello world");
        assert_eq!(join(&chunks, 12, 100), b"llo world");
        assert_eq!(join(&chunks, 15, 100), b" world");
        assert_eq!(join(&chunks, 12, 4), b"llo ");
        assert_eq!(join(&chunks, 21, 100), b"");
        // A hole (trimmed between reads) ends the slice rather than gluing two pieces.
        let holed = vec![(10, b"ab".to_vec()), (20, b"cd".to_vec())];
        assert_eq!(join(&holed, 10, 100), b"ab");
    }
}

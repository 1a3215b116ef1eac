//! Fragments (MS-PSRP 2.2.4): how messages are cut to fit WS-Management envelopes and put
//! back together.
//!
//! A fragment is a 21-byte big-endian header (object id, fragment id, Start/End flags, blob
//! length) followed by that many bytes of one message. Several fragments, also of different
//! messages, may follow each other in one payload.

use std::collections::HashMap;

/// Size of a fragment header in bytes.
pub const HEADER_LEN: usize = 21;
/// Flag bit: first fragment of a message.
pub const FLAG_START: u8 = 0x01;
/// Flag bit: last fragment of a message.
pub const FLAG_END: u8 = 0x02;

/// Why fragment bytes could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FragmentError {
    /// The payload ends inside a fragment header or blob.
    #[error("truncated fragment: {needed} bytes needed, {available} available")]
    Truncated {
        /// Bytes the header said were there.
        needed: usize,
        /// Bytes actually left.
        available: usize,
    },
    /// Flag bits other than Start and End are set.
    #[error("fragment of object {object_id} has unknown flag bits {flags:#04x}")]
    BadFlags {
        /// The message's object id.
        object_id: u64,
        /// The flags byte.
        flags: u8,
    },
    /// A fragment came out of order, or a Start fragment for an object already in flight, or
    /// a continuation for an object that never started.
    #[error(
        "fragment {fragment_id} of object {object_id} is out of sequence (expected {expected})"
    )]
    OutOfSequence {
        /// The message's object id.
        object_id: u64,
        /// The fragment id received.
        fragment_id: u64,
        /// What was expected: the next fragment id, or "a Start fragment".
        expected: String,
    },
    /// A reassembled message would be larger than allowed.
    #[error("message {object_id} exceeds the maximum message size of {max} bytes")]
    MessageTooLarge {
        /// The message's object id.
        object_id: u64,
        /// The limit.
        max: usize,
    },
    /// Too many messages are partially received at the same time.
    #[error("more than {max} partially received messages at once")]
    TooManyInFlight {
        /// The limit.
        max: usize,
    },
}

/// One fragment, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Object id: the same for every fragment of one message.
    pub object_id: u64,
    /// 0, 1, 2, … within the message.
    pub fragment_id: u64,
    /// First fragment of the message.
    pub start: bool,
    /// Last fragment of the message.
    pub end: bool,
    /// This fragment's part of the message.
    pub blob: Vec<u8>,
}

impl Fragment {
    /// Appends the wire form (header + blob) to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.object_id.to_be_bytes());
        out.extend_from_slice(&self.fragment_id.to_be_bytes());
        let mut flags = 0;
        if self.start {
            flags |= FLAG_START;
        }
        if self.end {
            flags |= FLAG_END;
        }
        out.push(flags);
        let len = u32::try_from(self.blob.len()).expect("a fragment blob fits in u32");
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&self.blob);
    }

    /// The wire form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.blob.len());
        self.encode_into(&mut out);
        out
    }
}

/// Decodes every fragment of one payload (the bytes of one base64 element).
pub fn decode_all(mut data: &[u8]) -> Result<Vec<Fragment>, FragmentError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let (f, rest) = decode_one(data)?;
        out.push(f);
        data = rest;
    }
    Ok(out)
}

/// Decodes the first fragment of `data`, returning it and the bytes after it.
pub fn decode_one(data: &[u8]) -> Result<(Fragment, &[u8]), FragmentError> {
    if data.len() < HEADER_LEN {
        return Err(FragmentError::Truncated {
            needed: HEADER_LEN,
            available: data.len(),
        });
    }
    let object_id = u64::from_be_bytes(data[0..8].try_into().expect("8 bytes"));
    let fragment_id = u64::from_be_bytes(data[8..16].try_into().expect("8 bytes"));
    let flags = data[16];
    if flags & !(FLAG_START | FLAG_END) != 0 {
        return Err(FragmentError::BadFlags { object_id, flags });
    }
    let len = u32::from_be_bytes(data[17..21].try_into().expect("4 bytes")) as usize;
    let rest = &data[HEADER_LEN..];
    if rest.len() < len {
        return Err(FragmentError::Truncated {
            needed: len,
            available: rest.len(),
        });
    }
    Ok((
        Fragment {
            object_id,
            fragment_id,
            start: flags & FLAG_START != 0,
            end: flags & FLAG_END != 0,
            blob: rest[..len].to_vec(),
        },
        &rest[len..],
    ))
}

/// Splits one message into fragments whose wire size (header included) is at most
/// `max_fragment` bytes. An empty message still gets one (Start+End) fragment.
///
/// # Panics
/// If `max_fragment` leaves no room for data (≤ 21 bytes).
pub fn split(object_id: u64, message: &[u8], max_fragment: usize) -> Vec<Fragment> {
    assert!(
        max_fragment > HEADER_LEN,
        "a fragment needs more than {HEADER_LEN} bytes"
    );
    let room = max_fragment - HEADER_LEN;
    if message.is_empty() {
        return vec![Fragment {
            object_id,
            fragment_id: 0,
            start: true,
            end: true,
            blob: Vec::new(),
        }];
    }
    let count = message.len().div_ceil(room);
    message
        .chunks(room)
        .enumerate()
        .map(|(i, chunk)| Fragment {
            object_id,
            fragment_id: i as u64,
            start: i == 0,
            end: i + 1 == count,
            blob: chunk.to_vec(),
        })
        .collect()
}

/// Bytes of binary fragment payload that fit in one request of `max_envelope_size` bytes,
/// after `envelope_overhead` bytes of SOAP around it (measure it: an empty Send envelope with
/// the real header) and base64's 4/3 growth. The same rule pypsrp uses, with a 256-byte
/// margin.
pub fn payload_room(max_envelope_size: u32, envelope_overhead: usize) -> usize {
    let free = (max_envelope_size as usize).saturating_sub(envelope_overhead + 256);
    free * 3 / 4
}

/// Limits of a [`Defragmenter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefragLimits {
    /// Largest reassembled message accepted, in bytes. Windows refuses objects over 10 MiB
    /// by default; a console host needs far less.
    pub max_message: usize,
    /// Most messages partially received at once.
    pub max_in_flight: usize,
}

impl Default for DefragLimits {
    fn default() -> Self {
        DefragLimits {
            max_message: 16 * 1024 * 1024,
            max_in_flight: 64,
        }
    }
}

#[derive(Debug)]
struct Partial {
    next_fragment: u64,
    data: Vec<u8>,
}

/// Reassembles messages from fragments, in any interleaving of object ids.
///
/// Object ids are opaque keys, not a sequence: a server that was reconnected may deliver an
/// older id after newer ones. Within one object the fragment ids must rise by one from 0.
/// After an error the defragmenter is still usable, but the message it concerned is dropped;
/// MS-PSRP says the session (pool or pipeline) should then be closed.
#[derive(Debug, Default)]
pub struct Defragmenter {
    limits: DefragLimits,
    partial: HashMap<u64, Partial>,
    /// Bytes held in partial messages.
    held: usize,
}

impl Defragmenter {
    /// A defragmenter with the given limits.
    pub fn new(limits: DefragLimits) -> Self {
        Defragmenter {
            limits,
            partial: HashMap::new(),
            held: 0,
        }
    }

    /// Number of messages partially received.
    pub fn in_flight(&self) -> usize {
        self.partial.len()
    }

    /// Feeds one fragment; returns `(object id, whole message)` when it completed one.
    pub fn push(&mut self, f: Fragment) -> Result<Option<(u64, Vec<u8>)>, FragmentError> {
        let id = f.object_id;
        if f.start {
            if self.partial.contains_key(&id) {
                self.drop_partial(id);
                return Err(FragmentError::OutOfSequence {
                    object_id: id,
                    fragment_id: f.fragment_id,
                    expected: "a continuation (this object already started)".into(),
                });
            }
            if f.fragment_id != 0 {
                return Err(FragmentError::OutOfSequence {
                    object_id: id,
                    fragment_id: f.fragment_id,
                    expected: "0 for a Start fragment".into(),
                });
            }
            if f.blob.len() > self.limits.max_message {
                return Err(FragmentError::MessageTooLarge {
                    object_id: id,
                    max: self.limits.max_message,
                });
            }
            if f.end {
                return Ok(Some((id, f.blob)));
            }
            if self.partial.len() >= self.limits.max_in_flight {
                return Err(FragmentError::TooManyInFlight {
                    max: self.limits.max_in_flight,
                });
            }
            self.held += f.blob.len();
            self.partial.insert(
                id,
                Partial {
                    next_fragment: 1,
                    data: f.blob,
                },
            );
            return Ok(None);
        }
        let Some(p) = self.partial.get_mut(&id) else {
            return Err(FragmentError::OutOfSequence {
                object_id: id,
                fragment_id: f.fragment_id,
                expected: "a Start fragment".into(),
            });
        };
        if f.fragment_id != p.next_fragment {
            let expected = p.next_fragment.to_string();
            self.drop_partial(id);
            return Err(FragmentError::OutOfSequence {
                object_id: id,
                fragment_id: f.fragment_id,
                expected,
            });
        }
        if p.data.len() + f.blob.len() > self.limits.max_message {
            self.drop_partial(id);
            return Err(FragmentError::MessageTooLarge {
                object_id: id,
                max: self.limits.max_message,
            });
        }
        p.next_fragment += 1;
        p.data.extend_from_slice(&f.blob);
        self.held += f.blob.len();
        if f.end {
            let p = self.partial.remove(&id).expect("present");
            self.held -= p.data.len();
            return Ok(Some((id, p.data)));
        }
        Ok(None)
    }

    /// Decodes a payload and feeds every fragment in it; returns the messages it completed,
    /// in order.
    pub fn push_payload(&mut self, data: &[u8]) -> Result<Vec<(u64, Vec<u8>)>, FragmentError> {
        let mut done = Vec::new();
        let mut rest = data;
        while !rest.is_empty() {
            let (f, r) = decode_one(rest)?;
            rest = r;
            if let Some(m) = self.push(f)? {
                done.push(m);
            }
        }
        Ok(done)
    }

    /// Bytes currently held in partial messages.
    pub fn held_bytes(&self) -> usize {
        self.held
    }

    fn drop_partial(&mut self, id: u64) {
        if let Some(p) = self.partial.remove(&id) {
            self.held -= p.data.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    #[test]
    fn header_layout_matches_the_recording() {
        let f = Fragment {
            object_id: 1,
            fragment_id: 0,
            start: true,
            end: true,
            blob: vec![0xAA; 199],
        };
        let bytes = f.encode();
        assert_eq!(
            &bytes[..21],
            &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0xc7]
        );
        let (back, rest) = decode_one(&bytes).unwrap();
        assert_eq!(back, f);
        assert!(rest.is_empty());
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        assert!(matches!(
            decode_all(&[0; 20]),
            Err(FragmentError::Truncated { needed: 21, .. })
        ));
        let mut b = Fragment {
            object_id: 9,
            fragment_id: 0,
            start: true,
            end: true,
            blob: vec![1, 2, 3],
        }
        .encode();
        b.pop();
        assert!(matches!(
            decode_all(&b),
            Err(FragmentError::Truncated {
                needed: 3,
                available: 2
            })
        ));
        b.push(0);
        b[16] = 0x07;
        assert_eq!(
            decode_all(&b),
            Err(FragmentError::BadFlags {
                object_id: 9,
                flags: 7
            })
        );
        // Huge declared length: an error, no allocation.
        let mut h = vec![0u8; 21];
        h[16] = 3;
        h[17..21].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_all(&h),
            Err(FragmentError::Truncated { .. })
        ));
    }

    #[test]
    fn split_respects_the_size_and_flags() {
        let msg: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let frags = split(7, &msg, 121);
        assert_eq!(frags.len(), 10);
        assert!(frags.iter().all(|f| f.encode().len() <= 121));
        assert!(frags[0].start && !frags[0].end);
        assert!(frags[9].end && !frags[9].start);
        assert!(frags[1..9].iter().all(|f| !f.start && !f.end));
        let joined: Vec<u8> = frags.iter().flat_map(|f| f.blob.clone()).collect();
        assert_eq!(joined, msg);
        let one = split(1, &[], 100);
        assert_eq!(one.len(), 1);
        assert!(one[0].start && one[0].end && one[0].blob.is_empty());
        let exact = split(1, &[0; 79], 100);
        assert_eq!(exact.len(), 1);
        assert_eq!(split(1, &[0; 80], 100).len(), 2);
    }

    #[test]
    fn random_interleavings_reassemble() {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for round in 0..200 {
            let n_msgs = 1 + rng.below(8);
            let max_frag = HEADER_LEN + 1 + rng.below(64);
            let msgs: Vec<(u64, Vec<u8>)> = (0..n_msgs)
                .map(|i| {
                    let len = rng.below(400);
                    let id = 1000 * round + (i as u64) * 7 + 3;
                    (id, (0..len).map(|_| rng.next() as u8).collect())
                })
                .collect();
            // One queue of fragments per message; pick a random queue each time.
            let mut queues: Vec<std::collections::VecDeque<Fragment>> = msgs
                .iter()
                .map(|(id, m)| split(*id, m, max_frag).into())
                .collect();
            let mut payload = Vec::new();
            while queues.iter().any(|q| !q.is_empty()) {
                let live: Vec<usize> = (0..queues.len())
                    .filter(|&i| !queues[i].is_empty())
                    .collect();
                let q = live[rng.below(live.len())];
                queues[q].pop_front().unwrap().encode_into(&mut payload);
            }
            // Feed the payload cut at random points, as separate Receives would.
            let mut d = Defragmenter::new(DefragLimits::default());
            let mut got = Vec::new();
            let mut pos = 0;
            while pos < payload.len() {
                let (f, rest) = decode_one(&payload[pos..]).unwrap();
                pos = payload.len() - rest.len();
                if let Some(m) = d.push(f).unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(d.in_flight(), 0);
            assert_eq!(d.held_bytes(), 0);
            got.sort();
            let mut want = msgs.clone();
            want.sort();
            assert_eq!(got, want, "round {round}");
        }
    }

    #[test]
    fn sequence_errors() {
        let msg = vec![5u8; 50];
        let f = split(4, &msg, 31);
        let mut d = Defragmenter::default_limits();
        // continuation without a start
        assert!(matches!(
            d.push(f[1].clone()),
            Err(FragmentError::OutOfSequence { object_id: 4, .. })
        ));
        d.push(f[0].clone()).unwrap();
        // a gap
        assert!(matches!(
            d.push(f[2].clone()),
            Err(FragmentError::OutOfSequence { fragment_id: 2, .. })
        ));
        assert_eq!(d.in_flight(), 0, "the broken message is dropped");
        // a second Start for the same object
        d.push(f[0].clone()).unwrap();
        assert!(d.push(f[0].clone()).is_err());
        // a start fragment with a non-zero id
        let mut bad = f[0].clone();
        bad.fragment_id = 3;
        assert!(d.push(bad).is_err());
    }

    #[test]
    fn limits_hold() {
        let mut d = Defragmenter::new(DefragLimits {
            max_message: 100,
            max_in_flight: 2,
        });
        let big = split(1, &[0; 150], 61);
        d.push(big[0].clone()).unwrap();
        d.push(big[1].clone()).unwrap();
        assert_eq!(
            d.push(big[2].clone()),
            Err(FragmentError::MessageTooLarge {
                object_id: 1,
                max: 100
            })
        );
        assert_eq!(d.held_bytes(), 0);
        for id in 10..12 {
            d.push(split(id, &[0; 50], 41)[0].clone()).unwrap();
        }
        assert_eq!(
            d.push(split(12, &[0; 50], 41)[0].clone()),
            Err(FragmentError::TooManyInFlight { max: 2 })
        );
        // A single whole fragment over the limit.
        assert!(d.push(split(13, &[0; 101], 200)[0].clone()).is_err());
    }

    #[test]
    fn payload_room_follows_the_recorded_numbers() {
        // pypsrp with MaxEnvelopeSize 32768 sent a 23305-byte blob (23326 with its header).
        let room = payload_room(32768, 1_155);
        assert!(room >= 23_326, "{room}");
        assert!(room / 3 * 4 + 1_155 + 256 <= 32_768 + 4);
        assert_eq!(payload_room(100, 1000), 0);
    }

    impl Defragmenter {
        fn default_limits() -> Self {
            Defragmenter::new(DefragLimits::default())
        }
    }
}

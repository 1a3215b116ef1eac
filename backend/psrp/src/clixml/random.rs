//! Deterministic random CLIXML values, for round-trip tests, the psrpcore conformance test
//! and fuzz seeds. Not cryptographic: a SplitMix64 generator seeded by the caller.

use std::sync::Arc;

use super::{Collection, Object, Value};

/// SplitMix64: small, fast, deterministic.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Characters that exercise the encodings: XML specials, `_x` look-alikes, control
/// characters, non-ASCII, characters outside the BMP.
const PALETTE: &[&str] = &[
    "a",
    "Z",
    "0",
    " ",
    "_",
    "_x",
    "_x0041_",
    "_X",
    "x",
    "<",
    ">",
    "&",
    "\"",
    "'",
    "\n",
    "\r\n",
    "\t",
    "\u{1}",
    "\u{1f}",
    "\u{7f}",
    "\u{85}",
    "é",
    "こ",
    "\u{10437}",
    "\u{1F600}",
    "]]>",
    "&amp;",
    "\u{FFFD}",
];

/// A random string of up to `max` pieces from a palette of awkward characters.
pub fn string(rng: &mut SplitMix, max: usize) -> String {
    let n = rng.below(max + 1);
    (0..n).map(|_| PALETTE[rng.below(PALETTE.len())]).collect()
}

fn primitive(rng: &mut SplitMix) -> Value {
    match rng.below(21) {
        0 => Value::Nil,
        1 | 2 => Value::String(string(rng, 12)),
        3 => Value::Char(rng.next_u64() as u16 % 0xD000),
        4 => Value::Bool(rng.next_u64() & 1 == 1),
        5 => Value::U8(rng.next_u64() as u8),
        6 => Value::I8(rng.next_u64() as i8),
        7 => Value::U16(rng.next_u64() as u16),
        8 => Value::I16(rng.next_u64() as i16),
        9 => Value::U32(rng.next_u64() as u32),
        10 => Value::I32(rng.next_u64() as i32),
        11 => Value::U64(rng.next_u64()),
        12 => Value::I64(rng.next_u64() as i64),
        13 => {
            let v = (rng.next_u64() as i32) as f32 / 64.0;
            Value::Single(v)
        }
        14 => {
            let bits = rng.next_u64();
            let v = f64::from_bits(bits);
            Value::Double(if v.is_finite() {
                v
            } else {
                (bits >> 11) as f64 / 3.0
            })
        }
        15 => Value::Bytes((0..rng.below(20)).map(|_| rng.next_u64() as u8).collect()),
        16 => {
            let b = rng.next_u64().to_be_bytes();
            let c = rng.next_u64().to_be_bytes();
            let mut all = [0u8; 16];
            all[..8].copy_from_slice(&b);
            all[8..].copy_from_slice(&c);
            Value::Guid(
                crate::message::Guid::from_rfc_bytes(all)
                    .to_text()
                    .to_ascii_lowercase(),
            )
        }
        17 => Value::Version(format!(
            "{}.{}.{}",
            rng.below(10),
            rng.below(100),
            rng.below(1000)
        )),
        18 => Value::Uri(format!(
            "https://host{}/p?q={}",
            rng.below(9),
            rng.below(99)
        )),
        19 => Value::ScriptBlock(string(rng, 8)),
        _ => Value::SecureString(
            (0..16 * (1 + rng.below(3)))
                .map(|_| rng.next_u64() as u8)
                .collect(),
        ),
    }
}

/// A random value: primitives, and objects nested up to `depth` levels with type names,
/// ToString, properties, collections and shared references.
pub fn value(rng: &mut SplitMix, depth: usize) -> Value {
    let mut shared: Vec<Arc<Object>> = Vec::new();
    value_inner(rng, depth, &mut shared)
}

fn value_inner(rng: &mut SplitMix, depth: usize, shared: &mut Vec<Arc<Object>>) -> Value {
    if depth == 0 || rng.below(3) == 0 {
        return primitive(rng);
    }
    if !shared.is_empty() && rng.below(8) == 0 {
        return Value::Object(shared[rng.below(shared.len())].clone());
    }
    let mut o = Object::new();
    if rng.below(3) > 0 {
        let n = 1 + rng.below(3);
        let base = [
            "System.Object",
            "Deserialized.My.Type",
            "System.Collections.Hashtable",
        ];
        let mut names: Vec<String> = (0..n).map(|_| format!("T{}", rng.below(4))).collect();
        names.push(base[rng.below(base.len())].to_string());
        o.type_names = Some(names.into());
    }
    if rng.below(2) == 0 {
        o.to_string = Some(string(rng, 6));
    }
    match rng.below(4) {
        0 => o.value = Some(Box::new(primitive(rng))),
        1 => {
            let items = (0..rng.below(4))
                .map(|_| value_inner(rng, depth - 1, shared))
                .collect();
            o.collection = Some(match rng.below(4) {
                0 => Collection::List(items),
                1 => Collection::Enumerable(items),
                2 => Collection::Stack(items),
                _ => Collection::Queue(items),
            });
        }
        2 => {
            let entries = (0..rng.below(4))
                .map(|i| {
                    (
                        Value::String(format!("k{i}{}", string(rng, 2))),
                        value_inner(rng, depth - 1, shared),
                    )
                })
                .collect();
            o.collection = Some(Collection::Dictionary(entries));
        }
        _ => {}
    }
    for _ in 0..rng.below(4) {
        let name = format!("p{}", string(rng, 3));
        let v = value_inner(rng, depth - 1, shared);
        if rng.below(2) == 0 {
            o.adapted.push((name, v));
        } else {
            o.extended.push((name, v));
        }
    }
    let rc = Arc::new(o);
    shared.push(rc.clone());
    Value::Object(rc)
}

/// A random value within what psrpcore (the Python oracle of the conformance test) reads
/// and writes back unchanged, so that its re-serialization can be compared with ours: no
/// DateTime/TimeSpan/Decimal (Python's types round them), no SecureString (needs a key),
/// Booleans and Nil only inside objects, type names psrpcore does not know (it prefixes them
/// with `Deserialized.`) on every object except those wrapping a bare string or number (it
/// drops their type names and ToString, and writes them bare if they have no properties), no
/// ToString on collections or empty ToString (psrpcore drops those), ToString without
/// characters that need escapes (psrpcore writes it unescaped), no shared objects (psrpcore
/// reads `Ref`s but its writer can emit references to the wrong object), string dictionary
/// keys.
pub fn oracle_value(rng: &mut SplitMix, depth: usize) -> Value {
    oracle_inner(rng, depth, true)
}

fn oracle_primitive(rng: &mut SplitMix, top: bool) -> Value {
    loop {
        let v = primitive(rng);
        match v {
            Value::SecureString(_) => continue,
            Value::Nil | Value::Bool(_) if top => continue,
            Value::Char(c) if (0xD800..0xE000).contains(&c) => continue,
            _ => return v,
        }
    }
}

fn oracle_inner(rng: &mut SplitMix, depth: usize, top: bool) -> Value {
    if depth == 0 || rng.below(3) == 0 {
        return oracle_primitive(rng, top);
    }
    let mut o = Object::new();
    let types: Arc<[String]> =
        vec![format!("My.Type{}", rng.below(4)), "System.Object".into()].into();
    match rng.below(4) {
        0 => {
            // Distinct values: psrpcore finds references by Python object identity, and
            // equal small strings share one.
            o.value = Some(Box::new(if rng.below(2) == 0 {
                Value::String(format!("w{}{}", rng.next_u64(), string(rng, 6)))
            } else {
                Value::I32(rng.next_u64() as i32)
            }))
        }
        1 => {
            let items = (0..rng.below(4))
                .map(|_| oracle_inner(rng, depth - 1, false))
                .collect();
            o.type_names = Some(types);
            o.collection = Some(match rng.below(4) {
                0 => Collection::List(items),
                1 => Collection::Enumerable(items),
                2 => Collection::Stack(items),
                _ => Collection::Queue(items),
            });
        }
        2 => {
            let entries = (0..rng.below(4))
                .map(|i| {
                    (
                        Value::String(format!("k{i}{}", string(rng, 2))),
                        oracle_inner(rng, depth - 1, false),
                    )
                })
                .collect();
            o.type_names = Some(types);
            o.collection = Some(Collection::Dictionary(entries));
        }
        _ => {
            o.type_names = Some(types);
            if rng.below(2) == 0 {
                // psrpcore writes ToString without the _x escapes (CR and _x do not survive).
                o.to_string = Some(format!("t{}", rng.next_u64() % 1000));
            }
        }
    }
    // psrpcore writes a wrapped value without properties as the bare value.
    let min_props = usize::from(o.value.is_some());
    for i in 0..rng.below(4).max(min_props) {
        // Property names are unique per object in .NET (and in psrpcore).
        let name = format!("p{i}{}", string(rng, 3));
        let v = oracle_inner(rng, depth - 1, false);
        if rng.below(2) == 0 {
            o.adapted.push((name, v));
        } else {
            o.extended.push((name, v));
        }
    }
    Value::Object(Arc::new(o))
}

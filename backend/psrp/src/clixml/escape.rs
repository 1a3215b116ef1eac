//! The `_xHHHH_` string encoding of MS-PSRP 2.2.5.3.2.
//!
//! Control characters, characters XML cannot carry and each half of a surrogate pair travel
//! as `_x` + four hex digits of a UTF-16 unit + `_`; an underscore that would read as the
//! start of such an escape is itself escaped (`_x005F_`).

/// Appends `s` encoded with `_xHHHH_` escapes (not yet XML-escaped) to `out`.
pub fn encode_into(s: &str, out: &mut String) {
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let u = c as u32;
        if c == '_' && matches!(chars.peek(), Some('x' | 'X')) {
            out.push_str("_x005F_");
        } else if u < 0x20 || (0x7F..=0x9F).contains(&u) || u == 0xFFFE || u == 0xFFFF {
            push_unit(out, u as u16);
        } else if u > 0xFFFF {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                push_unit(out, *unit);
            }
        } else {
            out.push(c);
        }
    }
}

/// `s` encoded with `_xHHHH_` escapes.
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(s, &mut out);
    out
}

fn push_unit(out: &mut String, u: u16) {
    use std::fmt::Write as _;
    let _ = write!(out, "_x{u:04X}_");
}

fn escape_at(b: &[u8], i: usize) -> Option<u16> {
    let e = b.get(i..i + 7)?;
    if e[0] != b'_' || e[1] != b'x' || e[6] != b'_' {
        return None;
    }
    let hex = std::str::from_utf8(&e[2..6]).ok()?;
    if !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(hex, 16).ok()
}

/// Decodes `_xHHHH_` escapes (hex in either case). A surrogate half without its partner
/// cannot live in a Rust string and becomes U+FFFD.
pub fn decode(s: &str) -> String {
    if !s.contains("_x") {
        return s.to_string();
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut plain_start = 0;
    while i < b.len() {
        let Some(unit) = escape_at(b, i) else {
            i += 1;
            continue;
        };
        out.push_str(&s[plain_start..i]);
        i += 7;
        if (0xD800..0xDC00).contains(&unit) {
            if let Some(low) = escape_at(b, i).filter(|l| (0xDC00..0xE000).contains(l)) {
                let c = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
                out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                i += 7;
            } else {
                out.push('\u{FFFD}');
            }
        } else {
            out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{FFFD}'));
        }
        plain_start = i;
    }
    out.push_str(&s[plain_start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_forms() {
        assert_eq!(encode("a\r\nb\tc"), "a_x000D__x000A_b_x0009_c");
        assert_eq!(encode("actual_x000A_string"), "actual_x005F_x000A_string");
        assert_eq!(decode("actual_x005F_x000A_string"), "actual_x000A_string");
        assert_eq!(encode("\u{10437}"), "_xD801__xDC37_");
        assert_eq!(decode("_xD801__xDC37_"), "\u{10437}");
        assert_eq!(encode("こんにちは"), "こんにちは");
    }

    #[test]
    fn edge_cases() {
        // Lower-case hex, an escape at the very end, an unfinished one.
        assert_eq!(decode("_x000a_"), "\n");
        assert_eq!(decode("x_x0041_"), "xA");
        assert_eq!(decode("_x004"), "_x004");
        assert_eq!(decode("_x004G_"), "_x004G_");
        assert_eq!(
            decode("_X0041_"),
            "_X0041_",
            "only a lower-case x starts an escape"
        );
        // Lone surrogates cannot be represented: replaced.
        assert_eq!(decode("a_xD800_b"), "a\u{FFFD}b");
        assert_eq!(decode("_xDC00_"), "\u{FFFD}");
        assert_eq!(decode("_xD800__x0041_"), "\u{FFFD}A");
        // Underscores that do not start an escape stay as they are.
        assert_eq!(encode("a_b __"), "a_b __");
        assert_eq!(encode("_X"), "_x005F_X");
        assert_eq!(
            encode("\u{0}\u{7f}\u{9f}\u{a0}\u{fffe}"),
            "_x0000__x007F__x009F_\u{a0}_xFFFE_"
        );
        assert_eq!(decode("_x005F_"), "_");
    }

    #[test]
    fn round_trips() {
        let samples = [
            "",
            "_",
            "_x",
            "__x__x0041_",
            "_x005F_x",
            "\u{1F600} emoji \u{10FFFF}",
            "mixed _xZZZZ_ \u{1}\u{2}",
            "tab\tnew\nline\r",
        ];
        for s in samples {
            assert_eq!(decode(&encode(s)), s, "{s:?}");
        }
    }
}

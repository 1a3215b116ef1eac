//! The CLIXML parser on any bytes: an error or a value, never a panic, bounded memory; and
//! what it accepted, the writer writes so that reading it again gives the same text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use psrp::clixml::{self, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_input: 256 * 1024,
        max_depth: 64,
        max_elements: 20_000,
        max_expanded: 200_000,
    };
    if let Ok(v) = clixml::parse_with(data, &limits) {
        let once = clixml::write(&v);
        let back = clixml::parse(once.as_bytes()).expect("our own output parses");
        assert_eq!(clixml::write(&back), once, "write(parse(write(v))) == write(v)");
    }
    let _ = clixml::parse_objs(data, &limits);
});

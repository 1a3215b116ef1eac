//! The simulator's request parser: any bytes a client could POST. A request that parses must
//! survive being written by the client side and parsed again with the same meaning.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = wsman::server::parse_request(data) {
        let again = wsman::client::write_request(&req);
        let back = wsman::server::parse_request(again.as_bytes())
            .expect("a request the parser accepted must parse again after writing");
        assert_eq!(back.header.action, req.header.action);
        assert_eq!(back.body, req.body, "writing and parsing keep the body");
    }
});

//! The WebSocket message decoders: client text frames (JSON) and relay binary frames.
#![no_main]

use libfuzzer_sys::fuzz_target;
use winrelay_shared::protocol::{ClientMsg, OutputFrame, FRAME_HEADER};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(msg) = ClientMsg::from_json(text) {
            // What the relay accepted, it can write back, and the result means the same.
            let again = ClientMsg::from_json(&msg.to_json()).expect("round trip");
            assert_eq!(again, msg);
        }
    }
    match OutputFrame::decode(data) {
        Some(frame) => {
            assert_eq!(frame.data.len() + FRAME_HEADER, data.len());
            assert_eq!(frame.encode(), data, "decode and encode are inverse");
        }
        None => assert!(data.len() < FRAME_HEADER || data[0] > 1),
    }
});

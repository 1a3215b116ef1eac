//! PSRP bytes as they come out of a Receive (or into a server from a Send): fragments
//! reassembled, messages decoded, typed data read, and the same payload fed to both pool
//! state machines. Nothing may panic, and the defragmenter must stay within its limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use psrp::fragment::{decode_one, DefragLimits, Defragmenter};
use psrp::message::Message;
use psrp::pool::{ClientPool, ServerPool};

fuzz_target!(|data: &[u8]| {
    let limits = DefragLimits {
        max_message: 64 * 1024,
        max_in_flight: 8,
    };
    let mut d = Defragmenter::new(limits);
    let mut rest = data;
    while !rest.is_empty() {
        let Ok((f, r)) = decode_one(rest) else { break };
        rest = r;
        if let Ok(Some((_, bytes))) = d.push(f) {
            assert!(bytes.len() <= limits.max_message);
            if let Ok(msg) = Message::decode(&bytes) {
                let _ = psrp::messages::decode(msg.message_type, &msg.data);
            }
        }
        assert!(d.in_flight() <= limits.max_in_flight);
        assert!(d.held_bytes() <= limits.max_in_flight * limits.max_message);
    }
    let mut server = ServerPool::new();
    let _ = server.receive(data);
    let mut client = ClientPool::new(psrp::message::Guid::NIL, 512_000);
    let _ = client.receive(data);
});

//! The WinRM response parser, as the client meets it: any bytes a server could send, parsed
//! as the answer to each of the six operations. It must return (a response, a fault or a
//! parse error), never panic, and never take more than a bounded amount of memory.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsman::Action;

const ACTIONS: [Action; 6] = [
    Action::Create,
    Action::Command,
    Action::Send,
    Action::Receive,
    Action::Signal,
    Action::Delete,
];

fuzz_target!(|data: &[u8]| {
    let Some((&first, xml)) = data.split_first() else {
        return;
    };
    let action = ACTIONS[usize::from(first) % ACTIONS.len()];
    if let Ok(Ok(resp)) = wsman::client::parse_response(action, xml) {
        assert_eq!(resp.action, action, "a response answers the action asked");
    }
});

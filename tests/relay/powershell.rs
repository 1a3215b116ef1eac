//! `powershell` targets: the relay as the PowerShell console host over PSRP (`demo-ps`,
//! the built-in simulator's endpoint), seen through the WebSocket protocol.

use super::common::*;
use winrelay_shared::protocol::{ServerMsg, SessionState};

const MARK_A: &str = "\x1b]133;A\x07";
const MARK_B: &str = "\x1b]133;B\x07";
const MARK_C: &str = "\x1b]133;C\x07";

#[tokio::test]
async fn a_prompt_a_line_and_marks_with_the_exit_status() {
    let relay = Relay::demo();
    let user = relay.sign_in().await;
    let s = user.create_session("demo-ps").await;
    assert_eq!(s.state, SessionState::Connected);
    let mut c = user.attach(&s.id, None).await;
    c.welcome().await;
    c.wait_for(&format!("> {MARK_B}"), T).await;
    // The remote `prompt` function's answer, between the marks.
    let text = c.text();
    assert!(text.starts_with(&format!("{MARK_A}PS ")), "{text:?}");
    let prompt = text[MARK_A.len()..text.len() - MARK_B.len()].to_string();
    c.input("Write-Output x\r").await;
    c.wait_for(&format!("{MARK_C}x\r\n"), T).await;
    c.wait_for(&format!("\x1b]133;D;0\x07{MARK_A}{prompt}{MARK_B}"), T)
        .await;
    // A failing command: the mark says so.
    c.input("Write-Error boom\r").await;
    c.wait_for("boom", T).await;
    c.wait_for("\x1b]133;D;1\x07", T).await;
    // exit N ends the session with N.
    c.input("exit 3\r").await;
    let state = c
        .wait_msg(T, |m| {
            matches!(
                m,
                ServerMsg::Status {
                    state: SessionState::Exited { .. }
                }
            )
        })
        .await;
    assert!(
        matches!(
            state,
            ServerMsg::Status {
                state: SessionState::Exited { code: 3, .. }
            }
        ),
        "{state:?}"
    );
}

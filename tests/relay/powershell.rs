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
    c.wait_for_raw(&format!("> {MARK_B}"), T).await;
    // The remote `prompt` function's answer, between the marks.
    let text = c.raw_text();
    assert!(text.starts_with(&format!("{MARK_A}PS ")), "{text:?}");
    let prompt = text[MARK_A.len()..text.len() - MARK_B.len()].to_string();
    c.input("Write-Output x\r").await;
    c.wait_for_raw(&format!("{MARK_C}x\r\n"), T).await;
    c.wait_for_raw(&format!("\x1b]133;D;0\x07{MARK_A}{prompt}{MARK_B}"), T)
        .await;
    // A failing command: the mark says so.
    c.input("Write-Error boom\r").await;
    c.wait_for("boom", T).await;
    c.wait_for_raw("\x1b]133;D;1\x07", T).await;
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

async fn console(relay: &Relay) -> (User, String, Client) {
    let user = relay.sign_in().await;
    let s = user.create_session("demo-ps").await;
    let mut c = user.attach(&s.id, None).await;
    c.welcome().await;
    c.wait_for_raw(&format!("> {MARK_B}"), T).await;
    (user, s.id, c)
}

#[tokio::test]
async fn tab_completes_through_tabexpansion2_and_cycles() {
    let relay = Relay::demo();
    let (_u, _id, mut c) = console(&relay).await;
    c.input("Get-ChildI\t").await;
    c.wait_for("Get-ChildItem", T).await;
    // Cycling needs several matches: `Write-` has many; Tab, Tab, Shift+Tab.
    c.input("\x15Write-\t").await;
    c.wait_for("Write-Debug", T).await;
    c.input("\t").await;
    c.wait_for("Write-Error", T).await;
    c.input("\x1b[Z").await;
    c.drain(std::time::Duration::from_millis(200)).await;
    // Ctrl+Space lists every match under the line.
    c.input("\x15Write-\x00").await;
    c.wait_for("Write-Warning", T).await;
    assert!(c.text().contains("Write-Progress"));
    // Enter runs what the line shows: Write-Debug with no message prints nothing bad.
    c.input("\x15Get-Date | Out-Null\r").await;
    c.wait_for_raw("\x1b]133;D;0\x07", T).await;
}

#[tokio::test]
async fn ctrl_c_stops_a_running_pipeline_and_the_prompt_returns() {
    let relay = Relay::demo();
    let (_u, _id, mut c) = console(&relay).await;
    c.input("Start-Sleep 100\r").await;
    c.wait_for("Start-Sleep 100\r\n", T).await;
    c.drain(std::time::Duration::from_millis(300)).await;
    c.input("\x03").await;
    c.wait_for_raw(&format!("^C\r\n{MARK_C}\x1b]133;D;130\x07"), T)
        .await;
    c.wait_for_raw(MARK_B, T).await;
}

#[tokio::test]
async fn progress_is_a_line_updated_in_place_and_gone_at_the_end() {
    let relay = Relay::demo();
    let (_u, _id, mut c) = console(&relay).await;
    c.input("Write-Progress -Activity Copying -Status Half -PercentComplete 50; Write-Output between; Write-Progress -Activity Copying -Completed; Write-Output after\r").await;
    c.wait_for("after", T).await;
    c.wait_for_raw("\x1b]133;D;0\x07", T).await;
    let text = c.text();
    assert!(text.contains("Copying: Half"), "{text:?}");
    assert!(text.contains("50%"), "{text:?}");
    // The progress line is erased before the output below it and at the end.
    assert!(text.contains("\r\x1b[Kbetween"), "{text:?}");
}

#[tokio::test]
async fn an_unfinished_block_continues_with_the_continuation_prompt_then_runs() {
    let relay = Relay::demo();
    let (_u, _id, mut c) = console(&relay).await;
    c.input("function Greet {\r").await;
    c.wait_for("\r\n>> ", T).await;
    c.input("Write-Output \"hello from a block\"\r").await;
    c.wait_for("\"hello from a block\"\r\n>> ", T).await;
    c.input("}\r").await;
    c.wait_for_raw("\x1b]133;D;0\x07", T).await;
    c.input("Greet\r").await;
    c.wait_for_raw(&format!("Greet\r\n{MARK_C}hello from a block\r\n"), T)
        .await;
    // A parse error that more input cannot fix is printed, not continued.
    c.input("}\r").await;
    c.wait_for_raw("\x1b]133;D;1\x07", T).await;
    assert!(c.text().contains("Unexpected token '}'"));
}

#[tokio::test]
async fn clear_host_clears_the_screen() {
    let relay = Relay::demo();
    let (_u, _id, mut c) = console(&relay).await;
    c.input("Write-Output before; Clear-Host; Write-Output after\r")
        .await;
    c.wait_for("before\r\n\x1b[H\x1b[2Jafter\r\n", T).await;
}

#[tokio::test]
async fn typed_lines_go_into_the_remote_history() {
    let relay = Relay::demo();
    let (_u, _id, mut c) = console(&relay).await;
    c.input("Write-Output first-line\r").await;
    c.wait_for("\r\nfirst-line\r\n", T).await;
    c.input("Get-History\r").await;
    // The prompt and completion pipelines stay out of it.
    c.wait_for(
        "  Id CommandLine\r\n  -- -----------\r\n   1 Write-Output first-line\r\n\r\n",
        T,
    )
    .await;
}

//! The task that owns one session's remote shell: opens it, feeds it input and signals,
//! turns its output into the session's, and deletes it at the end, whatever the end is.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tracing::{info, warn};
use winrelay_shared::api::FailureCode;
use winrelay_shared::protocol::SessionState;

use super::remote::{Connect, Output, RemoteShell, ShellInput};
use super::{DriverChannels, Session, ShellCmd};

/// Resolves once the session is asked to end.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Drives `session` until its shell ends; the shell is deleted before this returns.
pub(crate) async fn drive<C: Connect>(session: Arc<Session>, connector: C, ch: DriverChannels) {
    let DriverChannels {
        mut input_rx,
        mut signal_rx,
        mut stop_rx,
    } = ch;
    let started = Instant::now();
    let opened = tokio::select! {
        r = connector.open() => r,
        _ = stopped(&mut stop_rx) => {
            session.set_state(SessionState::Failed {
                code: FailureCode::Ended,
                message: "ended before the shell opened".into(),
                fingerprints: None,
            });
            return;
        }
    };
    let mut shell = match opened {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, code = %e.code, "could not open the shell");
            session.observers().iter().for_each(|o| o.fault());
            session.notice(&e.message);
            session.set_state(SessionState::Failed {
                code: e.code,
                message: e.message,
                fingerprints: e.fingerprints,
            });
            return;
        }
    };
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "shell open"
    );
    session
        .observers()
        .iter()
        .for_each(|o| o.opened(started.elapsed()));
    session.set_state(SessionState::Connected);
    let input = shell.input();

    // Input goes through its own task, in order, so a long Send never delays output.
    let input_task = {
        let input = input.clone();
        let session = session.clone();
        tokio::spawn(async move {
            while let Some(cmd) = input_rx.recv().await {
                let result = match &cmd {
                    ShellCmd::Line(bytes) => {
                        let r = input.send(bytes).await;
                        session.delivered(bytes.len());
                        r
                    }
                    ShellCmd::Eof => input.close_stdin().await,
                };
                if let Err(e) = result {
                    warn!(error = %e, "input not delivered");
                    session.notice(&format!("input not delivered: {e}"));
                    if e.is_gone() {
                        break;
                    }
                }
            }
        })
    };

    let end_state = loop {
        tokio::select! {
            out = shell.recv() => match out {
                Some(Ok(Output::Bytes(b))) => session.remote_output(&b),
                Some(Ok(Output::Exited(code))) => break SessionState::Exited { code },
                Some(Err(e)) => {
                    warn!(error = %e, "lost the shell");
                    session.observers().iter().for_each(|o| o.fault());
                    let message = if e.is_gone() {
                        format!("the shell is gone (the container restarted or its idle timeout hit): {e}")
                    } else {
                        e.message
                    };
                    session.notice(&message);
                    break SessionState::TargetLost { code: e.code, message };
                }
                None => break SessionState::TargetLost {
                    code: FailureCode::ShellGone,
                    message: "the target stopped sending output".into(),
                },
            },
            Some(sig) = signal_rx.recv() => {
                if let Err(e) = input.signal(sig).await {
                    session.notice(&format!("signal not delivered: {e}"));
                }
            }
            _ = stopped(&mut stop_rx) => {
                let _ = input.terminate().await;
                break SessionState::Exited { code: -1 };
            }
        }
    };
    input_task.abort();
    if let SessionState::Exited { code } = &end_state {
        session.notice(&format!("the shell ended (exit code {code})"));
    }
    session.set_state(end_state);
    if let Err(e) = shell.close().await {
        warn!(error = %e, "could not delete the shell");
    }
}

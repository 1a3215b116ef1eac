//! The task that owns one session's remote shell: opens it, feeds it input and signals,
//! turns its output into the session's, and deletes it at the end, whatever the end is.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tracing::{info, warn};
use winrelay_shared::api::FailureCode;
use winrelay_shared::protocol::SessionState;

use super::remote::{Connect, Output, RemoteShell, ShellError, ShellInput};
use super::{DriverChannels, Session, ShellCmd};

/// Closes the session's inboxes when the driver ends.
struct CloseInboxes<'a>(&'a Session);

impl Drop for CloseInboxes<'_> {
    fn drop(&mut self) {
        self.0.input.close();
        self.0.signals.close();
    }
}

/// Resolves once the session is asked to end.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Drives `session` until its shell ends; the shell is deleted before this returns, unless
/// the session was handed to another relay. `resume`: continue a shell another relay
/// opened, from its checkpoint, instead of opening one.
///
/// The connector is needed only to open the shell: it lives in the boxed opening future,
/// freed once the shell is open, not in the task that runs for the session's whole life
/// (issue 18: memory per idle session). Call this outside the task's future and await the
/// result inside, so that the connector is not captured there either.
pub(crate) fn drive<C: Connect>(
    session: Arc<Session>,
    connector: C,
    ch: DriverChannels,
    resume: Option<String>,
) -> impl Future<Output = ()> {
    let opening = Box::pin(async move {
        match &resume {
            Some(r) => connector.resume(r).await,
            None => connector.open().await,
        }
    });
    run(session, opening, ch)
}

async fn run<S: RemoteShell>(
    session: Arc<Session>,
    opening: Pin<Box<impl Future<Output = Result<S, ShellError>>>>,
    ch: DriverChannels,
) {
    let DriverChannels { mut stop_rx } = ch;
    // Whichever way this ends, nothing more is queued for a shell that is no longer driven.
    let _close = CloseInboxes(&session);
    let started = Instant::now();
    // The futures of one-off steps (a signal, the end) are boxed too: an inline future would
    // keep the largest step's state for as long as the session runs.
    let opened = tokio::select! {
        r = opening => r,
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
            loop {
                let cmd = session.input.pop().await;
                let result = match &cmd {
                    ShellCmd::Line(bytes) => {
                        let r = Box::pin(input.send(bytes)).await;
                        session.delivered(bytes.len());
                        r
                    }
                    ShellCmd::Eof => Box::pin(input.close_stdin()).await,
                    ShellCmd::Complete(req) => Box::pin(input.complete(req.clone())).await,
                    ShellCmd::Resize(cols, rows) => Box::pin(input.resize(*cols, *rows)).await,
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
                Some(Ok(Output::Exited(code))) => break SessionState::Exited { code, reason: None },
                Some(Ok(Output::HideNextLine(why))) => session.hide_from_shell(why),
                Some(Ok(Output::Completion { id, answer })) => session.completion(id, answer),
                Some(Ok(Output::Checkpoint(cp))) => session.checkpoint(cp),
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
            sig = session.signals.pop() => {
                if let Err(e) = Box::pin(input.signal(sig)).await {
                    session.notice(&format!("signal not delivered: {e}"));
                }
            }
            _ = stopped(&mut stop_rx) => {
                if session.is_handed_over() {
                    input_task.abort();
                    info!("handed over: the shell stays for the next owner");
                    Box::pin(shell.forget()).await;
                    session.observers().iter().for_each(|o| o.handed_over());
                    return;
                }
                let _ = Box::pin(input.terminate()).await;
                break session.take_end_state().unwrap_or(SessionState::Exited {
                    code: -1,
                    reason: session.end_reason(),
                });
            }
        }
    };
    input_task.abort();
    match &end_state {
        SessionState::Exited {
            reason: Some(reason),
            ..
        } => session.notice(&format!("the session {reason}")),
        SessionState::Exited { code, .. } => {
            session.notice(&format!("the shell ended (exit code {code})"))
        }
        _ => {}
    }
    session.set_state(end_state);
    if let Err(e) = Box::pin(shell.close()).await {
        warn!(error = %e, "could not delete the shell");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use tokio::sync::mpsc;
    use winrelay_shared::api::FailureCode;
    use winrelay_shared::protocol::{Role, SessionState, Signal};

    use crate::session::remote::{
        Connect, Output, RemoteShell, ShellError, ShellInput, ShellTraits,
    };
    use crate::session::{Event, Registry, SessionSettings};

    /// What the fake target saw.
    #[derive(Default, Debug)]
    struct Seen {
        input: Vec<u8>,
        signals: Vec<Signal>,
        terminated: bool,
        closed: bool,
    }

    /// A remote shell whose output the test pushes and whose input the test reads.
    struct Fake {
        output: Mutex<Option<mpsc::UnboundedReceiver<Result<Output, ShellError>>>>,
        seen: Arc<Mutex<Seen>>,
        fail_open: Option<ShellError>,
    }

    struct FakeShell {
        output: mpsc::UnboundedReceiver<Result<Output, ShellError>>,
        input: FakeInput,
    }

    #[derive(Clone)]
    struct FakeInput(Arc<Mutex<Seen>>);

    impl Connect for Fake {
        type Shell = FakeShell;
        fn traits(&self) -> ShellTraits {
            ShellTraits {
                echoes_input: false,
                max_line_len: 1000,
                completes: false,
                detect_password_prompts: false,
            }
        }
        async fn open(&self) -> Result<FakeShell, ShellError> {
            if let Some(e) = &self.fail_open {
                return Err(e.clone());
            }
            Ok(FakeShell {
                output: self.output.lock().unwrap().take().unwrap(),
                input: FakeInput(self.seen.clone()),
            })
        }
    }

    impl RemoteShell for FakeShell {
        type Input = FakeInput;
        fn input(&self) -> FakeInput {
            self.input.clone()
        }
        async fn recv(&mut self) -> Option<Result<Output, ShellError>> {
            self.output.recv().await
        }
        async fn close(self) -> Result<(), ShellError> {
            self.input.0.lock().unwrap().closed = true;
            Ok(())
        }
    }

    impl ShellInput for FakeInput {
        async fn send(&self, data: &[u8]) -> Result<(), ShellError> {
            self.0.lock().unwrap().input.extend_from_slice(data);
            Ok(())
        }
        async fn close_stdin(&self) -> Result<(), ShellError> {
            Ok(())
        }
        async fn signal(&self, signal: Signal) -> Result<(), ShellError> {
            self.0.lock().unwrap().signals.push(signal);
            Ok(())
        }
        async fn terminate(&self) -> Result<(), ShellError> {
            self.0.lock().unwrap().terminated = true;
            Ok(())
        }
    }

    type OutTx = mpsc::UnboundedSender<Result<Output, ShellError>>;

    fn fake(fail_open: Option<ShellError>) -> (Fake, OutTx, Arc<Mutex<Seen>>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(Seen::default()));
        (
            Fake {
                output: Mutex::new(Some(rx)),
                seen: seen.clone(),
                fail_open,
            },
            tx,
            seen,
        )
    }

    fn registry(idle: Duration) -> Arc<Registry> {
        Registry::new(SessionSettings {
            log_bytes: 1 << 16,
            idle_timeout: idle,
            max_sessions: 2,
            ..SessionSettings::default()
        })
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn output_input_signals_and_the_end_delete_the_shell() {
        let reg = registry(Duration::from_secs(60));
        let (conn, out, seen) = fake(None);
        let s = reg
            .create("t".into(), "alice".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        settle().await;
        assert_eq!(s.state(), SessionState::Connected);
        let me = s.attach("alice".into(), Role::Owner, None);
        out.send(Ok(Output::Bytes("PS> ".into()))).unwrap();
        settle().await;
        assert_eq!(s.output_end(), 4);
        s.input(me, "echo hi\r").unwrap();
        s.input(me, "\x03").unwrap();
        settle().await;
        {
            let seen = seen.lock().unwrap();
            assert_eq!(seen.input, b"echo hi\r\n");
            assert_eq!(seen.signals, vec![Signal::CtrlC]);
        }
        let mut events = s.subscribe_events();
        out.send(Ok(Output::Exited(3))).unwrap();
        settle().await;
        assert_eq!(
            s.state(),
            SessionState::Exited {
                code: 3,
                reason: None
            }
        );
        assert!(matches!(
            events.recv().await.unwrap(),
            Event::State(SessionState::Exited {
                code: 3,
                reason: None
            })
        ));
        assert!(seen.lock().unwrap().closed, "the shell is deleted");
        // Ended sessions stay listed for a while, then go.
        assert!(reg.get(&s.id).is_some());
        tokio::time::sleep(Duration::from_secs(601)).await;
        settle().await;
        assert!(reg.get(&s.id).is_none());
    }

    /// The seam's typed notices: a shell that says the next line is a secret gets it, and
    /// nobody sees it; a completion answer nobody asked for changes nothing.
    #[tokio::test(start_paused = true)]
    async fn a_shell_can_hide_the_next_line_and_answer_completions() {
        let reg = registry(Duration::from_secs(60));
        let (conn, out, seen) = fake(None);
        let s = reg
            .create("t".into(), "alice".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        settle().await;
        let me = s.attach("alice".into(), Role::Owner, None);
        let mut events = s.subscribe_events();
        out.send(Ok(Output::Bytes("Secret: ".into()))).unwrap();
        out.send(Ok(Output::HideNextLine("read-host"))).unwrap();
        settle().await;
        assert_eq!(s.input_mode(), (true, Some("read-host")));
        assert!(matches!(
            events.recv().await.unwrap(),
            Event::InputMode {
                hidden: true,
                why: Some("read-host")
            }
        ));
        s.input(me, "s3cret\r").unwrap();
        settle().await;
        assert_eq!(seen.lock().unwrap().input, b"s3cret\r\n");
        assert_eq!(s.input_mode(), (false, None));
        let crate::session::OutputRead::Bytes { data, .. } = s.read_output(0, 1 << 16) else {
            panic!("the log starts at 0")
        };
        assert_eq!(data, b"Secret: \r\n", "only the line break is shown");
        out.send(Ok(Output::Completion {
            id: 99,
            answer: winrelay_shared::line::Completion {
                start: 0,
                len: 0,
                matches: vec!["x".into()],
            },
        }))
        .unwrap();
        settle().await;
        assert_eq!(s.output_end(), data.len() as u64, "nothing changed");
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_whose_target_is_gone_ends_as_target_lost() {
        let reg = registry(Duration::from_secs(60));
        let (conn, _out, seen) = fake(None);
        let s = reg
            .create("t".into(), "a".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        settle().await;
        s.end_lost(FailureCode::ShellGone, "the container is gone".into());
        settle().await;
        assert_eq!(
            s.state(),
            SessionState::TargetLost {
                code: FailureCode::ShellGone,
                message: "the container is gone".into()
            }
        );
        let seen = seen.lock().unwrap();
        assert!(seen.terminated && seen.closed, "the shell is deleted");
    }

    #[tokio::test(start_paused = true)]
    async fn a_typed_open_failure_reaches_the_state_and_nothing_is_left() {
        let reg = registry(Duration::from_secs(60));
        let err = ShellError::new(FailureCode::WrongCredentials, "wrong user name or password");
        let (conn, _out, seen) = fake(Some(err));
        let s = reg
            .create("t".into(), "a".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        settle().await;
        match s.state() {
            SessionState::Failed { code, .. } => assert_eq!(code, FailureCode::WrongCredentials),
            other => panic!("expected failed, got {other:?}"),
        }
        assert!(
            !seen.lock().unwrap().closed,
            "nothing was opened, nothing to delete"
        );
        tokio::time::sleep(Duration::from_secs(6)).await;
        settle().await;
        assert!(
            reg.is_empty(),
            "a shell that never opened is forgotten after 5 s"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idle_sessions_end_only_without_clients() {
        let reg = registry(Duration::from_secs(60));
        let (conn, _out, seen) = fake(None);
        let s = reg
            .create("t".into(), "a".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        settle().await;
        let me = s.attach("a".into(), Role::Owner, None);
        tokio::time::advance(Duration::from_secs(120)).await;
        reg.reap_idle();
        settle().await;
        assert_eq!(s.state(), SessionState::Connected, "a client is attached");
        s.detach(me);
        tokio::time::advance(Duration::from_secs(59)).await;
        reg.reap_idle();
        settle().await;
        assert_eq!(s.state(), SessionState::Connected);
        tokio::time::advance(Duration::from_secs(2)).await;
        reg.reap_idle();
        settle().await;
        assert_eq!(
            s.state(),
            SessionState::Exited {
                code: -1,
                reason: Some("ended after 1 minute without input (idle timeout)".into())
            }
        );
        let seen = seen.lock().unwrap();
        assert!(seen.terminated && seen.closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_shell_says_why_and_the_limit_holds() {
        let reg = registry(Duration::from_secs(60));
        let (conn, out, _) = fake(None);
        let s = reg
            .create("t".into(), "a".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        let (conn2, _out2, _) = fake(None);
        reg.create("t".into(), "a".into(), conn2, (80, 24), |_| vec![])
            .await
            .unwrap();
        let (conn3, _, _) = fake(None);
        assert!(reg
            .create("t".into(), "a".into(), conn3, (80, 24), |_| vec![])
            .await
            .is_err());
        settle().await;
        out.send(Err(ShellError::new(FailureCode::ShellGone, "gone")))
            .unwrap();
        settle().await;
        match s.state() {
            SessionState::TargetLost { code, message } => {
                assert_eq!(code, FailureCode::ShellGone);
                assert!(message.contains("the shell is gone"));
            }
            other => panic!("expected target_lost, got {other:?}"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_deletes_every_shell() {
        let reg = registry(Duration::from_secs(60));
        let (conn, _out, seen) = fake(None);
        reg.create("t".into(), "a".into(), conn, (80, 24), |_| vec![])
            .await
            .unwrap();
        settle().await;
        reg.shutdown().await;
        assert!(seen.lock().unwrap().closed);
    }
}

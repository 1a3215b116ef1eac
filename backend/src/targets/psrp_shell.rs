//! A `powershell` target's shell: a PSRP runspace pool with the relay as its console host.
//! [`session::pshost::PsConsole`](crate::session::pshost::PsConsole) decides; this file
//! only carries its steps out (pipelines, host replies, Ctrl+C) and feeds it the pool's
//! events, in one task per session.
//!
//! **Invariant:** typed secrets go from a [`Reply`] straight into a SecureString encrypted
//! with the session key; nothing here logs them.

use std::collections::VecDeque;

use tokio::sync::mpsc;
use winrelay_shared::protocol::Signal;
use winrm_client::psrp::clixml::{hashtable_value, Value};
use winrm_client::psrp::host::{HostCall, HostResponse};
use winrm_client::psrp::records::{ErrorRecord, HostInfo, PipelineState, PsCredential};
use winrm_client::{Pipeline, PoolOptions, PowerShellPool, PsEvent as ClientEvent};

use super::shell_error;
use crate::session::pshost::{FieldAnswer, PsConsole, PsEvent, Reply, Step};
use crate::session::remote::{
    Checkpoint, CompleteRequest, Output, RemoteShell, ShellError, ShellInput,
};

/// The size a pool starts with until the first writer's terminal says otherwise.
const START_SIZE: (u16, u16) = (120, 30);

enum Cmd {
    Line(String),
    Complete(CompleteRequest),
    Interrupt,
    Resize(u16, u16),
}

/// An open PowerShell console.
pub struct PsrpShell {
    output: mpsc::Receiver<Result<Output, ShellError>>,
    input: PsrpInput,
    closing: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<PowerShellPool>,
}

/// The input half of a [`PsrpShell`].
#[derive(Clone)]
pub struct PsrpInput(mpsc::UnboundedSender<Cmd>);

fn options(configuration: Option<&str>) -> PoolOptions {
    let mut options = PoolOptions {
        host: HostInfo::console(i32::from(START_SIZE.0), i32::from(START_SIZE.1)),
        ..PoolOptions::default()
    };
    if let Some(c) = configuration {
        options.configuration = c.to_string();
    }
    options
}

/// Opens a pool on `client` with session configuration `configuration`. `resumable`: a
/// cluster's session, which another relay may connect to later (its first output is a
/// checkpoint naming the pool).
pub async fn open(
    client: &winrm_client::Client,
    configuration: Option<&str>,
    resumable: bool,
) -> Result<PsrpShell, winrm_client::Error> {
    let pool = client.open_pool(options(configuration)).await?;
    Ok(start(pool, resumable))
}

/// Connects to a pool another relay disconnected (or whose relay died: the target marks
/// it Disconnected after a while), with a new console (a new prompt; the pool keeps its
/// variables, functions and current folder).
pub async fn connect(
    client: &winrm_client::Client,
    configuration: Option<&str>,
    pool_id: &str,
) -> Result<PsrpShell, winrm_client::Error> {
    let pool = client.connect_pool(pool_id, options(configuration)).await?;
    Ok(start(pool, true))
}

fn start(pool: PowerShellPool, resumable: bool) -> PsrpShell {
    let checkpoint = resumable.then(|| {
        let point = super::ResumePoint::Psrp {
            pool: pool.id().to_string(),
        };
        // Console output is not acknowledged to the target (a take-over loses what the
        // last relay had received but not stored): the checkpoint only names the pool.
        Checkpoint::new(
            serde_json::to_string(&point).expect("plain data serialises"),
            bytes::Bytes::new(),
            || {},
        )
    });
    let (out_tx, out_rx) = mpsc::channel(256);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (closing, closed) = tokio::sync::oneshot::channel();
    if let Some(cp) = checkpoint {
        let _ = out_tx.try_send(Ok(Output::Checkpoint(cp)));
    }
    let task = tokio::spawn(run(pool, cmd_rx, out_tx, closed));
    PsrpShell {
        output: out_rx,
        input: PsrpInput(cmd_tx),
        closing,
        task,
    }
}

async fn next_event(p: &mut Option<Pipeline>) -> Option<Result<ClientEvent, winrm_client::Error>> {
    match p {
        Some(p) => p.next().await,
        None => std::future::pending().await,
    }
}

/// The console task: returns the pool for [`RemoteShell::close`] to delete.
async fn run(
    pool: PowerShellPool,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    out: mpsc::Sender<Result<Output, ShellError>>,
    mut closed: tokio::sync::oneshot::Receiver<()>,
) -> PowerShellPool {
    let mut console = PsConsole::new(
        START_SIZE.0,
        START_SIZE.1,
        pool.protocol_version().unwrap_or((2, 3)),
    );
    let mut steps: VecDeque<Step> = console.start().into();
    let mut pipeline: Option<Pipeline> = None;
    loop {
        while let Some(step) = steps.pop_front() {
            let result = match step {
                Step::Show(bytes) => {
                    let _ = out.send(Ok(Output::Bytes(bytes.into()))).await;
                    Ok(())
                }
                Step::Run(_, create) => match pool.start(*create, Vec::new()).await {
                    Ok(p) => {
                        pipeline = Some(p);
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Step::Reply(call, reply) => match &pipeline {
                    Some(p) => match response(&pool, &call, reply).await {
                        Ok(r) => p.respond(&r).await,
                        Err(e) => Err(e),
                    },
                    None => Ok(()),
                },
                Step::Stop => match &pipeline {
                    Some(p) => p.stop().await,
                    None => Ok(()),
                },
                Step::Hide(why) => {
                    let _ = out.send(Ok(Output::HideNextLine(why))).await;
                    Ok(())
                }
                Step::Completion { id, answer } => {
                    let _ = out.send(Ok(Output::Completion { id, answer })).await;
                    Ok(())
                }
                Step::Exit(code) => {
                    let _ = out.send(Ok(Output::Exited(code))).await;
                    return pool;
                }
            };
            if let Err(e) = result {
                let _ = out.send(Err(shell_error(&e))).await;
                return pool;
            }
        }
        tokio::select! {
            _ = &mut closed => return pool,
            cmd = cmds.recv() => match cmd {
                None => return pool,
                Some(Cmd::Line(l)) => steps.extend(console.line(&l)),
                Some(Cmd::Complete(r)) => steps.extend(console.complete(r.id, &r.line, r.cursor)),
                Some(Cmd::Interrupt) => steps.extend(console.interrupt()),
                Some(Cmd::Resize(c, r)) => console.resize(c, r),
            },
            ev = next_event(&mut pipeline) => match ev {
                Some(Ok(ClientEvent::Finished { state, error })) => {
                    pipeline = None;
                    steps.extend(console.finished(state, error));
                }
                Some(Ok(ev)) => {
                    let ev = match ev {
                        ClientEvent::Output(v) => PsEvent::Output(v),
                        ClientEvent::Error(e) => PsEvent::Error(e),
                        ClientEvent::Warning(m) => PsEvent::Warning(m),
                        ClientEvent::Verbose(m) => PsEvent::Verbose(m),
                        ClientEvent::Debug(m) => PsEvent::Debug(m),
                        ClientEvent::Information(r) => PsEvent::Information(r),
                        ClientEvent::Progress(r) => PsEvent::Progress(r),
                        ClientEvent::HostCall(c) => PsEvent::HostCall(c),
                        ClientEvent::Finished { .. } => continue,
                    };
                    steps.extend(console.event(ev));
                }
                Some(Err(e)) => {
                    let _ = out.send(Err(shell_error(&e))).await;
                    return pool;
                }
                None => {
                    pipeline = None;
                    steps.extend(console.finished(PipelineState::Failed, None));
                }
            },
        }
    }
}

async fn secret(pool: &PowerShellPool, text: &str) -> Result<Vec<u8>, winrm_client::Error> {
    match pool.secure_string(text).await? {
        Value::SecureString(c) => Ok(c),
        _ => Ok(Vec::new()),
    }
}

/// The host response for a console's reply (secrets encrypted with the session key).
async fn response(
    pool: &PowerShellPool,
    call: &HostCall,
    reply: Reply,
) -> Result<HostResponse, winrm_client::Error> {
    Ok(match reply {
        Reply::Value(v) => HostResponse::ok(call, v),
        Reply::Secret(s) => {
            HostResponse::ok(call, Some(Value::SecureString(secret(pool, &s).await?)))
        }
        Reply::Credential { user, password } => HostResponse::credential(
            call,
            &PsCredential {
                user_name: user,
                password: secret(pool, &password).await?,
            },
        ),
        Reply::Fields(fields) => {
            let mut entries = Vec::new();
            for (name, answer) in fields {
                let v = match answer {
                    FieldAnswer::Text(t) => Value::str(t),
                    FieldAnswer::Secret(s) => Value::SecureString(secret(pool, &s).await?),
                    FieldAnswer::Credential { user, password } => PsCredential {
                        user_name: user,
                        password: secret(pool, &password).await?,
                    }
                    .to_value(),
                };
                entries.push((Value::str(name), v));
            }
            HostResponse::ok(call, Some(hashtable_value(entries)))
        }
        Reply::Refuse(message) => HostResponse::failed(
            call,
            &ErrorRecord {
                message,
                fully_qualified_error_id: "HostMethodNotSupported".into(),
                ..ErrorRecord::default()
            },
        ),
    })
}

impl RemoteShell for PsrpShell {
    type Input = PsrpInput;

    fn input(&self) -> PsrpInput {
        self.input.clone()
    }

    async fn recv(&mut self) -> Option<Result<Output, ShellError>> {
        self.output.recv().await
    }

    async fn forget(self) {
        // A hand-over: the pool stays, Disconnected, for the relay that connects next.
        let _ = self.closing.send(());
        drop(self.output);
        let mut task = self.task;
        if let Ok(Ok(pool)) =
            tokio::time::timeout(std::time::Duration::from_secs(30), &mut task).await
        {
            match pool.disconnect().await {
                Ok(id) => {
                    tracing::info!(pool = %id, "disconnected the PowerShell pool for another relay")
                }
                Err(e) => tracing::warn!(error = %e, "could not disconnect the PowerShell pool"),
            }
        } else {
            task.abort();
        }
    }

    async fn close(self) -> Result<(), ShellError> {
        let _ = self.closing.send(());
        drop(self.output);
        // The task hands the pool back once its current request is done.
        let mut task = self.task;
        match tokio::time::timeout(std::time::Duration::from_secs(30), &mut task).await {
            Ok(Ok(pool)) => pool.close().await.map_err(|e| shell_error(&e)),
            // A panicked task dropped the pool, whose guard deletes it.
            Ok(Err(_)) => Ok(()),
            Err(_) => {
                // Stuck on the target: dropping the task drops the pool, whose guard
                // deletes it in the background.
                task.abort();
                Ok(())
            }
        }
    }
}

impl ShellInput for PsrpInput {
    async fn send(&self, data: &[u8]) -> Result<(), ShellError> {
        let text = String::from_utf8_lossy(data);
        let text = text.strip_suffix('\n').unwrap_or(&text);
        let text = text.strip_suffix('\r').unwrap_or(text);
        for line in text.split("\r\n") {
            let _ = self.0.send(Cmd::Line(line.to_string()));
        }
        Ok(())
    }

    async fn close_stdin(&self) -> Result<(), ShellError> {
        // Ctrl+D on an empty line: a PowerShell console ignores it.
        Ok(())
    }

    async fn signal(&self, _signal: Signal) -> Result<(), ShellError> {
        let _ = self.0.send(Cmd::Interrupt);
        Ok(())
    }

    async fn terminate(&self) -> Result<(), ShellError> {
        let _ = self.0.send(Cmd::Interrupt);
        Ok(())
    }

    async fn complete(&self, request: CompleteRequest) -> Result<(), ShellError> {
        let _ = self.0.send(Cmd::Complete(request));
        Ok(())
    }

    async fn resize(&self, cols: u16, rows: u16) -> Result<(), ShellError> {
        let _ = self.0.send(Cmd::Resize(cols, rows));
        Ok(())
    }
}

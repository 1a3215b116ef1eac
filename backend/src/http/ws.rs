//! One WebSocket attached to one session: the relay's side of `shared::protocol`.
//!
//! Each socket reads the session's output log at its own position and sends at most
//! [`WINDOW`] bytes beyond what the client acknowledged. When the client's position has
//! left the log, it gets a screen snapshot and continues from there.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket};
use futures::{SinkExt, StreamExt};
use tokio::sync::broadcast::error::RecvError;
use tracing::{debug, info};
use winrelay_shared::protocol::{
    ClientMsg, ErrorCode, FrameKind, OutputFrame, ServerMsg, MAX_CLIENT_TEXT, MAX_COLS, MAX_ROWS,
    PROTOCOL_VERSION, WINDOW,
};

use crate::access::policy::Grant;
use crate::ops::metrics::Metrics;
use crate::session::{Attach, Event, OutputRead};

/// Largest output frame.
const MAX_FRAME: usize = 64 * 1024;
/// Keepalive interval: below the 60 s read timeout of common proxies.
const PING_EVERY: Duration = Duration::from_secs(20);
/// A client must say hello this soon.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// A send that takes longer means the client is gone.
const SEND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a socket loop ended.
enum Close {
    Gone,
    Bye(String, bool),
}

/// Runs one attached client until it leaves.
pub async fn run(socket: WebSocket, session: Arc<dyn Attach>, grant: Grant, metrics: Metrics) {
    let Grant {
        name,
        user,
        role,
        via_share,
        expires,
    } = grant;
    let (mut tx, mut rx) = socket.split();

    // 1. hello
    let hello = tokio::time::timeout(HELLO_TIMEOUT, async {
        while let Some(Ok(msg)) = rx.next().await {
            match msg {
                Message::Text(t) => return ClientMsg::from_json(&t).ok(),
                Message::Close(_) => return None,
                _ => continue,
            }
        }
        None
    })
    .await
    .ok()
    .flatten();
    let Some(ClientMsg::Hello {
        resume_from,
        cols,
        rows,
        name: _,
    }) = hello
    else {
        let _ = send_json(
            &mut tx,
            &ServerMsg::Error {
                code: ErrorCode::BadMessage,
                message: "the first message must be hello".into(),
            },
        )
        .await;
        let _ = tx.send(Message::Close(None)).await;
        return;
    };
    let mut events = session.subscribe_events();
    let mut output = session.subscribe_output();
    // The owner's earlier decisions about this person or link hold (issue 17, item 7).
    let (client, role) = match session.join(name, user, role, via_share) {
        Ok(joined) => joined,
        Err(refused) => {
            let _ = send_json(
                &mut tx,
                &ServerMsg::Error {
                    code: refused.code,
                    message: refused.message.clone(),
                },
            )
            .await;
            let _ = send_json(
                &mut tx,
                &ServerMsg::Bye {
                    reason: refused.message,
                    reconnect: false,
                },
            )
            .await;
            let _ = tx.send(Message::Close(None)).await;
            return;
        }
    };
    // Only writers and owners size the session (issue 17, item 9).
    if (1..=MAX_COLS).contains(&cols) && (1..=MAX_ROWS).contains(&rows) {
        session.resize(client, cols, rows);
    }
    info!(session = %session.id(), client, ?role, "client attached");

    // 2. where this client starts
    let mut pending_snapshot = None;
    let (mut pos, resumed) = match resume_from {
        Some(n) if session.can_resume(n) => (n, true),
        _ => match session.fresh_view() {
            OutputRead::Bytes { offset, .. } => (offset, false),
            OutputRead::Snapshot { end, data } => {
                pending_snapshot = Some((end, data));
                (end, false)
            }
        },
    };
    let mut acked = pos;

    let welcome = ServerMsg::Welcome {
        version: PROTOCOL_VERSION,
        session: session.id().to_string(),
        target: session.target().to_string(),
        client_id: client,
        role,
        resumed,
    };
    let mut ok = send_json(&mut tx, &welcome).await.is_ok()
        && send_json(
            &mut tx,
            &ServerMsg::Status {
                state: session.state(),
            },
        )
        .await
        .is_ok()
        && send_json(
            &mut tx,
            &ServerMsg::Presence {
                clients: session.clients(),
            },
        )
        .await
        .is_ok()
        && send_json(&mut tx, &input_mode(session.input_mode()))
            .await
            .is_ok();
    if let Some((end, data)) = pending_snapshot {
        ok = ok
            && send_frame(&mut tx, FrameKind::Snapshot, end, &data, &metrics)
                .await
                .is_ok();
    }

    let mut ping = tokio::time::interval(PING_EVERY);
    ping.reset();
    // A client that came through a share link leaves when the link expires, not at the
    // next housekeeping pass (issue 17, item 17).
    let expiry = async move {
        match expires {
            Some(at) => tokio::time::sleep_until(at.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(expiry);
    let close = if !ok {
        Close::Gone
    } else {
        loop {
            // One frame at a time, and only after whatever the client sent is handled: a
            // ping, Ctrl+C or an ack never waits behind a window's worth of output.
            let end = *output.borrow_and_update();
            let can_send = pos < end && pos - acked < WINDOW;
            tokio::select! {
                biased;
                msg = rx.next() => {
                    let Some(Ok(msg)) = msg else { break Close::Gone };
                    let reply = match msg {
                        Message::Text(text) => handle_text(&*session, client, &text, pos, &mut acked),
                        Message::Binary(_) => Some(ServerMsg::Error { code: ErrorCode::BadMessage, message: "binary frames are not accepted: send input as an input message".into() }),
                        Message::Close(_) => break Close::Gone,
                        Message::Ping(_) | Message::Pong(_) => None,
                    };
                    if let Some(reply) = reply {
                        if send_json(&mut tx, &reply).await.is_err() {
                            break Close::Gone;
                        }
                    }
                }
                ev = events.recv() => {
                    let msg = match ev {
                        Ok(Event::State(state)) => ServerMsg::Status { state },
                        Ok(Event::InputMode { hidden, why }) => input_mode((hidden, why)),
                        Ok(Event::Presence) | Err(RecvError::Lagged(_)) => ServerMsg::Presence { clients: session.clients() },
                        Ok(Event::Kick { client: who, reason, reconnect }) => {
                            if who.is_none() || who == Some(client) {
                                break Close::Bye(reason, reconnect);
                            }
                            continue;
                        }
                        Err(RecvError::Closed) => break Close::Gone,
                    };
                    if send_json(&mut tx, &msg).await.is_err() {
                        break Close::Gone;
                    }
                }
                _ = std::future::ready(()), if can_send => {
                    let room = (WINDOW - (pos - acked)) as usize;
                    let sent = match session.read_output(pos, room.min(MAX_FRAME)) {
                        OutputRead::Bytes { offset, data } => {
                            pos = offset + data.len() as u64;
                            send_frame(&mut tx, FrameKind::Output, offset, &data, &metrics).await
                        }
                        OutputRead::Snapshot { end, data } => {
                            debug!(session = %session.id(), client, "client fell behind: sending a snapshot");
                            pos = end;
                            acked = end;
                            send_frame(&mut tx, FrameKind::Snapshot, end, &data, &metrics).await
                        }
                    };
                    if sent.is_err() {
                        break Close::Gone;
                    }
                }
                changed = output.changed() => {
                    if changed.is_err() {
                        break Close::Gone;
                    }
                }
                _ = &mut expiry => {
                    break Close::Bye("the share link expired".into(), false);
                }
                _ = ping.tick() => {
                    if timed_send(&mut tx, Message::Ping(Default::default())).await.is_err() {
                        break Close::Gone;
                    }
                }
            }
        }
    };
    session.detach(client);
    if let Close::Bye(reason, reconnect) = close {
        let _ = send_json(&mut tx, &ServerMsg::Bye { reason, reconnect }).await;
        let _ = tx.send(Message::Close(None)).await;
    }
    info!(session = %session.id(), client, "client detached");
}

/// Handles one text frame; returns the reply, if any.
fn handle_text(
    session: &dyn Attach,
    client: u64,
    text: &str,
    pos: u64,
    acked: &mut u64,
) -> Option<ServerMsg> {
    if text.len() > MAX_CLIENT_TEXT {
        return Some(ServerMsg::Error {
            code: ErrorCode::TooLarge,
            message: format!(
                "message of {} bytes refused: the limit is {MAX_CLIENT_TEXT}; split large pastes",
                text.len()
            ),
        });
    }
    let msg = match ClientMsg::from_json(text) {
        Ok(m) => m,
        Err(e) => {
            return Some(ServerMsg::Error {
                code: ErrorCode::BadMessage,
                message: format!("not a valid message: {e}"),
            })
        }
    };
    match msg {
        ClientMsg::Hello { .. } => Some(ServerMsg::Error {
            code: ErrorCode::BadMessage,
            message: "hello was already received".into(),
        }),
        ClientMsg::Input { data } => session
            .input(client, &data)
            .err()
            .map(|r| ServerMsg::Error {
                code: r.code,
                message: r.message,
            }),
        ClientMsg::Signal { signal } => {
            session
                .signal(client, signal)
                .err()
                .map(|r| ServerMsg::Error {
                    code: r.code,
                    message: r.message,
                })
        }
        ClientMsg::Resize { cols, rows } => {
            if (1..=MAX_COLS).contains(&cols) && (1..=MAX_ROWS).contains(&rows) {
                // A viewer's size is ignored, not an error: its page sends one on every
                // window change.
                session.resize(client, cols, rows);
                None
            } else {
                Some(ServerMsg::Error { code: ErrorCode::BadMessage, message: format!("terminal size {cols}x{rows} refused: columns must be 1..={MAX_COLS}, rows 1..={MAX_ROWS}") })
            }
        }
        ClientMsg::Ack { offset } => {
            // Never beyond what was sent: a client cannot open its window by lying.
            *acked = (*acked).max(offset.min(pos));
            None
        }
        ClientMsg::Ping { id } => Some(ServerMsg::Pong { id }),
        // Answered by the `input_mode` event every client gets.
        ClientMsg::HideNextLine => session
            .hide_next_line(client)
            .err()
            .map(|r| ServerMsg::Error {
                code: r.code,
                message: r.message,
            }),
    }
}

fn input_mode((hidden, why): (bool, Option<&'static str>)) -> ServerMsg {
    ServerMsg::InputMode {
        hidden,
        why: why.map(str::to_string),
    }
}

type Tx = futures::stream::SplitSink<WebSocket, Message>;

async fn timed_send(tx: &mut Tx, msg: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, tx.send(msg)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

async fn send_json(tx: &mut Tx, msg: &ServerMsg) -> Result<(), ()> {
    timed_send(tx, Message::Text(msg.to_json().into())).await
}

async fn send_frame(
    tx: &mut Tx,
    kind: FrameKind,
    offset: u64,
    data: &[u8],
    metrics: &Metrics,
) -> Result<(), ()> {
    let frame = OutputFrame { kind, offset, data }.encode();
    metrics.ws_sent_bytes.inc_by(frame.len() as u64);
    timed_send(tx, Message::Binary(frame.into())).await
}

//! The WebSocket to one session: the one place that owns the socket.
//!
//! Terminal bytes go straight from the socket callback into xterm.js (never through a
//! signal); the signals in [`ConnSignals`] carry only state for the status bar. Flow control
//! follows `winrelay_shared::protocol`: an `ack` reports the offset xterm.js has parsed,
//! taken from its write callbacks, so a flood of output cannot pile up in the tab.
//!
//! The connection knows nothing of the page around it: whoever cares (the status bar, the
//! embed page's host) follows the signals.

use crate::api;
use crate::term::TermView;
use js_sys::{ArrayBuffer, Uint8Array};
use leptos::prelude::*;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};
use winrelay_shared::cursor::Cursor;
use winrelay_shared::protocol::{
    api::SessionInfo, ClientMsg, ErrorCode, OutputFrame, Presence, Role, ServerMsg, SessionState,
    Signal, FRAME_HEADER,
};

/// Input messages are split below the relay's frame limit.
const INPUT_CHUNK: usize = 64 * 1024;
const PING_EVERY: Duration = Duration::from_secs(5);
/// A socket that answered no ping for this long is treated as dead.
const PONG_TIMEOUT_MS: f64 = 15_000.0;

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    Connecting,
    Connected,
    /// Waiting before the next attempt.
    Retrying {
        secs: u32,
        why: String,
    },
    /// Given up for good (session gone, signed out, removed by the owner).
    Closed(String),
}

/// Why a connection gave up, when the page can do something about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The sign-in (cookie or embed token) is no longer accepted: sign in again, then the
    /// same session is tried again.
    SignedOut,
    /// The session does not exist any more (ended, or the relay restarted).
    NoSession,
    /// The share link this page came with no longer lets it in (revoked, expired, the
    /// owner removed its holder, or the session ended): signing in would not help.
    ShareEnded,
}

thread_local! {
    /// The share token this page holds (see [`take_share_from_address`]).
    static SHARE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Where a share token survives a reload of its tab: the tab's session storage, per session
/// (never in the address, so never in history or in a copied link).
fn share_key(path: &str) -> Option<String> {
    match crate::route::parse(path) {
        (crate::route::Route::Session(id), _) => Some(format!("winrelay.share.{id}")),
        _ => None,
    }
}

/// Takes a share link's token (`/s/ID?share=TOKEN`) out of the address at start: the page
/// keeps it in memory (and in the tab's session storage, so a reload still works) and
/// replaces the address with one without it. Without `?share=`, a token this tab kept for
/// the session in the address comes back from session storage.
pub fn take_share_from_address() {
    let Some(w) = web_sys::window() else { return };
    let loc = w.location();
    let path = loc.pathname().unwrap_or_default();
    let storage = w.session_storage().ok().flatten();
    let key = share_key(&path);
    let search = loc.search().unwrap_or_default();
    let params = web_sys::UrlSearchParams::new_with_str(&search).ok();
    let from_address = params
        .as_ref()
        .and_then(|p| p.get("share"))
        .filter(|t| !t.is_empty());
    let token = match from_address {
        Some(t) => {
            if let (Some(s), Some(k)) = (&storage, &key) {
                let _ = s.set_item(k, &t);
            }
            if let (Some(p), Ok(h)) = (&params, w.history()) {
                p.delete("share");
                let rest = String::from(p.to_string());
                let query = if rest.is_empty() {
                    String::new()
                } else {
                    format!("?{rest}")
                };
                let url = format!("{path}{query}{}", loc.hash().unwrap_or_default());
                let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&url));
            }
            Some(t)
        }
        None => storage
            .zip(key)
            .and_then(|(s, k)| s.get_item(&k).ok().flatten()),
    };
    SHARE.with(|s| *s.borrow_mut() = token);
}

/// The share link the page was opened with, if any (see [`take_share_from_address`]).
pub fn share_param() -> Option<String> {
    SHARE.with(|s| s.borrow().clone())
}

/// A relay's message as a sentence: capital first letter, full stop.
pub fn sentence(msg: &str) -> String {
    if msg.trim().is_empty() {
        return String::new();
    }
    let mut c = msg.trim().chars();
    let mut out: String = c
        .next()
        .map(|f| f.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(c.as_str());
    if !out.ends_with(['.', '!', '?']) {
        out.push('.');
    }
    out
}

/// State shared with the view; all `Copy` handles.
#[derive(Clone, Copy)]
pub struct ConnSignals {
    pub link: RwSignal<Link>,
    pub shell: RwSignal<Option<SessionState>>,
    pub target: RwSignal<String>,
    pub role: RwSignal<Option<Role>>,
    pub me: RwSignal<Option<u64>>,
    pub presence: RwSignal<Vec<Presence>>,
    pub latency_ms: RwSignal<Option<u32>>,
    pub notice: RwSignal<Option<String>>,
    pub lost: RwSignal<Option<Lost>>,
    /// Hidden input is on (`Some(why)`, `why` may be empty): typing is not shown or recorded.
    pub hidden: RwSignal<Option<String>>,
}

impl ConnSignals {
    pub fn new() -> Self {
        ConnSignals {
            link: RwSignal::new(Link::Connecting),
            shell: RwSignal::new(None),
            target: RwSignal::new(String::new()),
            role: RwSignal::new(None),
            me: RwSignal::new(None),
            presence: RwSignal::new(Vec::new()),
            latency_ms: RwSignal::new(None),
            notice: RwSignal::new(None),
            lost: RwSignal::new(None),
            hidden: RwSignal::new(None),
        }
    }
}

type Handler<T> = Closure<dyn FnMut(T)>;
/// The socket's open, message and close handlers, kept alive while the socket lives.
type Handlers = (Handler<JsValue>, Handler<MessageEvent>, Handler<CloseEvent>);

/// One session's connection, reconnecting with backoff until stopped.
pub struct Conn {
    id: String,
    term: TermView,
    sig: ConnSignals,
    ws: RefCell<Option<WebSocket>>,
    handlers: RefCell<Option<Handlers>>,
    /// Where this page is in the session's output: what to write, when to ack, where a
    /// reconnect resumes (shared with the relay's tests, the soak client and the bench).
    cursor: RefCell<Cursor>,
    welcomed: Cell<bool>,
    attempt: Cell<u32>,
    stopped: Cell<bool>,
    last_pong: Cell<f64>,
    ping: RefCell<Option<IntervalHandle>>,
    retry: RefCell<Option<TimeoutHandle>>,
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map(|p| p.now())
        .unwrap_or(0.0)
}

/// `?share=TOKEN` when the page was opened with a share link (it rides along on every
/// request about the session, since a share link's holder may have no sign-in), and
/// `embed_token=` on the embed page (browsers cannot set headers on WebSockets).
pub fn access_query() -> String {
    let mut parts = Vec::new();
    if let Some(t) = share_param() {
        parts.push(format!("share={}", js_sys::encode_uri_component(&t)));
    }
    if let Some(t) = api::embed_token() {
        parts.push(format!("embed_token={}", js_sys::encode_uri_component(&t)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn ws_url(id: &str) -> String {
    let loc = web_sys::window().unwrap().location();
    let scheme = if loc.protocol().unwrap_or_default() == "https:" {
        "wss"
    } else {
        "ws"
    };
    format!(
        "{scheme}://{}/api/sessions/{id}/ws{}",
        loc.host().unwrap_or_default(),
        access_query()
    )
}

/// Opens the session's socket and keeps it open for the lifetime of the calling component;
/// on cleanup the socket closes and no reconnect follows.
pub fn use_session(id: String, term: TermView, sig: ConnSignals) -> Rc<Conn> {
    let conn = Rc::new(Conn {
        id,
        term,
        sig,
        ws: RefCell::new(None),
        handlers: RefCell::new(None),
        cursor: RefCell::new(Cursor::new()),
        welcomed: Cell::new(false),
        attempt: Cell::new(0),
        stopped: Cell::new(false),
        last_pong: Cell::new(now_ms()),
        ping: RefCell::new(None),
        retry: RefCell::new(None),
    });
    conn.connect();
    let c = conn.clone();
    *conn.ping.borrow_mut() = set_interval_with_handle(move || c.tick(), PING_EVERY).ok();
    let c = send_wrapper::SendWrapper::new(conn.clone());
    on_cleanup(move || c.stop());
    conn
}

impl Conn {
    /// The session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The connection's state, for the view.
    pub fn signals(&self) -> ConnSignals {
        self.sig
    }

    fn connect(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        self.welcomed.set(false);
        self.sig.link.set(Link::Connecting);
        let ws = match WebSocket::new(&ws_url(&self.id)) {
            Ok(ws) => ws,
            Err(_) => return self.schedule_retry("the browser refused to open a WebSocket".into()),
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        let c = self.clone();
        let on_open = Closure::<dyn FnMut(JsValue)>::new(move |_| c.on_open());
        let c = self.clone();
        let on_message =
            Closure::<dyn FnMut(MessageEvent)>::new(move |e: MessageEvent| c.on_message(e));
        let c = self.clone();
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |e: CloseEvent| c.on_close(e));
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        self.drop_socket();
        *self.ws.borrow_mut() = Some(ws);
        *self.handlers.borrow_mut() = Some((on_open, on_message, on_close));
    }

    /// Detaches and closes the current socket without triggering its close handler.
    fn drop_socket(&self) {
        if let Some(ws) = self.ws.borrow_mut().take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            let _ = ws.close();
        }
        // Dropping the closures here is safe: the socket no longer references them.
        self.handlers.borrow_mut().take();
    }

    fn stop(&self) {
        self.stopped.set(true);
        if let Some(t) = self.retry.borrow_mut().take() {
            t.clear();
        }
        if let Some(p) = self.ping.borrow_mut().take() {
            p.clear();
        }
        self.drop_socket();
    }

    fn send(&self, msg: &ClientMsg) -> bool {
        match &*self.ws.borrow() {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => {
                ws.send_with_str(&crate::json::to_string(&msg)).is_ok()
            }
            _ => false,
        }
    }

    fn on_open(self: &Rc<Self>) {
        self.last_pong.set(now_ms());
        let hello = self
            .cursor
            .borrow()
            .hello(self.term.term.cols(), self.term.term.rows(), None);
        self.send(&hello);
    }

    fn on_message(self: &Rc<Self>, e: MessageEvent) {
        let data = e.data();
        if let Some(text) = data.as_string() {
            match crate::json::from_str::<ServerMsg>(&text) {
                Ok(msg) => self.on_control(msg),
                Err(err) => web_sys::console::warn_1(
                    &format!("winrelay: unknown message {text}: {err}").into(),
                ),
            }
            return;
        }
        let Ok(buf) = data.dyn_into::<ArrayBuffer>() else {
            return;
        };
        let mut head = [0u8; FRAME_HEADER];
        if buf.byte_length() < FRAME_HEADER as u32 {
            return;
        }
        Uint8Array::new_with_byte_offset_and_length(&buf, 0, FRAME_HEADER as u32)
            .copy_to(&mut head);
        let Some(frame) = OutputFrame::decode(&head) else {
            return;
        };
        // The payload goes to xterm.js as a view of the socket's buffer: no copy into wasm.
        let payload = Uint8Array::new_with_byte_offset(&buf, FRAME_HEADER as u32);
        let len = payload.length();
        let step = self
            .cursor
            .borrow_mut()
            .receive(frame.kind, frame.offset, len as usize);
        let step = match step {
            Ok(step) => step,
            Err(gap) => {
                // Bytes are missing: attach again, resuming where this page is.
                web_sys::console::warn_1(&format!("winrelay: {gap}").into());
                if let Some(ws) = &*self.ws.borrow() {
                    let _ = ws.close();
                }
                return;
            }
        };
        if step.reset {
            // A snapshot (or a stream that starts over) repaints a reset terminal. The reset
            // goes through xterm.js's write queue (RIS): `reset()` acts at once, before
            // output still queued, whose last partial line then glued onto the snapshot's
            // first line.
            self.term.write_str("\x1bc");
        }
        let end = step.end;
        if step.is_empty() {
            self.on_rendered(end);
            return;
        }
        let payload = if step.skip > 0 {
            payload.subarray(step.skip as u32, len)
        } else {
            payload
        };
        let c = self.clone();
        let done = Closure::once_into_js(move || c.on_rendered(end));
        self.term.write_bytes(&payload, done.unchecked_ref());
    }

    fn on_rendered(&self, end: u64) {
        self.cursor.borrow_mut().rendered(end);
        self.ack();
    }

    /// Sends an ack when the cursor says one is due.
    fn ack(&self) {
        let msg = self.cursor.borrow_mut().take_ack_msg();
        if let Some(msg) = msg {
            self.send(&msg);
        }
    }

    fn on_control(self: &Rc<Self>, msg: ServerMsg) {
        let sig = self.sig;
        match msg {
            ServerMsg::Welcome {
                target,
                client_id,
                role,
                resumed,
                ..
            } => {
                self.welcomed.set(true);
                self.attempt.set(0);
                // Acks before this socket count for nothing: tell the relay where we are.
                self.cursor.borrow_mut().welcome(resumed);
                sig.target.set(target);
                sig.role.set(Some(role));
                sig.me.set(Some(client_id));
                sig.link.set(Link::Connected);
                sig.lost.set(None);
                sig.notice
                    .set((!role.can_write()).then(|| "View only: your typing is not sent.".into()));
                self.ack();
                self.send(&ClientMsg::Ping {
                    id: now_ms() as u64,
                });
            }
            ServerMsg::Status { state } => {
                // The relay writes an exit into the output itself.
                if let SessionState::TargetLost { message, .. }
                | SessionState::Failed { message, .. } = &state
                {
                    self.term.note(&format!("\r\n[{message}]"));
                }
                sig.shell.set(Some(state));
            }
            ServerMsg::Presence { clients } => {
                // The owner may switch this client between writer and viewer.
                let me = sig.me.get_untracked();
                if let Some(mine) = clients.iter().find(|p| Some(p.id) == me) {
                    if sig.role.get_untracked() != Some(mine.role) {
                        sig.role.set(Some(mine.role));
                        sig.notice.set(Some(if mine.role.can_write() {
                            "The owner let you type.".into()
                        } else {
                            "View only: the owner made you a viewer.".into()
                        }));
                    }
                }
                sig.presence.set(clients)
            }
            ServerMsg::Error { code, message } => {
                let text = match code {
                    ErrorCode::Forbidden => format!("Not allowed: {message}"),
                    ErrorCode::SessionEnded => format!("The session has ended: {message}"),
                    _ => message,
                };
                sig.notice.set(Some(text));
            }
            ServerMsg::Pong { id } => {
                let now = now_ms();
                self.last_pong.set(now);
                sig.latency_ms
                    .set(Some((now - id as f64).max(0.0).round() as u32));
            }
            ServerMsg::Bye { reason, reconnect } => {
                if !reconnect {
                    let share = share_param().is_some() && api::embed_token().is_none();
                    self.close_for_good(reason);
                    if share {
                        // Revoked, expired or removed: the same card a reload shows.
                        sig.lost.set(Some(Lost::ShareEnded));
                    }
                } else {
                    sig.notice.set(Some(reason));
                }
            }
            ServerMsg::InputMode { hidden, why } => {
                sig.hidden.set(hidden.then(|| why.unwrap_or_default()));
            }
        }
    }

    fn on_close(self: &Rc<Self>, e: CloseEvent) {
        self.drop_socket();
        if self.stopped.get() {
            return;
        }
        let why = if self.welcomed.get() {
            "the connection to the relay was lost".to_string()
        } else if e.reason().is_empty() {
            "the relay did not accept the connection".to_string()
        } else {
            e.reason()
        };
        // Ask the API why, so a gone session or an expired sign-in says so instead of
        // retrying forever.
        let c = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            match api::get::<SessionInfo>(&format!("/api/sessions/{}{}", c.id, access_query()))
                .await
            {
                Err(fail)
                    if matches!(fail.status(), Some(401 | 403 | 404 | 410))
                        && share_param().is_some()
                        && api::embed_token().is_none() =>
                {
                    // The relay answers share_ended (410) for a link that was revoked or
                    // expired while its session runs, and "no such session" once the session
                    // is gone: one message that says what this person can do, not "signed
                    // out" beside "no longer exists".
                    let msg = if fail.status() == Some(403) {
                        sentence(&fail.message())
                    } else if fail.code() == Some(api::FailureCode::ShareEnded) {
                        "This share link no longer works: it was revoked or it expired.".to_string()
                    } else {
                        "This share link no longer works: it was revoked or it expired, or the session ended.".to_string()
                    };
                    c.term.note(&format!("\r\n[{msg}]"));
                    c.close_for_good(msg);
                    c.sig.lost.set(Some(Lost::ShareEnded));
                }
                Err(fail) if matches!(fail.status(), Some(401 | 403 | 404 | 410)) => {
                    let gone = matches!(fail.status(), Some(404 | 410));
                    let msg = if gone {
                        "This session no longer exists (it ended, or the relay restarted). Start a new shell.".into()
                    } else if fail.code() == Some(api::FailureCode::BadEmbedToken) {
                        format!("The embed token is no longer accepted ({}): the host page must send a fresh one.", fail.message())
                    } else {
                        fail.message()
                    };
                    c.term.note(&format!("\r\n[{msg}]"));
                    c.close_for_good(msg);
                    c.sig.lost.set(Some(if gone {
                        Lost::NoSession
                    } else {
                        Lost::SignedOut
                    }));
                }
                Err(fail) if fail.status().is_none() => {
                    c.schedule_retry("the relay cannot be reached".into())
                }
                Ok(info) if info.state.is_final() => {
                    c.sig.shell.set(Some(info.state));
                    c.schedule_retry(why)
                }
                _ => c.schedule_retry(why),
            }
        });
    }

    /// Presence, latency and the input mode are only known while connected.
    fn forget_peers(&self) {
        self.sig.presence.set(Vec::new());
        self.sig.latency_ms.set(None);
        self.sig.hidden.set(None);
    }

    fn close_for_good(&self, why: String) {
        self.stopped.set(true);
        self.drop_socket();
        self.forget_peers();
        self.sig.notice.set(None);
        self.sig.link.set(Link::Closed(why));
    }

    /// Tries the session again after the page fixed what stopped it (signed in again, a
    /// fresh embed token).
    pub fn revive(self: &Rc<Self>) {
        if !self.stopped.get() {
            return;
        }
        self.stopped.set(false);
        self.attempt.set(0);
        self.sig.lost.set(None);
        self.connect();
        if self.ping.borrow().is_none() {
            let c = self.clone();
            *self.ping.borrow_mut() = set_interval_with_handle(move || c.tick(), PING_EVERY).ok();
        }
    }

    fn schedule_retry(self: &Rc<Self>, why: String) {
        if self.stopped.get() {
            return;
        }
        let n = self.attempt.get();
        self.attempt.set(n + 1);
        let base = (500u64 << n.min(5)).min(10_000);
        let jitter = (js_sys::Math::random() * 250.0) as u64;
        let delay = base + jitter;
        self.sig.link.set(Link::Retrying {
            secs: delay.div_ceil(1000) as u32,
            why,
        });
        self.forget_peers();
        let c = self.clone();
        *self.retry.borrow_mut() =
            set_timeout_with_handle(move || c.connect(), Duration::from_millis(delay)).ok();
    }

    fn tick(self: &Rc<Self>) {
        let open = matches!(&*self.ws.borrow(), Some(ws) if ws.ready_state() == WebSocket::OPEN);
        if !open || !self.welcomed.get() {
            return;
        }
        if now_ms() - self.last_pong.get() > PONG_TIMEOUT_MS {
            // Silent socket (a proxy or a network drop that sent no close): start over.
            self.drop_socket();
            self.schedule_retry("the relay stopped answering".into());
            return;
        }
        self.send(&ClientMsg::Ping {
            id: now_ms() as u64,
        });
    }

    pub fn send_input(&self, data: &str) {
        if self
            .sig
            .role
            .get_untracked()
            .is_some_and(|r| !r.can_write())
        {
            self.sig
                .notice
                .set(Some("View only: your typing is not sent.".into()));
            return;
        }
        let mut rest = data;
        while !rest.is_empty() {
            let mut cut = rest.len().min(INPUT_CHUNK);
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            let (chunk, tail) = rest.split_at(cut);
            if !self.send(&ClientMsg::Input {
                data: chunk.to_string(),
            }) {
                self.sig
                    .notice
                    .set(Some("Not connected: that input was not sent.".into()));
                return;
            }
            rest = tail;
        }
    }

    /// Ctrl+Break (or Ctrl+C) to the running command, as a WinRS signal.
    pub fn send_signal(&self, signal: Signal) {
        if self
            .sig
            .role
            .get_untracked()
            .is_some_and(|r| !r.can_write())
        {
            self.sig
                .notice
                .set(Some("View only: your keys are not sent.".into()));
            return;
        }
        if !self.send(&ClientMsg::Signal { signal }) {
            self.sig
                .notice
                .set(Some("Not connected: the signal was not sent.".into()));
        }
    }

    /// The manual switch: the next line typed is hidden (a password the shell cannot
    /// announce). The relay answers with `input_mode`.
    pub fn hide_next_line(&self) {
        if self
            .sig
            .role
            .get_untracked()
            .is_some_and(|r| !r.can_write())
        {
            self.sig
                .notice
                .set(Some("View only: you cannot type, hidden or not.".into()));
            return;
        }
        if !self.send(&ClientMsg::HideNextLine) {
            self.sig.notice.set(Some(
                "Not connected: hidden input was not switched on.".into(),
            ));
        }
    }

    pub fn send_resize(&self, cols: u16, rows: u16) {
        self.send(&ClientMsg::Resize { cols, rows });
    }
}

#[cfg(test)]
mod tests {
    use super::sentence;

    #[test]
    fn relay_messages_read_as_sentences() {
        assert_eq!(
            sentence("the share link was revoked"),
            "The share link was revoked."
        );
        assert_eq!(sentence("Gone!"), "Gone!");
        assert_eq!(sentence(" "), "");
    }
}

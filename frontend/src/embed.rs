//! The embed page's side of the postMessage contract (`docs/embedding.md`).
//!
//! The host page's origin comes from `?parent=` and counts only if the relay lists it in
//! `GET /api/embed/info`'s `frame_ancestors`. Events go to that origin only (never `"*"`);
//! commands are taken only from that origin and from `window.parent`. Only a [`Host`]
//! (a checked origin) can post or listen, so nothing reaches an unchecked page.
//!
//! What the app tells the host page, and when, is decided in
//! `components::embed_host`, which follows the session's signals.

use crate::api;
use js_sys::{Object, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use winrelay_shared::protocol::Role;

/// The host page, once its origin is checked ([`check_parent`]).
#[derive(Debug, Clone)]
pub struct Host {
    origin: String,
}

/// A command from the host page.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Focus,
    Fit,
    Theme { light: bool },
    FontSize(f64),
    Token(String),
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// Takes the embed token from the address's fragment (`#embed_token=JWT`) and removes it from
/// the address, so it stays out of history and of any copied link.
pub fn take_token_from_fragment() -> Option<String> {
    let loc = window().location();
    let hash = loc.hash().ok()?;
    let frag = hash.strip_prefix('#').unwrap_or(&hash);
    let token = web_sys::UrlSearchParams::new_with_str(frag)
        .ok()?
        .get("embed_token")
        .filter(|t| !t.is_empty());
    if !frag.is_empty() {
        let url = format!(
            "{}{}",
            loc.pathname().unwrap_or_default(),
            loc.search().unwrap_or_default()
        );
        if let Ok(h) = window().history() {
            let _ = h.replace_state_with_url(&JsValue::NULL, "", Some(&url));
        }
    }
    token
}

/// Checks `parent` against the relay's list; on success events may be posted to it.
pub async fn check_parent(parent: Option<String>) -> Result<Host, String> {
    let framed = window()
        .parent()
        .ok()
        .flatten()
        .is_some_and(|p| !js_sys::Object::is(&p, &window()));
    if !framed {
        return Err("This is the embed page for portals: it only works inside an iframe.".into());
    }
    let Some(parent) = parent.filter(|p| !p.is_empty()) else {
        return Err("The embedding page did not say who it is (`?parent=ORIGIN`).".into());
    };
    let info: api::EmbedInfo = api::get("/api/embed/info").await.map_err(|f| f.message())?;
    if !info.frame_ancestors.iter().any(|a| a == &parent) {
        return Err(format!(
            "The embedding page's origin {parent} is not among the relay's [embed] frame_ancestors."
        ));
    }
    Ok(Host { origin: parent })
}

impl Host {
    fn post(&self, kind: &str, fill: impl FnOnce(&Object)) {
        let Some(parent) = window().parent().ok().flatten() else {
            return;
        };
        let msg = Object::new();
        set(&msg, "source", "winrelay");
        set(&msg, "type", kind);
        fill(&msg);
        let _ = parent.post_message(&msg, &self.origin);
    }

    pub fn post_ready(&self) {
        self.post("ready", |_| {});
    }

    pub fn post_connected(&self, session: &str, target: &str, role: Role) {
        let role = match role {
            Role::Viewer => "viewer",
            Role::Writer => "writer",
            Role::Owner => "owner",
        };
        self.post("connected", |m| {
            set(m, "session", session);
            set(m, "target", target);
            set(m, "role", role);
        });
    }

    pub fn post_exited(&self, code: i32) {
        self.post("exited", |m| set(m, "code", code));
    }

    pub fn post_error(&self, message: &str) {
        self.post("error", |m| set(m, "message", message));
    }

    /// Listens for the host page's commands; `on_command` sees only checked ones.
    pub fn listen(&self, on_command: impl Fn(Command) + 'static) {
        let origin = self.origin.clone();
        let handler =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |e: web_sys::MessageEvent| {
                if e.origin() != origin {
                    return;
                }
                let from_parent = match (e.source(), window().parent().ok().flatten()) {
                    (Some(src), Some(parent)) => js_sys::Object::is(&src, &parent),
                    _ => false,
                };
                if !from_parent {
                    return;
                }
                if let Some(cmd) = parse_command(&e.data()) {
                    on_command(cmd);
                }
            });
        let _ =
            window().add_event_listener_with_callback("message", handler.as_ref().unchecked_ref());
        handler.forget();
    }
}

/// Parses a host page's message; `None` for anything not addressed to us or malformed.
pub fn parse_command(data: &JsValue) -> Option<Command> {
    if !data.is_object() || get(data, "target").as_string().as_deref() != Some("winrelay") {
        return None;
    }
    Some(match get(data, "type").as_string()?.as_str() {
        "focus" => Command::Focus,
        "fit" => Command::Fit,
        "theme" => match get(data, "theme").as_string()?.as_str() {
            "light" => Command::Theme { light: true },
            "dark" => Command::Theme { light: false },
            _ => return None,
        },
        "fontSize" => {
            let size = get(data, "size").as_f64()?;
            if !(6.0..=40.0).contains(&size) {
                return None;
            }
            Command::FontSize(size)
        }
        "token" => Command::Token(get(data, "token").as_string().filter(|t| !t.is_empty())?),
        _ => return None,
    })
}

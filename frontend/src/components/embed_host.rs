//! The embed page's host page (a portal): checks it, takes its commands, and tells it what
//! the session on screen does (`docs/embedding.md`). The socket knows nothing of this: the
//! effects below follow the connection's signals and post to the host page.

use super::terminal::{use_term, Term};
use crate::api;
use crate::app::Look;
use crate::embed::{self, Command, Host};
use crate::page::query_param;
use crate::request::request;
use crate::session::Link;
use leptos::prelude::*;
use winrelay_shared::protocol::SessionState;

/// Starts the embed page: checks the host page, then listens to it, says `ready`, and opens
/// the routes (`started`) when there is a token. Why it cannot start goes to `error`.
#[component]
pub fn EmbedHost(
    token: Option<String>,
    started: WriteSignal<bool>,
    error: RwSignal<Option<String>>,
) -> impl IntoView {
    let term = use_term();
    let look: Look = expect_context();
    let has_token = token.is_some();
    api::set_embed_token(token);
    let host = StoredValue::new_local(None::<Host>);
    let start = request(move |_: &()| {
        let parent = query_param("parent");
        Box::pin(async move {
            let h = match embed::check_parent(parent).await {
                Ok(h) => h,
                Err(msg) => {
                    term.note(&msg);
                    error.set(Some(msg));
                    return;
                }
            };
            h.listen(move |cmd| on_command(cmd, term, look));
            h.post_ready();
            host.set_value(Some(h));
            if !has_token {
                error.set(Some(
                    "No embed token: the host page must put `#embed_token=JWT` in the frame's address."
                        .into(),
                ));
                return;
            }
            started.set(true);
        })
    });
    start.dispatch(());

    let post = move |f: &dyn Fn(&Host)| host.with_value(|h| h.as_ref().map(f));
    // Why the page cannot start or open a shell.
    Effect::new(move |_| {
        if let Some(msg) = error.get() {
            post(&|h| h.post_error(&msg));
        }
    });
    // `connected`, on every (re)connection, with the role the relay gave.
    Effect::new(move |was_up: Option<bool>| {
        let Some((id, sig)) = term.live() else {
            return false;
        };
        let up = sig.link.with(|l| *l == Link::Connected);
        if up && was_up != Some(true) {
            if let Some(role) = sig.role.get_untracked() {
                let target = sig.target.get_untracked();
                post(&|h| h.post_connected(&id, &target, role));
            }
        }
        up
    });
    // `exited` once per session; `error` when the target is lost or the shell failed.
    Effect::new(move |noted: Option<Option<String>>| {
        let noted = noted.flatten();
        let Some((id, sig)) = term.live() else {
            return noted;
        };
        match sig.shell.get() {
            Some(SessionState::Exited { code, .. }) if noted.as_ref() != Some(&id) => {
                post(&|h| h.post_exited(code));
                return Some(id);
            }
            Some(
                SessionState::TargetLost { message, .. } | SessionState::Failed { message, .. },
            ) => {
                post(&|h| h.post_error(&message));
            }
            _ => {}
        }
        noted
    });
    // `error` when the connection is given up (session gone, token refused).
    Effect::new(move |_| {
        let Some((_, sig)) = term.live() else {
            return;
        };
        if sig.lost.get().is_some() {
            if let Link::Closed(why) = sig.link.get_untracked() {
                post(&|h| h.post_error(&why));
            }
        }
    });
}

fn on_command(cmd: Command, term: Term, look: Look) {
    match cmd {
        Command::Focus => term.focus(),
        Command::Fit => {
            term.with(|t| t.fit());
            term.send_size();
        }
        Command::Theme { light } => look.light.set(light),
        Command::FontSize(size) => look.font_size.set(size),
        Command::Token(token) => {
            api::set_embed_token(Some(token));
            term.revive_signed_out();
        }
    }
}

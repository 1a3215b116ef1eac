//! The rarely used parts of the page, kept out of its first load: each `#[wasm_split]`
//! function below goes into a wasm chunk of its own (with the code only it uses) that the
//! page fetches from the relay the first time it shows the part. `scripts/build-frontend.sh`
//! splits the module (wasm-split); the chunks are assets like the others.
//!
//! A part is a function from its arguments to its view; what it needs of the page's state
//! comes in as arguments or through context, as for any component. A chunk that cannot be
//! loaded (the relay was updated under an open page) says so in place of the part, and the
//! next time the part is shown it is tried again. The embed page's parts are here too: every
//! other page goes without them.

use crate::components::sharing::{Request, SharePanel, Sharing};
use crate::components::sign_in::{LoginAgain, SignIn};
use crate::session::ConnSignals;
use leptos::prelude::*;
use leptos::wasm_split::{wasm_split, SplitLoaderError};
use std::future::Future;
use std::pin::Pin;

type Part = Pin<Box<dyn Future<Output = Result<AnyView, SplitLoaderError>>>>;
type Task = Pin<Box<dyn Future<Output = ()>>>;

/// The part's view once its chunk is loaded (nothing until then).
fn later(part: Part) -> AnyView {
    let part = send_wrapper::SendWrapper::new(part);
    Suspend::new(async move {
        part.await.unwrap_or_else(|_| {
            view! {
                <p class="state bad part-failed" role="alert">
                    "This part of the page could not be loaded (the relay may have been updated). Reload the page."
                </p>
            }
            .into_any()
        })
    })
    .into_any()
}

#[wasm_split(signin, wasm_split_path = ::leptos::wasm_split, fallible)]
fn sign_in_part(on_done: Callback<()>, login_again: bool) -> Result<AnyView, SplitLoaderError> {
    Ok(view! {
        <SignIn on_done=on_done/>
        {login_again.then(|| view! { <LoginAgain/> })}
    }
    .into_any())
}

/// The sign-in form (and, with `login_again`, the way to a new login link).
pub fn sign_in(on_done: Callback<()>, login_again: bool) -> AnyView {
    later(Box::pin(sign_in_part(on_done, login_again)))
}

#[wasm_split(sharing, wasm_split_path = ::leptos::wasm_split, fallible)]
fn share_panel_part(sharing: Sharing, sig: ConnSignals) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <SharePanel sharing=sharing sig=sig/> }.into_any())
}

#[wasm_split(sharing, wasm_split_path = ::leptos::wasm_split, fallible)]
fn sharing_request_part(sharing: Sharing, req: Request) -> Result<Task, SplitLoaderError> {
    Ok(crate::components::sharing::run(sharing, req))
}

/// Carries out a request about the session's sharing (a link to create, revoke, ...).
pub async fn sharing_request(sharing: Sharing, req: Request) {
    match sharing_request_part(sharing, req).await {
        Ok(task) => task.await,
        Err(_) => sharing.notice(
            "The sharing part of the page could not be loaded (the relay may have been updated). Reload the page.".into(),
        ),
    }
}

/// The owner's sharing panel.
pub fn share_panel(sharing: Sharing, sig: ConnSignals) -> AnyView {
    later(Box::pin(share_panel_part(sharing, sig)))
}

#[wasm_split(recordings, wasm_split_path = ::leptos::wasm_split, fallible)]
fn recordings_part() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::components::recordings::Recordings/> }.into_any())
}

/// `/recordings`.
pub fn recordings() -> AnyView {
    later(Box::pin(recordings_part()))
}

#[wasm_split(replay, wasm_split_path = ::leptos::wasm_split, fallible)]
fn replay_part(id: String) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::replay::Replay id=id/> }.into_any())
}

/// `/recordings/ID`: the player.
pub fn replay(id: String) -> AnyView {
    later(Box::pin(replay_part(id)))
}

#[wasm_split(fleet, wasm_split_path = ::leptos::wasm_split, fallible)]
fn fleet_part(service: String) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::components::fleet::Fleet service=service/> }.into_any())
}

/// `/fleet/SERVICE`.
pub fn fleet(service: String) -> AnyView {
    later(Box::pin(fleet_part(service)))
}

#[wasm_split(settings, wasm_split_path = ::leptos::wasm_split, fallible)]
fn settings_part() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::components::settings::SettingsPanel/> }.into_any())
}

/// The settings panel.
pub fn settings() -> AnyView {
    later(Box::pin(settings_part()))
}

#[wasm_split(search, wasm_split_path = ::leptos::wasm_split, fallible)]
fn search_part() -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::components::search::SearchBox/> }.into_any())
}

/// The search box.
pub fn search() -> AnyView {
    later(Box::pin(search_part()))
}

#[wasm_split(embed, wasm_split_path = ::leptos::wasm_split, fallible)]
fn embed_host_part(
    token: Option<String>,
    started: WriteSignal<bool>,
    error: RwSignal<Option<String>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::components::embed_host::EmbedHost token=token started=started error=error/> }.into_any())
}

/// The embed page's link with its host page (only the embed page has one).
pub fn embed_host(
    token: Option<String>,
    started: WriteSignal<bool>,
    error: RwSignal<Option<String>>,
) -> AnyView {
    later(Box::pin(embed_host_part(token, started, error)))
}

#[wasm_split(embed, wasm_split_path = ::leptos::wasm_split, fallible)]
fn embed_opener_part(
    target: String,
    failed: WriteSignal<Option<String>>,
) -> Result<AnyView, SplitLoaderError> {
    Ok(view! { <crate::components::opener::EmbedOpener target=target failed=failed/> }.into_any())
}

/// `/embed/open/TARGET`.
pub fn embed_opener(target: String, failed: WriteSignal<Option<String>>) -> AnyView {
    later(Box::pin(embed_opener_part(target, failed)))
}

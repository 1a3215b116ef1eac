//! `/open/TARGET` and `/embed/open/TARGET`: creates a session, then replaces the address
//! with the session's (`/s/ID`).

use super::sign_in::{asks_for_credentials, CredentialForm, Credentials};
use super::terminal::use_term;
use crate::api;
use crate::components::when::When;
use crate::nav::use_nav;
use crate::request::request;
use crate::route::Route;
use leptos::prelude::*;
use winrelay_shared::protocol::api::SessionInfo;

/// Opens a shell on `target`, with the credentials the picker handed over; asks for
/// credentials again right here when they were wrong or missing.
#[component]
pub fn Opener(target: String) -> impl IntoView {
    let nav = use_nav();
    let term = use_term();
    // Why opening failed, and whether the target wants (other) credentials.
    let refused = RwSignal::new(None::<String>);
    let ask = RwSignal::new(false);
    // The relay wants a sign-in first: the form is right here ("Sign in below").
    let sign_in = RwSignal::new(false);
    let name = StoredValue::new(target);
    let open = request(move |creds: &Option<Credentials>| {
        refused.set(None);
        let target = name.get_value();
        // The picker's click sent the request already (`Nav::open_now`); else it goes out
        // now, before the note below.
        let sent = creds
            .is_none()
            .then(|| nav.take_creating(&target))
            .flatten();
        let creating = sent.unwrap_or_else(|| {
            let login = creds.as_ref().map(|c| (c.user.clone(), c.password.clone()));
            api::create_session(&target, login, term.size())
        });
        term.reset_with_note(&format!("Opening a shell on {target}…"));
        Box::pin(async move {
            match creating.await {
                Ok(s) => nav.navigate(Route::Session(s.id), true),
                Err(fail) => {
                    let message = fail.message();
                    term.note(&message);
                    ask.set(asks_for_credentials(&fail));
                    sign_in.set(fail.code() == Some(api::FailureCode::NotSignedIn));
                    refused.set(Some(message));
                }
            }
        })
    });
    open.dispatch(nav.take_credentials());
    view! {
        <When when=move || refused.with(Option::is_some)>
            <div class="overlay">
                <div class="card">
                    <h2>"Could not open a shell on " {name.get_value()}</h2>
                    <p class="open-error">{move || refused.get()}</p>
                    <When when=move || sign_in.get()>
                        {crate::lazy::sign_in(Callback::new(move |_: ()| { open.dispatch(None); }), false)}
                    </When>
                    <When when=move || ask.get()>
                        <CredentialForm class="credentials" on_submit=move |c| { open.dispatch(Some(c)); }>
                            "Connect"
                        </CredentialForm>
                    </When>
                    <button on:click=move |_| nav.navigate(Route::Home, false)>"Back to targets"</button>
                </div>
            </div>
        </When>
    }
}

/// Opens a shell with the embed token (the token names the target), then attaches to it.
#[component]
pub fn EmbedOpener(target: String, failed: WriteSignal<Option<String>>) -> impl IntoView {
    let nav = use_nav();
    let term = use_term();
    term.reset_with_note(&format!("Opening a shell on {target}…"));
    let open = request(move |_: &()| {
        let (cols, rows) = term.size();
        Box::pin(async move {
            match api::post::<SessionInfo>(
                "/api/embed/session",
                &api::EmbedOpen {
                    cols: Some(cols),
                    rows: Some(rows),
                },
            )
            .await
            {
                Ok(s) => nav.navigate(Route::Session(s.id), true),
                Err(f) => {
                    let msg = f.message();
                    term.note(&msg);
                    failed.set(Some(msg));
                }
            }
        })
    });
    open.dispatch(());
}

//! The one user-name-and-password form, used for both kinds of credentials: signing in to
//! the relay (`POST /api/login`) and a target that asks who connects
//! (`ask_credentials`, sent along with `POST /api/sessions`).

use crate::account::use_account;
use crate::api::{self, ApiFail, Me};
use crate::components::when::When;
use crate::request::request;
use leptos::ev;
use leptos::prelude::*;
use std::time::Duration;

/// A user name and password as typed; never stored beyond the request they are sent with.
#[derive(Clone)]
pub struct Credentials {
    pub user: String,
    pub password: String,
}

/// Whether `fail` means the target wants (other) credentials: show the form again.
pub fn asks_for_credentials(fail: &ApiFail) -> bool {
    fail.code().is_some_and(|c| c.asks_for_credentials())
}

/// User name, password and a submit button (`children` are its label). `class` names the
/// form and, with `-user` and `-pass`, its two inputs; `disabled` holds the button back.
#[component]
pub fn CredentialForm(
    class: &'static str,
    #[prop(optional)] disabled: Option<Memo<bool>>,
    #[prop(into)] on_submit: Callback<Credentials>,
    children: Children,
) -> impl IntoView {
    let user = RwSignal::new(String::new());
    let pass = RwSignal::new(String::new());
    let disabled = move || disabled.is_some_and(|d| d.get());
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if untrack(disabled) {
            return;
        }
        on_submit.run(Credentials {
            user: user.get_untracked(),
            password: pass.get_untracked(),
        });
    };
    view! {
        <form class=class on:submit=submit>
            <input class=format!("{class}-user") type="text" placeholder="User name" autocomplete="username"
                prop:value=move || user.get() on:input=move |e| user.set(event_target_value(&e))/>
            <input class=format!("{class}-pass") type="password" placeholder="Password" autocomplete="current-password"
                prop:value=move || pass.get() on:input=move |e| pass.set(event_target_value(&e))/>
            <button class="primary" type="submit" disabled=disabled>{children()}</button>
        </form>
    }
}

/// The sign-in form for local users (`POST /api/login`); `on_done` runs once signed in.
#[component]
pub fn SignIn(#[prop(into)] on_done: Callback<()>) -> impl IntoView {
    let account = use_account();
    // Seconds left before the relay takes another attempt (429 Retry-After).
    let wait = RwSignal::new(0u32);
    let error = RwSignal::new(None::<String>);
    let login = request(move |c: &Credentials| {
        let body = api::PasswordLogin {
            user: c.user.clone(),
            password: c.password.clone(),
        };
        Box::pin(async move {
            match api::post::<Me>("/api/login", &body).await {
                Ok(me) => {
                    error.set(None);
                    account.signed_in(me);
                    // The form may be gone by now (the page moved on meanwhile).
                    on_done.try_run(());
                }
                Err(f) => {
                    if let Some(secs) = f.retry_after().filter(|_| f.status() == Some(429)) {
                        count_down(wait, secs.max(1));
                    }
                    error.set(Some(f.message()));
                }
            }
        })
    });
    let pending = login.pending();
    let held = Memo::new(move |_| pending.get() || wait.get() != 0);
    view! {
        <CredentialForm class="signin" disabled=held on_submit=move |c| { login.dispatch(c); }>
            {move || match wait.get() {
                0 => "Sign in".to_string(),
                n => format!("Wait {n} s"),
            }}
        </CredentialForm>
        <When when=move || error.with(Option::is_some)>
            <p class="signin-failed state bad">{move || error.get()}</p>
        </When>
    }
}

/// Counts `wait` down to zero, one per second.
fn count_down(wait: RwSignal<u32>, secs: u32) {
    wait.set(secs);
    let handle: std::rc::Rc<std::cell::Cell<Option<IntervalHandle>>> = Default::default();
    let h = handle.clone();
    handle.set(
        set_interval_with_handle(
            move || {
                // The form may be gone (the page moved on): then stop counting.
                let left = wait.try_get_untracked().map_or(0, |w| w.saturating_sub(1));
                wait.try_set(left);
                if left == 0 {
                    if let Some(t) = h.take() {
                        t.clear();
                    }
                }
            },
            Duration::from_secs(1),
        )
        .ok(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use winrelay_shared::api::{ApiError, FailureCode};

    fn fail(code: FailureCode) -> ApiFail {
        ApiFail::Status {
            status: 400,
            error: ApiError::new(code, ""),
            retry_after: None,
        }
    }

    #[test]
    fn asks_again_for_missing_or_wrong_target_credentials_only() {
        assert!(asks_for_credentials(&fail(
            FailureCode::CredentialsRequired
        )));
        assert!(asks_for_credentials(&fail(FailureCode::WrongCredentials)));
        assert!(!asks_for_credentials(&fail(FailureCode::UnknownTarget)));
        assert!(!asks_for_credentials(&fail(
            FailureCode::CertificateMismatch
        )));
        assert!(!asks_for_credentials(&ApiFail::Network));
    }
}

/// The relay's answer to `POST /api/login/link`.
#[derive(serde::Deserialize)]
struct Printed {
    message: String,
}

/// For someone with no password (the demo signs in with one-time links): asks the relay to
/// print a new login link where it runs. Works only from the relay's own machine; the page
/// never sees the link.
#[component]
pub fn LoginAgain() -> impl IntoView {
    let said = RwSignal::new(None::<String>);
    let ask = request(move |_: &()| {
        Box::pin(async move {
            let text = match api::post::<Printed>("/api/login/link", &()).await {
                Ok(p) => p.message,
                Err(f) => f.message(),
            };
            said.set(Some(text));
        })
    });
    view! {
        <p class="login-again muted">
            "No password? The demo signs you in with a one-time link printed where the relay runs. "
            <button class="print-login-link" on:click=move |_| { ask.dispatch(()); }>"Print a new login link"</button>
        </p>
        <When when=move || said.with(Option::is_some)>
            <p class="login-again-said" role="status">{move || said.get().unwrap_or_default()}</p>
        </When>
    }
}

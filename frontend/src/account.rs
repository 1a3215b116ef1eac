//! Who is signed in (`GET /api/me`), signing out, and the sign-in's state for every
//! component that depends on it.

use crate::api::{self, ApiFail, Me};
use crate::nav::Nav;
use crate::request::request;
use crate::route::Route;
use leptos::prelude::*;

/// The sign-in, handed to components through context (`use_context::<Account>()`).
#[derive(Clone, Copy)]
pub struct Account {
    /// Who is signed in (`None` while asking).
    pub me: ReadSignal<Option<Result<Me, ApiFail>>>,
    set_me: WriteSignal<Option<Result<Me, ApiFail>>>,
    refresh: Action<(), ()>,
    /// A refresh is on its way: another one (the picker mounting while the app's first one
    /// is out) would only ask the same again.
    asking: StoredValue<bool>,
    sign_out: Action<(), ()>,
}

impl Account {
    pub fn new(nav: Nav) -> Account {
        let (me, set_me) = signal(None);
        let asking = StoredValue::new(false);
        let refresh = request(move |_: &()| {
            asking.set_value(true);
            Box::pin(async move {
                let me = api::get::<Me>("/api/me").await;
                asking.set_value(false);
                if me.is_ok() {
                    remember_signed_in();
                }
                set_me.set(Some(me));
            })
        });
        let sign_out = request(move |_: &()| {
            Box::pin(async move {
                if let Err(f) = api::send("POST", "/api/logout", None).await {
                    web_sys::console::warn_1(&f.message().into());
                }
                nav.navigate(Route::Home, false);
                refresh.dispatch(());
            })
        });
        Account {
            me,
            set_me,
            refresh,
            asking,
            sign_out,
        }
    }

    /// Asks the relay who is signed in (unless that question is already out).
    pub fn refresh(&self) {
        if !self.asking.get_value() {
            self.refresh.dispatch(());
        }
    }

    pub fn sign_out(&self) {
        self.sign_out.dispatch(());
    }

    /// The sign-in form succeeded.
    pub fn signed_in(&self, me: Me) {
        remember_signed_in();
        self.set_me.set(Some(Ok(me)));
    }

    /// Whether this browser was ever signed in to the relay: a refused sign-in then means
    /// "signed out", otherwise "not signed in yet".
    pub fn was_signed_in(&self) -> bool {
        crate::page::storage_get(SIGNED_IN_KEY).is_some()
    }

    /// Whether the relay said "not signed in" (tracked).
    pub fn signed_out(&self) -> bool {
        self.me.with(is_signed_out)
    }

    pub fn signed_out_untracked(&self) -> bool {
        self.me.with_untracked(is_signed_out)
    }
}

const SIGNED_IN_KEY: &str = "winrelay.signedIn";

fn remember_signed_in() {
    crate::page::storage_set(SIGNED_IN_KEY, "1");
}

fn is_signed_out(me: &Option<Result<Me, ApiFail>>) -> bool {
    matches!(me, Some(Err(f)) if f.status() == Some(401))
}

pub fn use_account() -> Account {
    expect_context()
}

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
    sign_out: Action<(), ()>,
}

impl Account {
    pub fn new(nav: Nav) -> Account {
        let (me, set_me) = signal(None);
        let refresh = request(move |_: &()| {
            Box::pin(async move {
                set_me.set(Some(api::get::<Me>("/api/me").await));
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
            sign_out,
        }
    }

    /// Asks the relay who is signed in.
    pub fn refresh(&self) {
        self.refresh.dispatch(());
    }

    pub fn sign_out(&self) {
        self.sign_out.dispatch(());
    }

    /// The sign-in form succeeded.
    pub fn signed_in(&self, me: Me) {
        self.set_me.set(Some(Ok(me)));
    }

    /// Whether the relay said "not signed in" (tracked).
    pub fn signed_out(&self) -> bool {
        self.me.with(is_signed_out)
    }

    pub fn signed_out_untracked(&self) -> bool {
        self.me.with_untracked(is_signed_out)
    }
}

fn is_signed_out(me: &Option<Result<Me, ApiFail>>) -> bool {
    matches!(me, Some(Err(f)) if f.status() == Some(401))
}

pub fn use_account() -> Account {
    expect_context()
}

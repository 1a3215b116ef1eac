//! Where the page is: the route in the address bar, and moving between routes.

use crate::api;
use crate::components::sign_in::Credentials;
use crate::page::window;
use crate::route::{self, Route};
use leptos::ev;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

/// The page's route, handed to components through context (`use_context::<Nav>()`).
#[derive(Clone, Copy)]
pub struct Nav {
    pub route: ReadSignal<Route>,
    set_route: WriteSignal<Route>,
    /// The embed page (`/embed/...`): the terminal only, for portals. Fixed for the page's
    /// lifetime.
    pub embed: bool,
    /// Credentials typed in the picker for the next `/open/TARGET`: taken once by the opener
    /// and never stored anywhere else (not in the address, not in storage).
    handoff: StoredValue<Option<Credentials>, LocalStorage>,
    /// The session the picker started creating for the next `/open/TARGET` (the target and
    /// the request on its way): taken once by the opener.
    creating: StoredValue<Option<(String, api::Creating)>, LocalStorage>,
}

impl Nav {
    /// Reads the route from the address and follows the browser's back and forward buttons.
    pub fn from_address() -> Nav {
        crate::session::take_share_from_address();
        let (route, embed) = route::parse(&window().location().pathname().unwrap_or_default());
        let (route, set_route) = signal(route);
        let _ = window_event_listener(ev::popstate, move |_| {
            let (r, _) = route::parse(&window().location().pathname().unwrap_or_default());
            set_route.set(r);
        });
        Nav {
            route,
            set_route,
            embed,
            handoff: StoredValue::new_local(None),
            creating: StoredValue::new_local(None),
        }
    }

    /// Moves to `route`, keeping the query string (`?renderer=dom`).
    pub fn navigate(&self, route: Route, replace: bool) {
        let search = window().location().search().unwrap_or_default();
        let url = format!("{}{}", route::path(&route, self.embed), search);
        if let Ok(h) = window().history() {
            let _ = if replace {
                h.replace_state_with_url(&JsValue::NULL, "", Some(&url))
            } else {
                h.push_state_with_url(&JsValue::NULL, "", Some(&url))
            };
        }
        self.set_route.set(route);
    }

    /// Opens a shell on `target` with the credentials its owner asked for.
    pub fn open_with(&self, target: String, creds: Credentials) {
        self.handoff.set_value(Some(creds));
        self.navigate(Route::Open(target), false);
    }

    /// Opens a shell on `target` (one that asks no credentials), in a terminal of
    /// `cols` x `rows`: the request that creates it goes out first, and the page changes
    /// while it travels; the opener takes its answer.
    pub fn open_now(&self, target: String, size: (u16, u16)) {
        let creating = api::create_session(&target, None, size);
        self.creating.set_value(Some((target.clone(), creating)));
        self.navigate(Route::Open(target), false);
    }

    /// The request [`Nav::open_now`] sent for `target`, once.
    pub fn take_creating(&self, target: &str) -> Option<api::Creating> {
        let (to, creating) = self.creating.try_update_value(Option::take).flatten()?;
        (to == target).then_some(creating)
    }

    /// The credentials handed over by [`Nav::open_with`], once.
    pub fn take_credentials(&self) -> Option<Credentials> {
        self.handoff.try_update_value(Option::take).flatten()
    }
}

pub fn use_nav() -> Nav {
    expect_context()
}

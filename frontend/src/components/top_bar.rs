//! The bar above the terminal (not on the embed page): where the page is, search, zoom,
//! theme, and who is signed in.

use super::terminal::use_term;
use crate::account::use_account;
use crate::app::Look;
use crate::components::when::When;
use crate::nav::use_nav;
use crate::route::Route;
use leptos::ev;
use leptos::prelude::*;

#[component]
pub fn TopBar() -> impl IntoView {
    let nav = use_nav();
    let account = use_account();
    let term = use_term();
    let look: Look = expect_context();
    let home = move |e: ev::MouseEvent| {
        e.prevent_default();
        nav.navigate(Route::Home, false);
    };
    view! {
        <div class="topbar">
            <a class="brand" href="/" on:click=home>"winrelay"</a>
            <span class="muted where">{move || match nav.route.get() {
                Route::Home => "sessions".to_string(),
                Route::Open(t) => format!("opening {t}…"),
                Route::Session(id) => format!("session {id}"),
                Route::Recordings => "recordings".to_string(),
                Route::Replay(id) => format!("recording {id}"),
                Route::Fleet(s) => format!("service {s}"),
            }}</span>
            <span class="spacer"></span>
            <button title="Search the scrollback (Ctrl+Shift+F)" on:click=move |_| term.open_search()>"Search"</button>
            <button title="Smaller text (Ctrl+-)" on:click=move |_| look.font_size.update(|s| *s = (*s - 1.0).max(6.0))>"A−"</button>
            <button title="Larger text (Ctrl+=)" on:click=move |_| look.font_size.update(|s| *s = (*s + 1.0).min(40.0))>"A+"</button>
            <button class="settings-button" title="Font, scrollback, copy and paste, cursor, theme"
                on:click=move |_| look.settings_open.update(|o| *o = !*o)>"Settings"</button>
            <button class="screen-reader" title="Screen-reader mode: the terminal's rows as text a screen reader can read, new output announced"
                aria-pressed=move || if look.screen_reader.get() { "true" } else { "false" }
                on:click=move |_| look.screen_reader.update(|v| *v = !*v)>"Reader"</button>
            <button class="theme" title="Light or dark theme" on:click=move |_| look.light.update(|l| *l = !*l)>
                {move || if look.light.get() { "Dark" } else { "Light" }}
            </button>
            {move || match account.me.get() {
                Some(Ok(me)) => {
                    let can_sign_out = matches!(me.method, crate::api::Method::Link | crate::api::Method::Password);
                    view! {
                        <a class="button recordings-link" href="/recordings" on:click=move |e: ev::MouseEvent| {
                            e.prevent_default();
                            nav.navigate(Route::Recordings, false);
                        }>"Recordings"</a>
                        <span class="user" title="Signed in">{me.user}</span>
                        <When when=move || can_sign_out>
                            <button class="signout" on:click=move |_| account.sign_out()>"Sign out"</button>
                        </When>
                    }.into_any()
                }
                Some(Err(f)) if f.status() == Some(401) => view! {
                    <span class="state bad signed-out">"not signed in"</span>
                }.into_any(),
                _ => ().into_any(),
            }}
        </div>
    }
}

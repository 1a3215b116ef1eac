//! The root component: makes the app's shared state, hands it to the components through
//! context, keeps the page's look in step, and lays out the terminal, the top bar and the
//! view of the current route.

use crate::account::Account;
use crate::components::key_bar::KeyBar;
use crate::components::opener::Opener;
use crate::components::overlays::{CannotStart, PasteDialog};
use crate::components::picker::Picker;
use crate::components::session_view::SessionView;
use crate::components::terminal::{Term, TerminalPane};
use crate::components::top_bar::TopBar;
use crate::components::when::When;
use crate::embed;
use crate::nav::Nav;
use crate::page::{query_param, storage_get, storage_set, window};
use crate::route::Route;
use crate::term::{TermView, DEFAULT_FONT_SIZE};
use leptos::prelude::*;

/// The page's look: theme and text size, changed by the top bar, the zoom keys and the
/// embed page's host. Handed to components through context.
#[derive(Clone, Copy)]
pub struct Look {
    pub light: RwSignal<bool>,
    pub font_size: RwSignal<f64>,
    /// xterm.js's screen-reader mode (an accessible copy of the rows, announcements).
    pub screen_reader: RwSignal<bool>,
    /// The settings panel is open.
    pub settings_open: RwSignal<bool>,
}

impl Look {
    /// Dark unless the user picked light: terminal people expect it. A portal sets the look
    /// with `?theme=`, `?fontSize=` (and `?fontFamily=`); the embed page remembers nothing.
    fn from_page(embed: bool) -> Look {
        let light = match query_param("theme").as_deref() {
            Some("light") => true,
            Some("dark") => false,
            _ => !embed && storage_get("winrelay.theme").is_some_and(|t| t == "light"),
        };
        let stored_size = (!embed).then(|| storage_get("winrelay.fontSize")).flatten();
        let font_size = query_param("fontSize")
            .or(stored_size)
            // JS's number parsing: Rust's f64 parsing and printing are 6 KB of wasm.
            .map(|s| js_sys::Number::parse_float(&s))
            .filter(|s: &f64| (6.0..=40.0).contains(s))
            .unwrap_or(DEFAULT_FONT_SIZE);
        let screen_reader = query_param("screenReader")
            .map(|v| v == "1")
            .unwrap_or_else(|| {
                !embed && storage_get("winrelay.screenReader").is_some_and(|v| v == "1")
            });
        Look {
            light: RwSignal::new(light),
            font_size: RwSignal::new(font_size),
            screen_reader: RwSignal::new(screen_reader),
            settings_open: RwSignal::new(false),
        }
    }

    /// Keeps the page, the terminal and (outside the embed page) local storage in step.
    fn follow(self, term: Term, embed: bool) {
        Effect::new(move |_| {
            let light = self.light.get();
            let name = if light { "light" } else { "dark" };
            if let Some(root) = window().document().and_then(|d| d.document_element()) {
                let _ = root.set_attribute("data-theme", name);
            }
            term.with(|t| t.set_theme(light));
            if !embed {
                storage_set("winrelay.theme", name);
            }
        });
        Effect::new(move |_| {
            let on = self.screen_reader.get();
            term.with(|t| t.set_screen_reader(on));
            if !embed {
                storage_set("winrelay.screenReader", if on { "1" } else { "0" });
            }
        });
        Effect::new(move |_| {
            let size = self.font_size.get();
            term.with(|t| t.set_font_size(size));
            if !embed {
                let text = js_sys::Number::from(size)
                    .to_string_with_radix(10)
                    .map(String::from);
                storage_set("winrelay.fontSize", &text.unwrap_or_default());
            }
        });
    }
}

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let nav = Nav::from_address();
    let embed = nav.embed;
    // The embed token rides in the fragment: take it before anything else reads the address.
    let embed_token = embed.then(embed::take_token_from_fragment).flatten();
    let look = Look::from_page(embed);
    let stored_family = (!embed)
        .then(|| storage_get(crate::components::settings::FONT_FAMILY))
        .flatten();
    let font_family = query_param("fontFamily")
        .or(stored_family)
        .filter(|f| !f.trim().is_empty() && f.len() < 200);
    let term = Term::new(TermView::new(
        look.light.get_untracked(),
        look.font_size.get_untracked(),
        font_family.as_deref(),
    ));
    let account = Account::new(nav);
    if !embed {
        term.with(crate::components::settings::apply_stored);
    }
    provide_context(nav);
    provide_context(look);
    provide_context(term);
    provide_context(account);
    look.follow(term, embed);

    // The routes render at once, or on the embed page once its host page is checked.
    let (started, set_started) = signal(!embed);
    // Why the embed page cannot start (shown instead of the routes).
    let embed_error = RwSignal::new(None::<String>);
    if !embed {
        account.refresh();
    }

    if let Some(boot) = window()
        .document()
        .and_then(|d| d.get_element_by_id("boot"))
    {
        boot.remove();
    }

    let route = nav.route;
    view! {
        <div class="app" class:embed=embed data-wasm="started" data-renderer=move || term.renderer.get()>
            {(!embed).then(|| view! { <TopBar/> })}
            {embed.then(|| crate::lazy::embed_host(embed_token, set_started, embed_error))}
            <div class="term-wrap">
                <TerminalPane/>
                <When when=move || term.search_open.get()>
                    {crate::lazy::search()}
                </When>
                <PasteDialog/>
                <When when=move || look.settings_open.get()>
                    {crate::lazy::settings()}
                </When>
                <CannotStart error=embed_error.read_only()/>
                {move || match (started.get(), route.get()) {
                    (false, _) => ().into_any(),
                    (_, Route::Home) if embed => ().into_any(),
                    (_, Route::Home) => view! { <Picker/> }.into_any(),
                    (_, Route::Open(target)) if embed => {
                        crate::lazy::embed_opener(target, embed_error.write_only())
                    }
                    (_, Route::Open(target)) => view! { <Opener target=target/> }.into_any(),
                    (_, Route::Recordings) => crate::lazy::recordings(),
                    (_, Route::Fleet(service)) => crate::lazy::fleet(service),
                    (_, Route::Session(_) | Route::Replay(_)) => ().into_any(),
                }}
            </div>
            {move || match (started.get(), route.get()) {
                (true, Route::Session(id)) => view! { <SessionView id=id/> }.into_any(),
                (true, Route::Replay(id)) => crate::lazy::replay(id),
                _ => ().into_any(),
            }}
            <KeyBar/>
        </div>
    }
}

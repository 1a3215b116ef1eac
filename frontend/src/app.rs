//! The app: a full-window terminal, a top bar, the target picker and the session view.

use crate::api::{self, ApiFail, Me};
use crate::embed;
use crate::route::{self, Route};
use crate::session::{self, ConnSignals, Link, Lost};
use crate::term::{TermView, DEFAULT_FONT_SIZE};
use leptos::ev;
use leptos::html;
use leptos::prelude::*;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use winrelay_shared::protocol::api::{CreateSession, SessionInfo, TargetInfo};
use winrelay_shared::protocol::{Role, SessionState, Signal};

/// Pasting more lines than this asks first.
const PASTE_CONFIRM_LINES: usize = 3;

/// App-wide state, handed to components through context.
#[derive(Clone, Copy)]
struct Ctx {
    term: StoredValue<TermView, LocalStorage>,
    route: RwSignal<Route>,
    embed: RwSignal<bool>,
    light: RwSignal<bool>,
    font_size: RwSignal<f64>,
    renderer: RwSignal<&'static str>,
    search_open: RwSignal<bool>,
    paste_pending: RwSignal<Option<String>>,
    ctrl_sticky: RwSignal<bool>,
    /// Who is signed in (`None` while asking).
    me: RwSignal<Option<Result<Me, ApiFail>>>,
    /// Whether the routes may render: at once, or on the embed page once its host page's
    /// origin is checked.
    gate: RwSignal<bool>,
    /// Why the embed page cannot start (shown instead of the routes).
    embed_error: RwSignal<Option<String>>,
}

thread_local! {
    /// The app's state, also reachable from socket, timer and xterm.js callbacks, which run
    /// outside any reactive owner (so `use_context` would find nothing there).
    static CTX: std::cell::OnceCell<Ctx> = const { std::cell::OnceCell::new() };
}

fn ctx() -> Ctx {
    CTX.with(|c| {
        *c.get()
            .expect("App sets the context before anything uses it")
    })
}

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

fn storage_get(key: &str) -> Option<String> {
    window()
        .local_storage()
        .ok()
        .flatten()?
        .get_item(key)
        .ok()
        .flatten()
}

fn storage_set(key: &str, value: &str) {
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = s.set_item(key, value);
    }
}

fn query_param(name: &str) -> Option<String> {
    let search = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

/// Moves to `route`, keeping the query string (`?renderer=dom`).
fn navigate(route: Route, replace: bool) {
    let c = ctx();
    let search = window().location().search().unwrap_or_default();
    let url = format!("{}{}", route::path(&route, c.embed.get_untracked()), search);
    if let Ok(h) = window().history() {
        let _ = if replace {
            h.replace_state_with_url(&JsValue::NULL, "", Some(&url))
        } else {
            h.push_state_with_url(&JsValue::NULL, "", Some(&url))
        };
    }
    c.route.set(route);
}

fn clipboard_write(text: String) {
    let clip = window().navigator().clipboard();
    let _ = clip.write_text(&text);
}

/// Sends terminal input to the session on screen, applying the touch bar's sticky Ctrl.
fn send_input(data: &str) {
    let c = ctx();
    let mut data = data.to_string();
    if c.ctrl_sticky.get_untracked() {
        c.ctrl_sticky.set(false);
        if let Some(ch) = data.chars().next().filter(|_| data.chars().count() == 1) {
            let up = ch.to_ascii_uppercase();
            if ('@'..='_').contains(&up) {
                data = ((up as u8) & 0x1f).to_string_char();
            }
        }
    }
    session::with_current(|conn| conn.send_input(&data));
}

trait ToStringChar {
    fn to_string_char(self) -> String;
}
impl ToStringChar for u8 {
    fn to_string_char(self) -> String {
        char::from(self).to_string()
    }
}

fn paste_text(text: String) {
    let c = ctx();
    if text.lines().count() > PASTE_CONFIRM_LINES {
        c.paste_pending.set(Some(text));
    } else {
        c.term.with_value(|t| t.term.paste(&text));
    }
}

/// The root component.
#[component]
pub fn App() -> impl IntoView {
    let (route, embed) = route::parse(&window().location().pathname().unwrap_or_default());
    // The embed token rides in the fragment: take it before anything else reads the address.
    let embed_token = embed.then(embed::take_token_from_fragment).flatten();
    // Dark unless the user picked light: terminal people expect it. A portal sets the look
    // with `?theme=`, `?fontSize=` and `?fontFamily=`.
    let light = match query_param("theme").as_deref() {
        Some("light") => true,
        Some("dark") => false,
        _ => !embed && storage_get("winrelay.theme").is_some_and(|t| t == "light"),
    };
    let stored_size = (!embed).then(|| storage_get("winrelay.fontSize")).flatten();
    let font_size = query_param("fontSize")
        .or(stored_size)
        .and_then(|s| s.parse().ok())
        .filter(|s: &f64| (6.0..=40.0).contains(s))
        .unwrap_or(DEFAULT_FONT_SIZE);
    let font_family = query_param("fontFamily").filter(|f| !f.is_empty() && f.len() < 200);
    let c = Ctx {
        term: StoredValue::new_local(TermView::new(light, font_size, font_family.as_deref())),
        route: RwSignal::new(route),
        embed: RwSignal::new(embed),
        light: RwSignal::new(light),
        font_size: RwSignal::new(font_size),
        renderer: RwSignal::new("none"),
        search_open: RwSignal::new(false),
        paste_pending: RwSignal::new(None),
        ctrl_sticky: RwSignal::new(false),
        me: RwSignal::new(None),
        gate: RwSignal::new(!embed),
        embed_error: RwSignal::new(None),
    };
    CTX.with(|cell| {
        let _ = cell.set(c);
    });

    let _ = window_event_listener(ev::popstate, move |_| {
        let (r, _) = route::parse(&window().location().pathname().unwrap_or_default());
        c.route.set(r);
    });

    Effect::new(move |_| {
        let light = c.light.get();
        if let Some(root) = window().document().and_then(|d| d.document_element()) {
            let _ = root.set_attribute("data-theme", if light { "light" } else { "dark" });
        }
        c.term.with_value(|t| t.set_theme(light));
        if !embed {
            storage_set("winrelay.theme", if light { "light" } else { "dark" });
        }
    });
    Effect::new(move |_| {
        let size = c.font_size.get();
        c.term.with_value(|t| t.set_font_size(size));
        if !embed {
            storage_set("winrelay.fontSize", &size.to_string());
        }
    });
    if embed {
        start_embed(embed_token);
    } else {
        refresh_me();
    }

    if let Some(boot) = window()
        .document()
        .and_then(|d| d.get_element_by_id("boot"))
    {
        boot.remove();
    }

    let term_ref = NodeRef::<html::Div>::new();
    term_ref.on_load(move |el| mount_terminal(el.unchecked_into()));

    view! {
        <div class="app" class:embed=embed data-wasm="started" data-renderer=move || c.renderer.get()>
            <Show when=move || !c.embed.get()>
                <TopBar/>
            </Show>
            <div class="term-wrap">
                <div class="term" node_ref=term_ref></div>
                <Show when=move || c.search_open.get()>
                    <SearchBox/>
                </Show>
                <PasteDialog/>
                <Show when=move || c.embed_error.with(|e| e.is_some())>
                    <div class="overlay"><div class="card">
                        <h2>"This terminal cannot start"</h2>
                        <p class="embed-error">{move || c.embed_error.get()}</p>
                    </div></div>
                </Show>
                {move || match (c.gate.get(), c.route.get()) {
                    (false, _) => ().into_any(),
                    (_, Route::Home) if embed => ().into_any(),
                    (_, Route::Home) => view! { <Picker/> }.into_any(),
                    (_, Route::Open(target)) if embed => view! { <EmbedOpener target=target/> }.into_any(),
                    (_, Route::Open(target)) => view! { <Opener target=target/> }.into_any(),
                    (_, Route::Recordings) => view! { <Recordings/> }.into_any(),
                    (_, Route::Session(_) | Route::Replay(_)) => ().into_any(),
                }}
            </div>
            {move || match (c.gate.get(), c.route.get()) {
                (true, Route::Session(id)) => view! { <SessionView id=id/> }.into_any(),
                (true, Route::Replay(id)) => {
                    let term = c.term.get_value();
                    view! { <crate::replay::Replay id=id term=term/> }.into_any()
                }
                _ => ().into_any(),
            }}
            <KeyBar/>
        </div>
    }
}

/// Opens xterm.js in its element and wires input, resize, keys and paste.
fn mount_terminal(el: web_sys::HtmlElement) {
    let c = ctx();
    let force_dom = query_param("renderer").is_some_and(|r| r == "dom");
    c.term.with_value(|t| {
        let renderer = c.renderer;
        t.open(&el, force_dom, move |r| renderer.set(r));
        let data = Closure::<dyn FnMut(String)>::new(move |d: String| send_input(&d));
        t.term.on_data(data.as_ref().unchecked_ref());
        data.forget();

        // Resizes reach the relay debounced: dragging a window edge fires dozens.
        let pending: std::rc::Rc<std::cell::RefCell<Option<TimeoutHandle>>> = Default::default();
        let resize = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Some(h) = pending.borrow_mut().take() {
                h.clear();
            }
            let tv = c.term.get_value();
            *pending.borrow_mut() = set_timeout_with_handle(
                move || {
                    let (cols, rows) = (tv.term.cols(), tv.term.rows());
                    session::with_current(|conn| conn.send_resize(cols, rows));
                },
                Duration::from_millis(120),
            )
            .ok();
        });
        t.term.on_resize(resize.as_ref().unchecked_ref());
        resize.forget();

        let keys = Closure::<dyn FnMut(web_sys::KeyboardEvent) -> bool>::new(on_key);
        t.term
            .attach_custom_key_event_handler(keys.as_ref().unchecked_ref());
        keys.forget();

        let sel = Closure::<dyn FnMut()>::new(move || {
            let tv = c.term.get_value();
            if tv.term.has_selection() {
                clipboard_write(tv.term.get_selection());
            }
        });
        if let Ok(f) = js_sys::Reflect::get(&t.term, &"onSelectionChange".into()) {
            let _ = f
                .unchecked_into::<js_sys::Function>()
                .call1(&t.term, sel.as_ref());
        }
        sel.forget();

        // Follow the element's size (window resizes, bars appearing) with the fit addon.
        let fit_pending = std::rc::Rc::new(std::cell::Cell::new(false));
        let observer = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if fit_pending.replace(true) {
                return;
            }
            let fp = fit_pending.clone();
            set_timeout(
                move || {
                    fp.set(false);
                    c.term.with_value(|t| t.fit());
                },
                Duration::from_millis(30),
            );
        });
        if let Ok(ro) = web_sys::ResizeObserver::new(observer.as_ref().unchecked_ref()) {
            ro.observe(&el);
        }
        observer.forget();

        // Multi-line pastes ask first; capture runs before xterm.js's own paste handler.
        let paste = Closure::<dyn FnMut(web_sys::ClipboardEvent)>::new(
            move |e: web_sys::ClipboardEvent| {
                let text = e
                    .clipboard_data()
                    .and_then(|d| d.get_data("text/plain").ok())
                    .unwrap_or_default();
                if text.lines().count() > PASTE_CONFIRM_LINES {
                    e.prevent_default();
                    e.stop_immediate_propagation();
                    c.paste_pending.set(Some(text));
                }
            },
        );
        let opts = web_sys::AddEventListenerOptions::new();
        opts.set_capture(true);
        let _ = el.add_event_listener_with_callback_and_add_event_listener_options(
            "paste",
            paste.as_ref().unchecked_ref(),
            &opts,
        );
        paste.forget();
        t.term.focus();
    });
}

/// Keys the app handles before xterm.js; returning false keeps them from the shell.
fn on_key(e: web_sys::KeyboardEvent) -> bool {
    if e.type_() != "keydown" {
        return true;
    }
    let c = ctx();
    let key = e.key();
    let ctrl = e.ctrl_key() || e.meta_key();
    let tv = c.term.get_value();
    if ctrl && e.shift_key() {
        match key.to_ascii_lowercase().as_str() {
            "c" => {
                if tv.term.has_selection() {
                    clipboard_write(tv.term.get_selection());
                }
                e.prevent_default();
                return false;
            }
            "v" => {
                e.prevent_default();
                let clip = window().navigator().clipboard();
                wasm_bindgen_futures::spawn_local(async move {
                    if let Ok(v) = wasm_bindgen_futures::JsFuture::from(clip.read_text()).await {
                        paste_text(v.as_string().unwrap_or_default());
                    }
                });
                return false;
            }
            "f" => {
                e.prevent_default();
                c.search_open.set(true);
                return false;
            }
            _ => {}
        }
    }
    if ctrl && !e.shift_key() && !e.alt_key() && key == "c" && tv.term.has_selection() {
        // With a selection Ctrl+C copies; without one it reaches the shell as an interrupt.
        clipboard_write(tv.term.get_selection());
        tv.term.clear_selection();
        return false;
    }
    if key == "Cancel" || (ctrl && key == "Pause") {
        // Ctrl+Break: browsers report it as "Cancel" (or Pause with Ctrl).
        e.prevent_default();
        session::with_current(|conn| conn.send_signal(Signal::CtrlBreak));
        return false;
    }
    if ctrl && !e.alt_key() {
        let zoom = match key.as_str() {
            "=" | "+" => Some(c.font_size.get_untracked() + 1.0),
            "-" => Some(c.font_size.get_untracked() - 1.0),
            "0" => Some(DEFAULT_FONT_SIZE),
            _ => None,
        };
        if let Some(z) = zoom {
            e.prevent_default();
            c.font_size.set(z.clamp(6.0, 40.0));
            return false;
        }
    }
    true
}

#[component]
fn TopBar() -> impl IntoView {
    let c = ctx();
    let home = move |e: ev::MouseEvent| {
        e.prevent_default();
        navigate(Route::Home, false);
    };
    view! {
        <div class="topbar">
            <a class="brand" href="/" on:click=home>"winrelay"</a>
            <span class="muted">{move || match c.route.get() {
                Route::Home => "sessions".to_string(),
                Route::Open(t) => format!("opening {t}…"),
                Route::Session(id) => format!("session {id}"),
                Route::Recordings => "recordings".to_string(),
                Route::Replay(id) => format!("recording {id}"),
            }}</span>
            <span class="spacer"></span>
            <button title="Search the scrollback (Ctrl+Shift+F)" on:click=move |_| c.search_open.set(true)>"Search"</button>
            <button title="Smaller text (Ctrl+-)" on:click=move |_| c.font_size.update(|s| *s = (*s - 1.0).max(6.0))>"A−"</button>
            <button title="Larger text (Ctrl+=)" on:click=move |_| c.font_size.update(|s| *s = (*s + 1.0).min(40.0))>"A+"</button>
            <button class="theme" title="Light or dark theme" on:click=move |_| c.light.update(|l| *l = !*l)>
                {move || if c.light.get() { "Dark" } else { "Light" }}
            </button>
            {move || match c.me.get() {
                Some(Ok(me)) => {
                    let can_sign_out = matches!(me.method.as_str(), "link" | "password");
                    view! {
                        <a class="button recordings-link" href="/recordings" on:click=move |e: ev::MouseEvent| {
                            e.prevent_default();
                            navigate(Route::Recordings, false);
                        }>"Recordings"</a>
                        <span class="user" title="Signed in">{me.user}</span>
                        <Show when=move || can_sign_out>
                            <button class="signout" on:click=move |_| sign_out()>"Sign out"</button>
                        </Show>
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

/// Asks the relay who is signed in.
fn refresh_me() {
    let c = ctx();
    wasm_bindgen_futures::spawn_local(async move {
        let who = api::get::<Me>("/api/me").await;
        c.me.set(Some(who));
    });
}

fn sign_out() {
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(f) = api::send("POST", "/api/logout", None).await {
            web_sys::console::warn_1(&f.message().into());
        }
        navigate(Route::Home, false);
        refresh_me();
    });
}

/// The sign-in form for local users (`POST /api/login`); `on_done` runs once signed in.
#[component]
fn SignIn(#[prop(into)] on_done: Callback<()>) -> impl IntoView {
    let c = ctx();
    let user = RwSignal::new(String::new());
    let pass = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    // Seconds left before the relay takes another attempt (429 Retry-After).
    let wait = RwSignal::new(0u32);
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        if busy.get_untracked() || wait.get_untracked() > 0 {
            return;
        }
        busy.set(true);
        let body = api::Login {
            user: user.get_untracked(),
            password: pass.get_untracked(),
        };
        wasm_bindgen_futures::spawn_local(async move {
            let r = api::post::<Me>("/api/login", &body).await;
            busy.set(false);
            match r {
                Ok(mut me) => {
                    if me.method.is_empty() {
                        me.method = "password".into();
                    }
                    pass.set(String::new());
                    error.set(None);
                    c.me.set(Some(Ok(me)));
                    on_done.run(());
                }
                Err(f) => {
                    if let Some(secs) = f.retry_after().filter(|_| f.status() == Some(429)) {
                        count_down(wait, secs.max(1));
                    }
                    error.set(Some(f.message()));
                }
            }
        });
    };
    view! {
        <form class="signin" on:submit=submit>
            <input class="signin-user" type="text" placeholder="User name" autocomplete="username"
                prop:value=move || user.get() on:input=move |e| user.set(event_target_value(&e))/>
            <input class="signin-pass" type="password" placeholder="Password" autocomplete="current-password"
                prop:value=move || pass.get() on:input=move |e| pass.set(event_target_value(&e))/>
            <button class="primary" type="submit" disabled=move || busy.get() || wait.get() != 0>
                {move || match wait.get() {
                    0 => "Sign in".to_string(),
                    n => format!("Wait {n} s"),
                }}
            </button>
        </form>
        <Show when=move || error.with(|e| e.is_some())>
            <p class="signin-failed state bad">{move || error.get()}</p>
        </Show>
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
                let left = wait.get_untracked().saturating_sub(1);
                wait.set(left);
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

/// Lists the targets and the live sessions; writes the sign-in help into the terminal
/// when the user is not signed in.
#[component]
fn Picker() -> impl IntoView {
    let c = ctx();
    c.term.with_value(|t| {
        t.term.reset();
        t.note("winrelay: pick a target to open a shell, or join a live session.");
    });
    let me = c.me;
    let targets = RwSignal::new(Vec::<TargetInfo>::new());
    let sessions = RwSignal::new(Vec::<SessionInfo>::new());
    let filter = RwSignal::new(String::new());
    let creds_for = RwSignal::new(None::<String>);
    // The lists follow the sign-in: loaded once signed in (again after signing in here).
    Effect::new(move |_| match me.get() {
        Some(Ok(_)) => wasm_bindgen_futures::spawn_local(async move {
            match api::get::<Vec<TargetInfo>>("/api/targets").await {
                Ok(t) => targets.set(t),
                Err(f) => c.term.with_value(|t| t.note(&f.message())),
            }
            if let Ok(s) = api::get::<Vec<SessionInfo>>("/api/sessions").await {
                sessions.set(s.into_iter().filter(|s| !s.state.is_final()).collect());
            }
        }),
        Some(Err(fail)) => c
            .term
            .with_value(|t| t.note(&format!("\r\n{}", fail.message()))),
        None => {}
    });
    let load = refresh_me;
    load();

    let shown = move || {
        let f = filter.get().to_lowercase();
        targets
            .get()
            .into_iter()
            .filter(|t| {
                f.is_empty()
                    || t.name.to_lowercase().contains(&f)
                    || t.description.to_lowercase().contains(&f)
            })
            .collect::<Vec<_>>()
    };
    view! {
        <div class="overlay picker">
            <div class="card">
                {move || match me.get() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(Err(fail)) if fail.status() == Some(401) => view! {
                        <h2>"Not signed in"</h2>
                        <p class="signin-error">{fail.message()}</p>
                        <SignIn on_done=move |_: ()| ()/>
                    }.into_any(),
                    Some(Err(fail)) => view! {
                        <h2>"The relay is not answering"</h2>
                        <p class="signin-error">{fail.message()}</p>
                        <button on:click=move |_| load()>"Try again"</button>
                    }.into_any(),
                    Some(Ok(me)) => view! {
                        <h2>"Targets " <span class="muted">"signed in as " {me.user}</span></h2>
                        <input type="search" placeholder="Filter targets" prop:value=move || filter.get()
                            on:input=move |e| filter.set(event_target_value(&e))/>
                        <ul class="list targets">
                            <For each=shown key=|t| t.name.clone() let:t>
                                <TargetRow t=t creds_for=creds_for/>
                            </For>
                        </ul>
                        <Show when=move || targets.with(|t| t.is_empty())>
                            <p class="empty">"No targets yet: the relay's configuration lists none for you."</p>
                        </Show>
                        <h2>"Live sessions"</h2>
                        <ul class="list sessions">
                            <For each=move || sessions.get() key=|s| s.id.clone() let:s>
                                <SessionRow s=s/>
                            </For>
                        </ul>
                        <Show when=move || sessions.with(|s| s.is_empty())>
                            <p class="empty">"None: open a target to start one."</p>
                        </Show>
                    }.into_any(),
                }}
            </div>
        </div>
    }
}

#[component]
fn TargetRow(t: TargetInfo, creds_for: RwSignal<Option<String>>) -> impl IntoView {
    let name = t.name.clone();
    let (reach, reach_class) = match t.reachable {
        Some(true) => ("reachable", "state ok"),
        Some(false) => ("unreachable", "state bad"),
        None => ("not checked", "state"),
    };
    let ask = t.ask_credentials;
    let n1 = name.clone();
    let open = move |_| {
        if ask {
            creds_for.set(Some(n1.clone()));
        } else {
            navigate(Route::Open(n1.clone()), false);
        }
    };
    let n2 = name.clone();
    let user = RwSignal::new(String::new());
    let pass = RwSignal::new(String::new());
    let submit = move |e: ev::SubmitEvent| {
        e.prevent_default();
        PENDING_CREDS
            .with(|p| *p.borrow_mut() = Some((user.get_untracked(), pass.get_untracked())));
        navigate(Route::Open(n2.clone()), false);
    };
    let n3 = name.clone();
    view! {
        <li data-target=name.clone()>
            <span class="name">{name.clone()}</span>
            <span class="muted">{t.shell.clone()}</span>
            <span class=reach_class>{reach}</span>
            <span class="desc">{t.description.clone()}</span>
            <span class="spacer"></span>
            <button class="primary open" on:click=open>"Open"</button>
        </li>
        <Show when=move || creds_for.get().as_deref() == Some(n3.as_str())>
            <li>
                <form on:submit=submit.clone() style="display:flex;gap:6px;width:100%">
                    <input type="text" placeholder="User name" autocomplete="username"
                        on:input=move |e| user.set(event_target_value(&e))/>
                    <input type="password" placeholder="Password" autocomplete="current-password"
                        on:input=move |e| pass.set(event_target_value(&e))/>
                    <button class="primary" type="submit">"Connect"</button>
                </form>
            </li>
        </Show>
    }
}

thread_local! {
    /// Credentials typed in the picker, used once by the next `Opener` and never stored.
    static PENDING_CREDS: std::cell::RefCell<Option<(String, String)>> = const { std::cell::RefCell::new(None) };
}

#[component]
fn SessionRow(s: SessionInfo) -> impl IntoView {
    let id = s.id.clone();
    let who = s
        .clients
        .iter()
        .map(|p| p.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    view! {
        <li data-session=s.id.clone()>
            <span class="name">{s.target.clone()}</span>
            <span class="muted">{format!("by {}", s.owner)}</span>
            <span class="desc">{if who.is_empty() { "nobody attached".to_string() } else { who }}</span>
            <span class="spacer"></span>
            <button class="join" on:click=move |_| navigate(Route::Session(id.clone()), false)>"Join"</button>
        </li>
    }
}

/// `/open/TARGET`: creates a session and replaces the URL with `/s/ID`.
#[component]
fn Opener(target: String) -> impl IntoView {
    let c = ctx();
    let error = RwSignal::new(None::<String>);
    // Wrong or missing credentials: ask again right here.
    let ask = RwSignal::new(false);
    let user = RwSignal::new(String::new());
    let pass = RwSignal::new(String::new());
    let retry_target = StoredValue::new(target.clone());
    let retry = move |e: ev::SubmitEvent| {
        e.prevent_default();
        PENDING_CREDS
            .with(|p| *p.borrow_mut() = Some((user.get_untracked(), pass.get_untracked())));
        // Re-render the Opener for the same target.
        c.route.set(Route::Home);
        navigate(Route::Open(retry_target.get_value()), true);
    };
    c.term.with_value(|t| {
        t.term.reset();
        t.note(&format!("Opening a shell on {target}…"));
    });
    let (cols, rows) = c.term.with_value(|t| (t.term.cols(), t.term.rows()));
    let creds = PENDING_CREDS.with(|p| p.borrow_mut().take());
    let body = CreateSession {
        target: target.clone(),
        username: creds.as_ref().map(|c| c.0.clone()),
        password: creds.map(|c| c.1),
        cols: Some(cols),
        rows: Some(rows),
    };
    wasm_bindgen_futures::spawn_local(async move {
        match api::post::<SessionInfo>("/api/sessions", &body).await {
            Ok(s) => navigate(Route::Session(s.id), true),
            Err(fail) => {
                let msg = fail.message();
                c.term.with_value(|t| t.note(&msg));
                ask.set(fail.code().contains("credentials"));
                error.set(Some(msg));
            }
        }
    });
    view! {
        <Show when=move || error.get().is_some()>
            <div class="overlay">
                <div class="card">
                    <h2>"Could not open a shell on " {target.clone()}</h2>
                    <p class="open-error">{move || error.get()}</p>
                    <Show when=move || ask.get()>
                        <form on:submit=retry style="display:flex;gap:6px;margin-bottom:8px">
                            <input type="text" placeholder="User name" autocomplete="username"
                                on:input=move |e| user.set(event_target_value(&e))/>
                            <input type="password" placeholder="Password" autocomplete="current-password"
                                on:input=move |e| pass.set(event_target_value(&e))/>
                            <button class="primary" type="submit">"Connect"</button>
                        </form>
                    </Show>
                    <button on:click=move |_| navigate(Route::Home, false)>"Back to targets"</button>
                </div>
            </div>
        </Show>
    }
}

/// `/s/ID`: attaches the terminal to a session and shows the status bar.
#[component]
fn SessionView(id: String) -> impl IntoView {
    let c = ctx();
    let embed = c.embed.get_untracked();
    let sig = ConnSignals::new();
    let tv = c.term.get_value();
    tv.term.reset();
    let conn = session::use_session(id.clone(), tv.clone(), sig);
    session::set_current(Some(conn.clone()));
    let revive = send_wrapper::SendWrapper::new(conn.clone());
    let mine = send_wrapper::SendWrapper::new(conn);
    on_cleanup(move || session::clear_current(&mine));
    tv.term.focus();

    // The tab says which target it is and whether it is still connected.
    Effect::new(move |_| {
        let target = sig.target.get();
        let mark = match sig.link.get() {
            Link::Connected => "",
            _ => "⚠ ",
        };
        if let Some(doc) = window().document() {
            doc.set_title(&format!(
                "{mark}{} — winrelay",
                if target.is_empty() {
                    "session"
                } else {
                    &target
                }
            ));
        }
    });
    on_cleanup(|| {
        if let Some(doc) = window().document() {
            doc.set_title("winrelay");
        }
    });
    let new_shell = move || {
        let t = sig.target.get_untracked();
        navigate(
            if t.is_empty() {
                Route::Home
            } else {
                Route::Open(t)
            },
            false,
        )
    };
    let link = move || {
        let (text, class) = match sig.link.get() {
            Link::Connecting => ("connecting…".to_string(), "state warn"),
            Link::Connected => ("connected".to_string(), "state ok"),
            Link::Retrying { secs, why } => (
                format!("disconnected: {why}; retrying in {secs} s"),
                "state warn",
            ),
            Link::Closed(why) => (why, "state bad"),
        };
        view! { <span class=class data-link=move || link_name(&sig.link.get())>{text}</span> }
    };
    let shell = move || match sig.shell.get() {
        Some(SessionState::Exited { code }) => Some(
            view! {
                <span class="exit">{format!("exited with code {code}")}</span>
                <button class="primary new-shell" on:click=move |_| new_shell()>"New shell"</button>
            }
            .into_any(),
        ),
        Some(SessionState::TargetLost { message } | SessionState::Failed { message }) => Some(
            view! {
                <span class="state bad">{message}</span>
                <button class="primary new-shell" on:click=move |_| new_shell()>"New shell"</button>
            }
            .into_any(),
        ),
        _ => None,
    };
    let sid = StoredValue::new(id.clone());
    let who = move || {
        let me = sig.me.get();
        let owner = sig.role.get() == Some(Role::Owner);
        sig.presence
            .get()
            .into_iter()
            .map(|p| {
                let you = if Some(p.id) == me { " (you)" } else { "" };
                // The owner may remove anyone else.
                let kick = (owner && Some(p.id) != me).then(|| {
                    let name = p.name.clone();
                    view! {
                        <button class="kick" title=format!("Remove {name} from this session")
                            on:click=move |_| client_call(sid.get_value(), p.id, None, sig)>"×"</button>
                    }
                });
                view! { <span>{format!("{}{}", p.name, you)} " " <span class="role">{role_name(p.role)}</span>{kick}</span> }
            })
            .collect_view()
    };
    let share_link = RwSignal::new(None::<(Role, String, u64)>);
    let panel = RwSignal::new(false);
    let shares = RwSignal::new(Vec::<api::Share>::new());
    let owner_connected =
        move || sig.role.get() == Some(Role::Owner) && sig.link.get() == Link::Connected;
    let closed = move || {
        matches!(sig.link.get(), Link::Closed(_)) && sig.shell.get().is_none_or(|s| !s.is_final())
    };
    // Signed in again: a refused sign-in tries the same session again; a gone session now
    // offers a new shell.
    let on_signed_in = Callback::new(move |_: ()| {
        if sig.lost.get_untracked() == Some(Lost::SignedOut) {
            revive.revive()
        }
    });
    // The relay answers "no such session" before it looks at the sign-in: ask who we are,
    // so a relay that forgot the sign-in too gets the sign-in form first.
    Effect::new(move |_| {
        if sig.lost.get().is_some() {
            refresh_me();
        }
    });
    // Signed in elsewhere (the link in another tab): notice it without a reload.
    let poll = set_interval_with_handle(
        move || {
            if sig.lost.get_untracked().is_some()
                && c.me
                    .with_untracked(|m| matches!(m, Some(Err(f)) if f.status() == Some(401)))
            {
                refresh_me();
            }
        },
        Duration::from_secs(3),
    )
    .ok();
    on_cleanup(move || {
        if let Some(p) = poll {
            p.clear();
        }
    });
    let signed_out = move || {
        sig.lost.get() == Some(Lost::SignedOut)
            || c.me
                .with(|m| matches!(m, Some(Err(f)) if f.status() == Some(401)))
    };
    view! {
        <Show when=move || !embed>
        <div class="statusbar" data-session=id.clone()>
            <span class="target">{move || sig.target.get()}</span>
            {link}
            <span class="latency muted">{move || sig.latency_ms.get().map(|ms| format!("{ms} ms")).unwrap_or_default()}</span>
            <span class="who">{who}</span>
            {shell}
            <Show when=closed>
                <button class="primary new-shell" on:click=move |_| new_shell()>"New shell"</button>
            </Show>
            <span class="spacer"></span>
            <span class="notice">{move || sig.notice.get().unwrap_or_default()}</span>
            <Show when=owner_connected>
                <button class="share-viewer" title="Copy a link that lets someone watch (valid 1 hour)"
                    on:click=move |_| create_share(sid.get_value(), Role::Viewer, 3600, share_link, shares, sig)>"Share view"</button>
                <button class="share-writer" title="Copy a link that lets someone type (valid 1 hour)"
                    on:click=move |_| create_share(sid.get_value(), Role::Writer, 3600, share_link, shares, sig)>"Share control"</button>
                <button class="sharing" title="Share links and who is attached"
                    on:click=move |_| panel.update(|p| *p = !*p)>"Sharing…"</button>
            </Show>
        </div>
        <Show when=move || share_link.with(|l| l.is_some())>
            <div class="sharebox">
                <span>{move || share_link.with(|l| l.as_ref().map(|l| format!("{} link (copied; valid {}):", role_name(l.0), duration(l.2))))}</span>
                <input class="share-url" type="text" readonly=true
                    prop:value={move || share_link.with(|l| l.as_ref().map(|l| l.1.clone()).unwrap_or_default())}
                    on:focus={move |e| event_target::<web_sys::HtmlInputElement>(&e).select()}
                />
                <button class="share-done" on:click=move |_| share_link.set(None)>"Done"</button>
            </div>
        </Show>
        <Show when=move || panel.get() && sig.role.get() == Some(Role::Owner)>
            <SharePanel sid=sid.get_value() sig=sig share_link=share_link shares=shares panel=panel/>
        </Show>
        <Show when=move || sig.lost.get().is_some()>
            <div class="overlay lost">
                <div class="card">
                    {move || match signed_out() {
                        true => view! {
                            <h2>"Signed out"</h2>
                            <p class="signin-error">"The relay no longer accepts your sign-in (it may have restarted, or the sign-in expired). Sign in again here, or open the sign-in link that `winrelay serve` printed; then the page carries on."</p>
                            <SignIn on_done=on_signed_in/>
                            <button class="back" on:click=move |_| navigate(Route::Home, false)>"Back to targets"</button>
                        }.into_any(),
                        false => view! {
                            <h2>"This session no longer exists"</h2>
                            <p class="muted">"It ended, or the relay restarted (sessions live in the relay's memory). Its output above is kept on this page."</p>
                            <div class="actions">
                                <Show when=move || !sig.target.with(|t| t.is_empty())>
                                    <button class="primary new-shell" on:click=move |_| new_shell()>
                                        {move || format!("New shell on {}", sig.target.get())}
                                    </button>
                                </Show>
                                <button class="back" on:click=move |_| navigate(Route::Home, false)>"Back to targets"</button>
                            </div>
                        }.into_any(),
                    }}
                </div>
            </div>
        </Show>
        </Show>
    }
}

fn role_name(r: Role) -> &'static str {
    match r {
        Role::Owner => "owner",
        Role::Writer => "writer",
        Role::Viewer => "viewer",
    }
}

/// `3600` -> "1 h"; rounded to what a person wants to know.
fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=5399 => format!("{} min", secs.div_ceil(60)),
        5400..=172_799 => format!("{} h", (secs + 1800) / 3600),
        _ => format!("{} days", (secs + 43_200) / 86_400),
    }
}

/// Removes a client (`role` None) or changes its role (writer <-> viewer).
fn client_call(sid: String, client: u64, role: Option<Role>, sig: ConnSignals) {
    wasm_bindgen_futures::spawn_local(async move {
        let r = match role {
            None => {
                api::send(
                    "POST",
                    &format!("/api/sessions/{sid}/clients/{client}/kick"),
                    None,
                )
                .await
            }
            Some(role) => {
                api::send(
                    "PUT",
                    &format!("/api/sessions/{sid}/clients/{client}/role"),
                    Some(&role),
                )
                .await
            }
        };
        if let Err(f) = r {
            sig.notice.set(Some(f.message()));
        }
    });
}

fn load_shares(sid: String, shares: RwSignal<Vec<api::Share>>, sig: ConnSignals) {
    wasm_bindgen_futures::spawn_local(async move {
        match api::get::<Vec<api::Share>>(&format!("/api/sessions/{sid}/shares")).await {
            Ok(list) => shares.set(list),
            Err(f) => sig.notice.set(Some(f.message())),
        }
    });
}

fn create_share(
    sid: String,
    role: Role,
    ttl_secs: u64,
    share_link: RwSignal<Option<(Role, String, u64)>>,
    shares: RwSignal<Vec<api::Share>>,
    sig: ConnSignals,
) {
    wasm_bindgen_futures::spawn_local(async move {
        let path = format!("/api/sessions/{sid}/shares");
        match api::post::<api::Share>(&path, &api::NewShare { role, ttl_secs }).await {
            Ok(s) => {
                let origin = window().location().origin().unwrap_or_default();
                let link = format!("{origin}{}", s.path.clone().unwrap_or_default());
                clipboard_write(link.clone());
                share_link.set(Some((role, link, s.expires_in_secs)));
                load_shares(sid, shares, sig);
            }
            Err(f) => sig.notice.set(Some(f.message())),
        }
    });
}

/// Expiry choices for new share links.
const SHARE_TTLS: [(u64, &str); 5] = [
    (900, "15 minutes"),
    (3600, "1 hour"),
    (8 * 3600, "8 hours"),
    (24 * 3600, "1 day"),
    (7 * 24 * 3600, "7 days"),
];

/// The owner's sharing panel: create links (role, expiry), revoke them, and manage who is
/// attached (switch writer/viewer, remove).
#[component]
fn SharePanel(
    sid: String,
    sig: ConnSignals,
    share_link: RwSignal<Option<(Role, String, u64)>>,
    shares: RwSignal<Vec<api::Share>>,
    panel: RwSignal<bool>,
) -> impl IntoView {
    let sid = StoredValue::new(sid);
    let role = RwSignal::new(Role::Viewer);
    let ttl = RwSignal::new(3600u64);
    load_shares(sid.get_value(), shares, sig);
    // Expiry and "attached through this link" change by themselves: refresh while open.
    let timer = set_interval_with_handle(
        move || load_shares(sid.get_value(), shares, sig),
        Duration::from_secs(5),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });
    // Who is attached through a link (removed with it when it is revoked).
    let joined = move |s: &api::Share| {
        let names: Vec<String> = sig.presence.with(|p| {
            p.iter()
                .filter(|c| s.clients.contains(&c.id))
                .map(|c| c.name.clone())
                .collect()
        });
        if names.is_empty() {
            "nobody attached".to_string()
        } else {
            format!("used by {}", names.join(", "))
        }
    };
    let people = move || {
        let me = sig.me.get();
        sig.presence
            .get()
            .into_iter()
            .map(|p| {
                let you = Some(p.id) == me;
                let switch = (!you && p.role != Role::Owner).then(|| {
                    let to = if p.role == Role::Writer {
                        Role::Viewer
                    } else {
                        Role::Writer
                    };
                    view! {
                        <button class="set-role" on:click=move |_| client_call(sid.get_value(), p.id, Some(to), sig)>
                            {format!("Make {}", role_name(to))}
                        </button>
                    }
                });
                let remove = (!you).then(|| view! {
                    <button class="remove" on:click=move |_| client_call(sid.get_value(), p.id, None, sig)>"Remove"</button>
                });
                view! {
                    <li data-client=p.id.to_string()>
                        <span class="name">{p.name.clone()}{if you { " (you)" } else { "" }}</span>
                        <span class="role">{role_name(p.role)}</span>
                        <span class="spacer"></span>
                        {switch}
                        {remove}
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <div class="share-panel">
            <div class="share-new">
                <strong>"New link"</strong>
                <select class="share-role" on:change=move |e| role.set(if event_target_value(&e) == "writer" { Role::Writer } else { Role::Viewer })>
                    <option value="viewer" selected=true>"viewer: watches"</option>
                    <option value="writer">"writer: types"</option>
                </select>
                <select class="share-ttl" on:change=move |e| {
                    if let Ok(v) = event_target_value(&e).parse() { ttl.set(v) }
                }>
                    {SHARE_TTLS.iter().map(|(secs, label)| view! {
                        <option value=secs.to_string() selected=*secs == 3600>{format!("valid {label}")}</option>
                    }).collect_view()}
                </select>
                <button class="primary share-create" on:click=move |_| {
                    create_share(sid.get_value(), role.get_untracked(), ttl.get_untracked(), share_link, shares, sig)
                }>"Create and copy"</button>
                <span class="spacer"></span>
                <button class="share-close" on:click=move |_| panel.set(false)>"Close"</button>
            </div>
            <h3>"Links"</h3>
            <ul class="list share-links">
                <For each=move || shares.get() key=|s| (s.id.clone(), s.clients.clone(), s.expires_in_secs / 60) let:s>
                    <li data-share=s.id.clone()>
                        <span class="role">{role_name(s.role)}</span>
                        <span class="expires">{format!("expires in {}", duration(s.expires_in_secs))}</span>
                        <span class="desc">{joined(&s)}</span>
                        <span class="spacer"></span>
                        <button class="revoke" title="The link stops working; whoever joined through it is removed" on:click={
                            let id = s.id.clone();
                            move |_| {
                                let path = format!("/api/sessions/{}/shares/{}", sid.get_value(), id);
                                wasm_bindgen_futures::spawn_local(async move {
                                    if let Err(f) = api::send("DELETE", &path, None).await {
                                        sig.notice.set(Some(f.message()));
                                    }
                                    load_shares(sid.get_value(), shares, sig);
                                });
                            }
                        }>"Revoke"</button>
                    </li>
                </For>
            </ul>
            <Show when=move || shares.with(|s| s.is_empty())>
                <p class="empty">"No links yet."</p>
            </Show>
            <h3>"Attached"</h3>
            <ul class="list people">{people}</ul>
        </div>
    }
}

/// `/embed/open/TARGET`: opens a shell with the embed token, then attaches to it.
#[component]
fn EmbedOpener(target: String) -> impl IntoView {
    let c = ctx();
    c.term.with_value(|t| {
        t.term.reset();
        t.note(&format!("Opening a shell on {target}…"));
    });
    let (cols, rows) = c.term.with_value(|t| (t.term.cols(), t.term.rows()));
    wasm_bindgen_futures::spawn_local(async move {
        match api::post::<SessionInfo>("/api/embed/session", &api::EmbedOpen { cols, rows }).await {
            Ok(s) => navigate(Route::Session(s.id), true),
            Err(f) => {
                let msg = f.message();
                c.term.with_value(|t| t.note(&msg));
                embed::post_error(&msg);
                c.embed_error.set(Some(msg));
            }
        }
    });
}

/// The embed page's start: check the host page, then listen to it and open the terminal.
fn start_embed(token: Option<String>) {
    let c = ctx();
    api::set_embed_token(token.clone());
    let parent = query_param("parent");
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(msg) = embed::check_parent(parent).await {
            c.term.with_value(|t| t.note(&msg));
            c.embed_error.set(Some(msg));
            return;
        }
        embed::listen(on_embed_command);
        embed::post_ready();
        if token.is_none() {
            let msg =
                "No embed token: the host page must put `#embed_token=JWT` in the frame's address.";
            embed::post_error(msg);
            c.embed_error.set(Some(msg.into()));
            return;
        }
        c.gate.set(true);
    });
}

fn on_embed_command(cmd: embed::Command) {
    let c = ctx();
    match cmd {
        embed::Command::Focus => c.term.with_value(|t| t.term.focus()),
        embed::Command::Fit => c.term.with_value(|t| {
            t.fit();
            let (cols, rows) = (t.term.cols(), t.term.rows());
            session::with_current(|conn| conn.send_resize(cols, rows));
        }),
        embed::Command::Theme { light } => c.light.set(light),
        embed::Command::FontSize(size) => c.font_size.set(size),
        embed::Command::Token(token) => {
            api::set_embed_token(Some(token));
            session::revive_current();
        }
    }
}

/// `/recordings`: the recordings of targets the user owns.
#[component]
fn Recordings() -> impl IntoView {
    let c = ctx();
    c.term.with_value(|t| {
        t.term.reset();
        t.note("winrelay: recordings of sessions on the targets you own.");
    });
    let list = RwSignal::new(None::<Result<Vec<api::Recording>, String>>);
    wasm_bindgen_futures::spawn_local(async move {
        list.set(Some(
            api::get::<Vec<api::Recording>>("/api/recordings")
                .await
                .map_err(|f| f.message()),
        ));
    });
    view! {
        <div class="overlay recordings">
            <div class="card">
                <h2>"Recordings"</h2>
                {move || match list.get() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(Err(e)) => view! { <p class="signin-error">{e}</p> }.into_any(),
                    Some(Ok(l)) if l.is_empty() => view! {
                        <p class="empty">"None: sessions are recorded on targets with `record = true` (and a [recordings] directory in the relay's configuration); you see those of targets you own."</p>
                    }.into_any(),
                    Some(Ok(l)) => view! {
                        <ul class="list recording-list">
                            {l.into_iter().map(|r| {
                                let id = r.id.clone();
                                let started = js_sys::Date::new(&JsValue::from_f64(r.started as f64 * 1000.0))
                                    .to_locale_string("default", &JsValue::UNDEFINED)
                                    .as_string()
                                    .unwrap_or_default();
                                view! {
                                    <li data-recording=r.id.clone()>
                                        <span class="name">{r.target.clone()}</span>
                                        <span class="muted">{format!("by {}", r.owner)}</span>
                                        <span class="desc">{started}</span>
                                        <span class="muted">{format!("{} KB", r.bytes.div_ceil(1024))}</span>
                                        {r.live.then(|| view! { <span class="state ok">"live"</span> })}
                                        <span class="spacer"></span>
                                        <a class="button download" href=format!("/api/recordings/{}", r.id) download="">"Download"</a>
                                        <button class="primary replay" on:click=move |_| navigate(Route::Replay(id.clone()), false)>"Replay"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
                <button on:click=move |_| navigate(Route::Home, false)>"Back to targets"</button>
            </div>
        </div>
    }
}

fn link_name(l: &Link) -> &'static str {
    match l {
        Link::Connecting => "connecting",
        Link::Connected => "connected",
        Link::Retrying { .. } => "retrying",
        Link::Closed(_) => "closed",
    }
}

#[component]
fn SearchBox() -> impl IntoView {
    let c = ctx();
    let input = NodeRef::<html::Input>::new();
    input.on_load(|el| {
        let _ = el.focus();
    });
    let close = move || {
        c.term.with_value(|t| {
            t.clear_search();
            t.term.focus();
        });
        c.search_open.set(false);
    };
    let find = move |back: bool| {
        if let Some(el) = input.get_untracked() {
            let text = el.value();
            c.term.with_value(|t| t.find(&text, back));
        }
    };
    view! {
        <div class="search">
            <input node_ref=input type="text" placeholder="Search scrollback"
                on:input=move |_| find(false)
                on:keydown=move |e: ev::KeyboardEvent| match e.key().as_str() {
                    "Enter" => { e.prevent_default(); find(e.shift_key()) }
                    "Escape" => close(),
                    _ => {}
                }/>
            <button title="Previous (Shift+Enter)" on:click=move |_| find(true)>"↑"</button>
            <button title="Next (Enter)" on:click=move |_| find(false)>"↓"</button>
            <button title="Close (Esc)" on:click=move |_| close()>"×"</button>
        </div>
    }
}

#[component]
fn PasteDialog() -> impl IntoView {
    let c = ctx();
    let finish = move |go: bool| {
        if let Some(text) = c.paste_pending.get_untracked() {
            c.paste_pending.set(None);
            c.term.with_value(|t| {
                if go {
                    t.term.paste(&text);
                }
                t.term.focus();
            });
        }
    };
    view! {
        <Show when=move || c.paste_pending.with(|p| p.is_some())>
            <div class="dialog">
                <div class="card">
                    <h2>{move || format!("Paste {} lines into the shell?", c.paste_pending.with(|p| p.as_ref().map_or(0, |t| t.lines().count())))}</h2>
                    <p class="muted">"Each line runs as a command as soon as it arrives."</p>
                    <pre>{move || c.paste_pending.get().unwrap_or_default()}</pre>
                    <div class="actions">
                        <button on:click=move |_| finish(false)>"Cancel"</button>
                        <button class="primary" on:click=move |_| finish(true)>"Paste"</button>
                    </div>
                </div>
            </div>
        </Show>
    }
}

/// Keys a touch keyboard lacks; shown on coarse pointers (or with `?keybar=1`).
#[component]
fn KeyBar() -> impl IntoView {
    let c = ctx();
    let forced = query_param("keybar").is_some_and(|v| v == "1");
    let key = move |seq: &'static str| {
        move |_| {
            session::with_current(|conn| conn.send_input(seq));
            c.term.with_value(|t| t.term.focus());
        }
    };
    view! {
        <div class="keybar" class:forced=forced>
            <button on:click=key("\x1b")>"Esc"</button>
            <button on:click=key("\t")>"Tab"</button>
            <button class:on=move || c.ctrl_sticky.get() on:click=move |_| {
                c.ctrl_sticky.update(|v| *v = !*v);
                c.term.with_value(|t| t.term.focus());
            }>"Ctrl"</button>
            <button on:click=key("\x03")>"^C"</button>
            <button class="break" title="Ctrl+Break: stops what Ctrl+C does not" on:click=move |_| {
                session::with_current(|conn| conn.send_signal(Signal::CtrlBreak));
                c.term.with_value(|t| t.term.focus());
            }>"Break"</button>
            <button on:click=key("\x1b[D")>"←"</button>
            <button on:click=key("\x1b[A")>"↑"</button>
            <button on:click=key("\x1b[B")>"↓"</button>
            <button on:click=key("\x1b[C")>"→"</button>
        </div>
    }
}

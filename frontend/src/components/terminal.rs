//! The page's one terminal: the [`Term`] context every component uses to reach xterm.js and
//! the session on screen, and [`TerminalPane`], which mounts xterm.js and wires typing,
//! resizes, the app's own keys and pasting.

use crate::app::Look;
use crate::page::{clipboard_write, query_param, window};
use crate::session::{Conn, ConnSignals, Lost};
use crate::term::marks::{self, Event as MarkEvent, Summary};
use crate::term::{TermView, DEFAULT_FONT_SIZE};
use leptos::html;
use leptos::prelude::*;
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use winrelay_shared::protocol::Signal as ShellSignal;

/// Pasting more lines than this asks first.
const PASTE_CONFIRM_LINES: usize = 3;

/// The terminal and where its input goes, handed to components through context
/// (`use_context::<Term>()`). All `Copy` handles, so socket, timer and xterm.js callbacks
/// (which run outside any reactive owner) capture it instead of looking it up.
#[derive(Clone, Copy)]
pub struct Term {
    view: StoredValue<TermView, LocalStorage>,
    /// Which renderer xterm.js draws with (`dom`, `webgl`): the page's `data-renderer`.
    pub renderer: ReadSignal<&'static str>,
    set_renderer: WriteSignal<&'static str>,
    pub search_open: ReadSignal<bool>,
    set_search_open: WriteSignal<bool>,
    /// A multi-line paste waiting for the user's yes.
    pub paste_pending: ReadSignal<Option<String>>,
    set_paste_pending: WriteSignal<Option<String>>,
    /// The touch bar's Ctrl: applies to the next key.
    pub ctrl_sticky: ReadSignal<bool>,
    /// The terminal's size in cells (columns, rows).
    pub cells: ReadSignal<(u16, u16)>,
    set_cells: WriteSignal<(u16, u16)>,
    set_ctrl_sticky: WriteSignal<bool>,
    /// The commands the shell's marks delimit: the running one, the one to copy.
    pub commands: ReadSignal<Summary>,
    /// The session on screen: typing, resizes and the touch bar's keys go to it.
    live: RwSignal<Option<Rc<Conn>>, LocalStorage>,
}

impl Term {
    pub fn new(view: TermView) -> Term {
        let (renderer, set_renderer) = signal("none");
        let (search_open, set_search_open) = signal(false);
        let (paste_pending, set_paste_pending) = signal(None);
        let (ctrl_sticky, set_ctrl_sticky) = signal(false);
        let (cells, set_cells) = signal((0, 0));
        let (commands, set_commands) = signal(Summary::default());
        let live = RwSignal::new_local(None::<Rc<Conn>>);
        marks::listen(&view.commands, move |e| match e {
            MarkEvent::Changed(s) => set_commands.set(s),
            MarkEvent::Copied(cmd, lines) => {
                let text = match lines {
                    0 => format!("`{cmd}` printed nothing: the clipboard now holds nothing."),
                    1 => format!("Copied the output of `{cmd}` (1 line)."),
                    n => format!("Copied the output of `{cmd}` ({n} lines)."),
                };
                live.with_untracked(|c: &Option<Rc<Conn>>| {
                    if let Some(c) = c {
                        c.signals().notice.set(Some(text))
                    }
                });
            }
        });
        Term {
            view: StoredValue::new_local(view),
            renderer,
            set_renderer,
            search_open,
            set_search_open,
            paste_pending,
            set_paste_pending,
            ctrl_sticky,
            set_ctrl_sticky,
            cells,
            set_cells,
            commands,
            live,
        }
    }

    /// Scrolls to the previous or next command (Ctrl+Up / Ctrl+Down).
    pub fn jump(&self, up: bool) {
        self.with(|t| marks::jump(&t.commands, &t.term, up));
        // Said in the status bar's live region, for those who do not see the scroll.
        let sum = self.commands.get_untracked();
        let text = match (sum.position, sum.focus) {
            (Some((n, of)), Some((_, cmd, status))) => {
                format!("Command {n} of {of}: `{cmd}`, {}.", status.describe())
            }
            _ if sum.count > 0 => "Back at the prompt.".to_string(),
            _ => "No commands to go to: this shell marks none.".to_string(),
        };
        self.with_conn(|c| c.signals().notice.set(Some(text)));
    }

    /// Copies the output of the command the status bar names.
    pub fn copy_output(&self) {
        if let Some((id, ..)) = self.commands.get_untracked().focus {
            self.with(|t| marks::copy_output(&t.commands, &t.term, id));
        }
    }

    pub fn open_search(&self) {
        self.set_search_open.set(true);
    }

    /// Closes the search box, its highlights with it, and gives the keys back to the shell.
    pub fn close_search(&self) {
        self.with(|t| {
            t.clear_search();
            t.term.focus();
        });
        self.set_search_open.set(false);
    }

    /// The touch bar's Ctrl: on for the next key, or off again.
    pub fn toggle_ctrl(&self) {
        self.set_ctrl_sticky.update(|v| *v = !*v);
        self.focus();
    }

    /// Answers the paste confirmation: pastes the waiting text, or drops it.
    pub fn finish_paste(&self, go: bool) {
        if let Some(text) = self.paste_pending.get_untracked() {
            self.set_paste_pending.set(None);
            self.with(|t| {
                if go {
                    t.term.paste(&text);
                }
                t.term.focus();
            });
        }
    }

    pub fn with<R>(&self, f: impl FnOnce(&TermView) -> R) -> R {
        self.view.with_value(f)
    }

    pub fn view(&self) -> TermView {
        self.view.get_value()
    }

    /// Clears the terminal and writes one line of the app's own text.
    pub fn reset_with_note(&self, text: &str) {
        self.with(|t| {
            t.reset();
            t.note(text);
        });
    }

    pub fn note(&self, text: &str) {
        self.with(|t| t.note(text));
    }

    pub fn size(&self) -> (u16, u16) {
        self.with(|t| (t.term.cols(), t.term.rows()))
    }

    /// Gives the keyboard to the terminal (uncovering it if a page over it left it inert).
    pub fn focus(&self) {
        set_covered(false);
        self.with(|t| t.term.focus());
    }

    /// While the calling component lives, the terminal under it is out of the way of the
    /// keyboard (and screen readers): `inert`, so Tab, typing and Enter reach the component.
    /// Focus goes to `first` once it is on the page.
    pub fn cover(&self, first: NodeRef<html::Input>) {
        Effect::new(move |_| {
            set_covered(true);
            if let Some(el) = first.get() {
                let _ = el.focus();
            }
        });
        on_cleanup(|| set_covered(false));
    }

    /// Makes `conn` the session on screen until the calling component goes away.
    pub fn attach(&self, conn: Rc<Conn>) {
        let live = self.live;
        live.set(Some(conn.clone()));
        let mine = send_wrapper::SendWrapper::new(conn);
        on_cleanup(move || {
            // Unless another session took its place already.
            let still = live.with_untracked(|c| c.as_ref().is_some_and(|c| Rc::ptr_eq(c, &mine)));
            if still {
                live.set(None);
            }
        });
    }

    /// The session on screen: its id and its signals (tracked).
    pub fn live(&self) -> Option<(String, ConnSignals)> {
        self.live
            .with(|c| c.as_ref().map(|c| (c.id().to_string(), c.signals())))
    }

    /// Runs `f` with the session on screen, if any.
    pub fn with_conn(&self, f: impl FnOnce(&Rc<Conn>)) {
        self.live.with_untracked(|c| {
            if let Some(c) = c {
                f(c)
            }
        });
    }

    /// Tries the session on screen again if its sign-in was refused (the embed page got a
    /// fresh token).
    pub fn revive_signed_out(&self) {
        self.with_conn(|c| {
            if c.signals().lost.get_untracked() == Some(Lost::SignedOut) {
                c.revive();
            }
        });
    }

    /// Tells the session on screen the terminal's size.
    pub fn send_size(&self) {
        let (cols, rows) = self.size();
        self.with_conn(|c| c.send_resize(cols, rows));
    }

    /// Typing, applying the touch bar's sticky Ctrl.
    fn send_input(&self, data: &str) {
        let mut data = data.to_string();
        if self.ctrl_sticky.get_untracked() {
            self.set_ctrl_sticky.set(false);
            if let Some(ch) = data.chars().next().filter(|_| data.chars().count() == 1) {
                let up = ch.to_ascii_uppercase();
                if ('@'..='_').contains(&up) {
                    data = char::from((up as u8) & 0x1f).to_string();
                }
            }
        }
        self.with_conn(|c| c.send_input(&data));
    }

    /// Pastes `text`, asking first when it has many lines.
    fn paste(&self, text: String) {
        if text.lines().count() > PASTE_CONFIRM_LINES {
            self.set_paste_pending.set(Some(text));
        } else {
            self.with(|t| t.term.paste(&text));
        }
    }
}

/// Makes the terminal's element inert (or not): no focus, no typing, hidden from screen
/// readers, while a page such as the target picker covers it.
fn set_covered(covered: bool) {
    let Some(el) = window()
        .document()
        .and_then(|d| d.query_selector(".term").ok().flatten())
    else {
        return;
    };
    if covered {
        if let Some(active) = window().document().and_then(|d| d.active_element()) {
            if el.contains(Some(&active)) {
                if let Some(a) = active.dyn_ref::<web_sys::HtmlElement>() {
                    let _ = a.blur();
                }
            }
        }
        let _ = el.set_attribute("inert", "");
    } else {
        let _ = el.remove_attribute("inert");
    }
}

pub fn use_term() -> Term {
    expect_context()
}

/// The element xterm.js draws in.
#[component]
pub fn TerminalPane() -> impl IntoView {
    let term = use_term();
    let look: Look = expect_context();
    let el = NodeRef::<html::Div>::new();
    // xterm.js opens in a task of its own, after the first paint of whatever is over it (the
    // picker): opening and measuring take tens of milliseconds, and output written before
    // then waits in xterm.js' buffer.
    el.on_load(move |el| {
        let el: web_sys::HtmlElement = el.unchecked_into();
        set_timeout(move || mount(el, term, look), Duration::ZERO);
    });
    view! { <div class="term" node_ref=el></div> }
}

/// Opens xterm.js in its element and wires input, resize, keys and paste.
fn mount(el: web_sys::HtmlElement, term: Term, look: Look) {
    let force_dom = query_param("renderer").is_some_and(|r| r == "dom");
    term.with(|t| {
        let renderer = term.set_renderer;
        t.open(&el, force_dom, move |r| renderer.set(r));
        let data = Closure::<dyn FnMut(String)>::new(move |d: String| term.send_input(&d));
        t.term.on_data(data.as_ref().unchecked_ref());
        data.forget();

        // Resizes reach the relay debounced: dragging a window edge fires dozens.
        let pending: std::rc::Rc<std::cell::RefCell<Option<TimeoutHandle>>> = Default::default();
        term.set_cells.set(term.size());
        let resize = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            term.set_cells.set(term.size());
            if let Some(h) = pending.borrow_mut().take() {
                h.clear();
            }
            *pending.borrow_mut() =
                set_timeout_with_handle(move || term.send_size(), Duration::from_millis(120)).ok();
        });
        t.term.on_resize(resize.as_ref().unchecked_ref());
        resize.forget();

        let keys = Closure::<dyn FnMut(web_sys::KeyboardEvent) -> bool>::new(move |e| {
            on_key(e, term, look)
        });
        t.term
            .attach_custom_key_event_handler(keys.as_ref().unchecked_ref());
        keys.forget();

        let sel = Closure::<dyn FnMut()>::new(move || {
            let tv = term.view();
            let on = super::settings::stored_flag(super::settings::COPY_ON_SELECT, true);
            if on && tv.term.has_selection() {
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
                    term.with(|t| t.fit());
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
                    term.set_paste_pending.set(Some(text));
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

        // Right-click pastes when the settings say so (as in the Windows console).
        let context_menu = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            if !super::settings::stored_flag(super::settings::RIGHT_CLICK_PASTE, false) {
                return;
            }
            e.prevent_default();
            let clip = window().navigator().clipboard();
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(v) = wasm_bindgen_futures::JsFuture::from(clip.read_text()).await {
                    term.paste(v.as_string().unwrap_or_default());
                }
            });
        });
        let _ = el.add_event_listener_with_callback(
            "contextmenu",
            context_menu.as_ref().unchecked_ref(),
        );
        context_menu.forget();

        // A click on a command's mark copies its output; the press must not start a selection
        // in the terminal under it (capture: before xterm.js's own handlers).
        let on_mark = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            let Some(id) = marks::mark_at(e.target()) else {
                return;
            };
            e.stop_propagation();
            e.prevent_default();
            if e.type_() == "click" {
                term.with(|t| marks::copy_output(&t.commands, &t.term, id));
            }
        });
        for kind in ["mousedown", "click"] {
            let _ = el.add_event_listener_with_callback_and_add_event_listener_options(
                kind,
                on_mark.as_ref().unchecked_ref(),
                &opts,
            );
        }
        on_mark.forget();

        // A dropped file says why nothing happens (file transfer is not there yet).
        let drag = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            if carries_files(&e) {
                e.prevent_default();
            }
        });
        let _ = el.add_event_listener_with_callback("dragover", drag.as_ref().unchecked_ref());
        drag.forget();
        let drop = Closure::<dyn FnMut(web_sys::Event)>::new(move |e: web_sys::Event| {
            if carries_files(&e) {
                e.prevent_default();
                term.with_conn(|c| {
                    c.signals().notice.set(Some(
                        "Files cannot be sent to the shell yet: nothing was transferred. Paste text instead."
                            .into(),
                    ))
                });
            }
        });
        let _ = el.add_event_listener_with_callback("drop", drop.as_ref().unchecked_ref());
        drop.forget();
        // Not under a page that covers it (the picker): the focus would be refused, after a
        // forced layout of the page.
        if !el.has_attribute("inert") {
            t.term.focus();
        }
    });
}

/// Whether a drag event carries files (not text).
fn carries_files(e: &web_sys::Event) -> bool {
    js_sys::Reflect::get(e, &"dataTransfer".into())
        .and_then(|dt| js_sys::Reflect::get(&dt, &"types".into()))
        .ok()
        .and_then(|types| types.dyn_into::<js_sys::Array>().ok())
        .is_some_and(|types| types.includes(&"Files".into(), 0))
}

/// Keys the app handles before xterm.js; returning false keeps them from the shell.
fn on_key(e: web_sys::KeyboardEvent, term: Term, look: Look) -> bool {
    if e.type_() != "keydown" {
        return true;
    }
    let key = e.key();
    let ctrl = e.ctrl_key() || e.meta_key();
    let tv = term.view();
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
                        term.paste(v.as_string().unwrap_or_default());
                    }
                });
                return false;
            }
            "f" => {
                e.prevent_default();
                term.open_search();
                return false;
            }
            "h" => {
                // Ctrl+H is Backspace to the shell; with Shift it is the app's.
                e.prevent_default();
                term.with_conn(|c| c.hide_next_line());
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
        term.with_conn(|c| c.send_signal(ShellSignal::CtrlBreak));
        return false;
    }
    if ctrl && !e.shift_key() && !e.alt_key() && (key == "ArrowUp" || key == "ArrowDown") {
        e.prevent_default();
        term.jump(key == "ArrowUp");
        return false;
    }
    if ctrl && !e.alt_key() {
        let zoom = match key.as_str() {
            "=" | "+" => Some(look.font_size.get_untracked() + 1.0),
            "-" => Some(look.font_size.get_untracked() - 1.0),
            "0" => Some(DEFAULT_FONT_SIZE),
            _ => None,
        };
        if let Some(z) = zoom {
            e.prevent_default();
            look.font_size.set(z.clamp(6.0, 40.0));
            return false;
        }
    }
    true
}

//! The page's one xterm.js terminal: creation, renderer choice, theme, zoom, fit, search.

pub mod marks;

use crate::xterm::{self, FitAddon, SearchAddon, Terminal};
use js_sys::{Object, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

pub const DEFAULT_FONT_SIZE: f64 = 14.0;
pub const DEFAULT_FONTS: &str =
    "\"Cascadia Mono\", Consolas, \"DejaVu Sans Mono\", Menlo, monospace";

/// The terminal and the addons the app talks to after creation.
#[derive(Clone)]
pub struct TermView {
    pub term: Terminal,
    fit: FitAddon,
    search: Rc<Search>,
    /// The commands its shell-integration marks delimit.
    pub commands: marks::Shared,
    /// Whether anything was written since it was made or last reset: resetting a terminal
    /// nothing was written to is skipped (xterm.js' reset costs a few ms, and the page resets
    /// its fresh terminal as it starts).
    written: Rc<Cell<bool>>,
}

/// A search asked for while the addon loads.
type WaitingSearch = Box<dyn FnOnce(&SearchAddon)>;
/// Who hears `(index, count)` of the search's matches.
type ResultsListener = Rc<dyn Fn(i32, u32)>;

/// The search addon, loaded on demand, and who listens to its results.
#[derive(Default)]
struct Search {
    addon: RefCell<Option<SearchAddon>>,
    /// Searches asked for while it loads.
    waiting: RefCell<Vec<WaitingSearch>>,
    results: RefCell<Option<ResultsListener>>,
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

pub fn theme(light: bool) -> Object {
    let t = Object::new();
    let colors: &[(&str, &str)] = if light {
        &[
            ("background", "#fafafa"),
            ("foreground", "#24292f"),
            ("cursor", "#0969da"),
            ("selectionBackground", "#0969da40"),
            ("black", "#24292f"),
            ("red", "#cf222e"),
            ("green", "#116329"),
            ("yellow", "#7d4e00"),
            ("blue", "#0969da"),
            ("magenta", "#8250df"),
            ("cyan", "#1b7c83"),
            ("white", "#57606a"),
            ("brightBlack", "#57606a"),
            ("brightRed", "#a40e26"),
            ("brightGreen", "#1a7f37"),
            ("brightYellow", "#633c01"),
            ("brightBlue", "#0550ae"),
            ("brightMagenta", "#8250df"),
            ("brightCyan", "#1b6f7a"),
            ("brightWhite", "#424a53"),
        ]
    } else {
        &[
            ("background", "#1b1e24"),
            ("foreground", "#d8dee9"),
            ("cursor", "#4fc3f7"),
            ("selectionBackground", "#4fc3f755"),
            ("black", "#2e3440"),
            ("red", "#ef6b73"),
            ("green", "#98c379"),
            ("yellow", "#e5c07b"),
            ("blue", "#61afef"),
            ("magenta", "#c678dd"),
            ("cyan", "#56b6c2"),
            ("white", "#d8dee9"),
            ("brightBlack", "#5c6370"),
            ("brightRed", "#ff7a85"),
            ("brightGreen", "#b5e08f"),
            ("brightYellow", "#ffd68a"),
            ("brightBlue", "#82c4ff"),
            ("brightMagenta", "#dd9bf0"),
            ("brightCyan", "#7fd4de"),
            ("brightWhite", "#ffffff"),
        ]
    };
    for (k, v) in colors {
        set(&t, k, *v);
    }
    t
}

impl TermView {
    pub fn new(light: bool, font_size: f64, font_family: Option<&str>) -> TermView {
        let opts = Object::new();
        set(&opts, "fontFamily", font_family.unwrap_or(DEFAULT_FONTS));
        set(&opts, "fontSize", font_size);
        set(&opts, "scrollback", 10_000);
        set(&opts, "cursorBlink", true);
        // unicode11 is a "proposed" API in xterm.js 6.
        set(&opts, "allowProposedApi", true);
        set(&opts, "theme", theme(light));
        // WCAG AA for text: xterm.js shifts a colour that is too close to its background
        // (bold white on the light theme, blue on green directory listings).
        set(&opts, "minimumContrastRatio", 4.5);
        let term = Terminal::new(&opts);
        let fit = FitAddon::new();
        term.load_addon(&fit);
        term.load_addon(&xterm::WebLinksAddon::new());
        term.load_addon(&xterm::Unicode11Addon::new());
        set(&term.unicode(), "activeVersion", "11");
        let search = Rc::new(Search::default());
        let commands = marks::install(&term);
        TermView {
            term,
            fit,
            search,
            commands,
            written: Rc::new(Cell::new(false)),
        }
    }

    /// Attaches to the page and picks the renderer: WebGL unless `force_dom` or the browser
    /// has no WebGL2; the DOM renderer otherwise, whenever the WebGL context is lost, and
    /// whenever the browser's device pixels disagree with `devicePixelRatio` (see
    /// [`DevicePixels`]).
    pub fn open(
        &self,
        parent: &web_sys::HtmlElement,
        force_dom: bool,
        on_renderer: impl Fn(&'static str) + 'static,
    ) {
        self.term.open(parent);
        self.fit();
        let on_renderer = std::rc::Rc::new(on_renderer);
        on_renderer("dom");
        if force_dom {
            return;
        }
        let term = self.term.clone();
        let fit = self.fit.clone();
        let pixels = DevicePixels::watch(parent);
        wasm_bindgen_futures::spawn_local(async move {
            // Asked here, after the first observation of the element (the next frame where
            // the browser reports device pixels), not while xterm.js opens: making a WebGL2
            // context takes 5-20 ms, and a click on the picker's Open waited for it.
            if !pixels.agree().await || !has_webgl2() {
                return;
            }
            let Ok(class) = wasm_bindgen_futures::JsFuture::from(xterm::load_webgl()).await else {
                return;
            };
            let Ok(class) = class.dyn_into::<js_sys::Function>() else {
                return;
            };
            let Ok(addon) = Reflect::construct(&class, &js_sys::Array::new()) else {
                return;
            };
            let load: js_sys::Function = Reflect::get(&term, &"loadAddon".into())
                .unwrap()
                .unchecked_into();
            if load.call1(&term, &addon).is_err() {
                return;
            }
            let dispose_target = addon.clone();
            let on_lost = on_renderer.clone();
            let refit = fit.clone();
            let done = std::cell::Cell::new(false);
            let to_dom = std::rc::Rc::new(move || {
                if done.replace(true) {
                    return;
                }
                if let Ok(d) = Reflect::get(&dispose_target, &"dispose".into()) {
                    let _ = d
                        .unchecked_into::<js_sys::Function>()
                        .call0(&dispose_target);
                }
                // The DOM renderer's cells differ in width from WebGL's: fit again, or the
                // last columns hide past the window's edge.
                refit.fit();
                on_lost("dom");
            });
            let lost = {
                let to_dom = to_dom.clone();
                Closure::<dyn FnMut()>::new(move || to_dom())
            };
            if let Ok(f) = Reflect::get(&addon, &"onContextLoss".into()) {
                let _ = f
                    .unchecked_into::<js_sys::Function>()
                    .call1(&addon, lost.as_ref());
            }
            lost.forget();
            pixels.on_disagree(move || to_dom());
            fit.fit();
            on_renderer("webgl");
        });
    }

    pub fn fit(&self) {
        self.fit.fit();
    }

    /// Clears the terminal at once (not through the write queue), its commands with it.
    pub fn reset(&self) {
        marks::clear(&self.commands);
        if self.written.replace(false) {
            self.term.reset();
        }
    }

    /// Writes text (escape sequences and all) to the terminal. Every write goes through
    /// here or [`TermView::write_bytes`] (see `written`).
    pub fn write_str(&self, data: &str) {
        self.written.set(true);
        self.term.write_str(data);
    }

    /// Writes bytes; `done` is called once xterm.js has parsed them.
    pub fn write_bytes(&self, data: &js_sys::Uint8Array, done: &js_sys::Function) {
        self.written.set(true);
        self.term.write_bytes(data, done);
    }

    pub fn set_theme(&self, light: bool) {
        set(&self.term.options(), "theme", theme(light));
    }

    /// Sets one xterm.js option (`scrollback`, `cursorStyle`, `fontFamily`, ...).
    pub fn set_option(&self, key: &str, value: JsValue) {
        set(&self.term.options(), key, value);
    }

    pub fn set_screen_reader(&self, on: bool) {
        set(&self.term.options(), "screenReaderMode", on);
    }

    pub fn set_font_size(&self, size: f64) {
        set(&self.term.options(), "fontSize", size);
        self.fit();
    }

    /// Searches the scrollback; the matches arrive through [`TermView::on_search_results`].
    /// The search addon is loaded on the first search (it is not part of the first load).
    pub fn find(&self, text: &str, backwards: bool, light: bool) {
        if text.is_empty() {
            self.clear_search();
            return;
        }
        // Decorations make the addon count the matches (`onDidChangeResults`).
        let decorations = Object::new();
        let (all, active) = if light {
            ("#9a670080", "#0969da")
        } else {
            ("#e5c07b80", "#4fc3f7")
        };
        set(&decorations, "matchOverviewRuler", all);
        set(&decorations, "activeMatchColorOverviewRuler", active);
        set(&decorations, "matchBackground", all);
        set(&decorations, "activeMatchBackground", active);
        let opts = Object::new();
        set(&opts, "decorations", decorations);
        let text = text.to_string();
        self.with_search(move |s| {
            if backwards {
                s.find_previous_with(&text, &opts);
            } else {
                s.find_next_with(&text, &opts);
            }
        });
    }

    /// Calls `f(index, count)` whenever the search's matches change (index -1: none active;
    /// count 0: not found), until [`TermView::stop_search_results`].
    pub fn on_search_results(&self, f: impl Fn(i32, u32) + 'static) {
        *self.search.results.borrow_mut() = Some(Rc::new(f));
    }

    pub fn stop_search_results(&self) {
        self.search.results.borrow_mut().take();
    }

    pub fn clear_search(&self) {
        if let Some(s) = self.search.addon.borrow().as_ref() {
            s.clear_decorations();
        }
    }

    /// Runs `f` with the search addon: at once when it is loaded, else once it is (in the
    /// order asked; the first call starts loading it).
    fn with_search(&self, f: impl FnOnce(&SearchAddon) + 'static) {
        if let Some(s) = self.search.addon.borrow().as_ref() {
            f(s);
            return;
        }
        let start = {
            let mut waiting = self.search.waiting.borrow_mut();
            waiting.push(Box::new(f));
            waiting.len() == 1
        };
        if !start {
            return;
        }
        let search = self.search.clone();
        let term = self.term.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let Ok(class) = wasm_bindgen_futures::JsFuture::from(xterm::load_search()).await else {
                search.waiting.borrow_mut().clear();
                return;
            };
            let class: js_sys::Function = class.unchecked_into();
            let Ok(addon) = Reflect::construct(&class, &js_sys::Array::new()) else {
                search.waiting.borrow_mut().clear();
                return;
            };
            let addon: SearchAddon = addon.unchecked_into();
            term.load_addon(&addon);
            let results = search.clone();
            let cb = Closure::<dyn Fn(JsValue)>::new(move |e: JsValue| {
                let num = |k: &str| Reflect::get(&e, &k.into()).ok().and_then(|v| v.as_f64());
                let f = results.results.borrow().clone();
                if let Some(f) = f {
                    f(
                        num("resultIndex").unwrap_or(-1.0) as i32,
                        num("resultCount").unwrap_or(0.0) as u32,
                    );
                }
            });
            addon.on_did_change_results(cb.as_ref().unchecked_ref());
            cb.forget();
            *search.addon.borrow_mut() = Some(addon.clone());
            let waiting = std::mem::take(&mut *search.waiting.borrow_mut());
            for f in waiting {
                f(&addon);
            }
        });
    }

    /// Writes a line of the app's own (dim) text, e.g. "not signed in".
    pub fn note(&self, text: &str) {
        self.write_str(&format!("\x1b[2m{}\x1b[0m\r\n", text.replace('\n', "\r\n")));
    }
}

fn has_webgl2() -> bool {
    let Some(doc) = web_sys::window().and_then(|w| w.document()) else {
        return false;
    };
    let Ok(canvas) = doc.create_element("canvas") else {
        return false;
    };
    let canvas: web_sys::HtmlCanvasElement = canvas.unchecked_into();
    matches!(canvas.get_context("webgl2"), Ok(Some(_)))
}

/// Whether the browser's device pixels agree with `devicePixelRatio`. xterm.js's WebGL
/// renderer sizes its canvas from the element's `device-pixel-content-box` but lays out and
/// draws with `devicePixelRatio`; where the two disagree (Chrome's device emulation, which
/// headless test browsers and DevTools' device mode use, reports that box in CSS pixels at a
/// ratio of 2) it draws outside its canvas and the terminal stays blank. The terminal then
/// keeps (or goes back to) the DOM renderer.
#[derive(Clone)]
struct DevicePixels {
    state: std::rc::Rc<std::cell::RefCell<PixelState>>,
}

#[derive(Default)]
struct PixelState {
    /// The first observation, once it came.
    agree: Option<bool>,
    /// Resolves `agree()`'s promise.
    waiting: Option<js_sys::Function>,
    /// Called once when a later observation disagrees.
    on_disagree: Option<Box<dyn FnOnce()>>,
}

impl DevicePixels {
    fn watch(el: &web_sys::HtmlElement) -> DevicePixels {
        let pixels = DevicePixels {
            state: Default::default(),
        };
        let state = pixels.state.clone();
        let observed = Closure::<dyn FnMut(js_sys::Array)>::new(move |entries: js_sys::Array| {
            let Some(entry) = entries
                .get(0)
                .dyn_into::<web_sys::ResizeObserverEntry>()
                .ok()
            else {
                return;
            };
            let agree = entry_agrees(&entry);
            let mut s = state.borrow_mut();
            s.agree.get_or_insert(agree);
            if let Some(resolve) = s.waiting.take() {
                let _ = resolve.call1(&JsValue::NULL, &JsValue::from_bool(agree));
            }
            if !agree {
                if let Some(f) = s.on_disagree.take() {
                    drop(s);
                    f();
                }
            }
        });
        let opts = web_sys::ResizeObserverOptions::new();
        opts.set_box(web_sys::ResizeObserverBoxOptions::DevicePixelContentBox);
        // Browsers without that box (older Safari) refuse it: xterm.js then computes the size
        // from `devicePixelRatio` itself, and the two cannot disagree.
        let watching = web_sys::ResizeObserver::new(observed.as_ref().unchecked_ref())
            .is_ok_and(|ro| catch_observe(&ro, el, &opts));
        observed.forget();
        if !watching {
            pixels.state.borrow_mut().agree = Some(true);
        }
        pixels
    }

    /// Resolves with the first observation.
    async fn agree(&self) -> bool {
        if let Some(a) = self.state.borrow().agree {
            return a;
        }
        let state = self.state.clone();
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            state.borrow_mut().waiting = Some(resolve);
        });
        wasm_bindgen_futures::JsFuture::from(promise)
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true)
    }

    fn on_disagree(&self, f: impl FnOnce() + 'static) {
        self.state.borrow_mut().on_disagree = Some(Box::new(f));
    }
}

/// `observe(el, {box: "device-pixel-content-box"})`, false where the browser refuses it.
fn catch_observe(
    ro: &web_sys::ResizeObserver,
    el: &web_sys::HtmlElement,
    opts: &web_sys::ResizeObserverOptions,
) -> bool {
    let observe: js_sys::Function = match js_sys::Reflect::get(ro, &"observe".into()) {
        Ok(f) => f.unchecked_into(),
        Err(_) => return false,
    };
    observe.call2(ro, el, opts).is_ok()
}

fn entry_agrees(entry: &web_sys::ResizeObserverEntry) -> bool {
    let dpr = web_sys::window().map_or(1.0, |w| w.device_pixel_ratio());
    let first = |a: js_sys::Array| {
        a.get(0)
            .dyn_into::<web_sys::ResizeObserverSize>()
            .ok()
            .map(|s| s.inline_size())
    };
    match (
        first(entry.device_pixel_content_box_size()),
        first(entry.content_box_size()),
    ) {
        // Rounding to whole device pixels moves the size by at most one.
        (Some(device), Some(css)) => (device - css * dpr).abs() <= 2.0,
        _ => true,
    }
}

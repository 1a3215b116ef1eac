//! The settings panel: font, scrollback, copying and pasting with the mouse, cursor, theme.
//! Saved per browser (local storage) and applied to the terminal at once.

use super::terminal::use_term;
use crate::app::Look;
use crate::page::{storage_get, storage_set};
use crate::term::TermView;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

pub const FONT_FAMILY: &str = "winrelay.fontFamily";
const SCROLLBACK: &str = "winrelay.scrollback";
const CURSOR: &str = "winrelay.cursorStyle";
pub const COPY_ON_SELECT: &str = "winrelay.copyOnSelect";
pub const RIGHT_CLICK_PASTE: &str = "winrelay.rightClickPaste";

/// Whether a stored on/off setting is on (`default` when never set).
pub fn stored_flag(key: &str, default: bool) -> bool {
    storage_get(key).map_or(default, |v| v == "1")
}

/// Applies the stored settings that the terminal takes as options (on the embed page the
/// portal decides, so nothing is applied there).
pub fn apply_stored(t: &TermView) {
    if let Some(n) = storage_get(SCROLLBACK).and_then(|v| v.parse::<u32>().ok()) {
        t.set_option("scrollback", JsValue::from(n.clamp(100, 100_000)));
    }
    if let Some(c) =
        storage_get(CURSOR).filter(|c| ["block", "underline", "bar"].contains(&c.as_str()))
    {
        t.set_option("cursorStyle", JsValue::from_str(&c));
    }
}

#[component]
pub fn SettingsPanel() -> impl IntoView {
    let term = use_term();
    let look: Look = expect_context();
    let family = RwSignal::new(storage_get(FONT_FAMILY).unwrap_or_default());
    let scrollback = RwSignal::new(storage_get(SCROLLBACK).unwrap_or_else(|| "10000".into()));
    let cursor = RwSignal::new(storage_get(CURSOR).unwrap_or_else(|| "block".into()));
    let copy = RwSignal::new(stored_flag(COPY_ON_SELECT, true));
    let paste = RwSignal::new(stored_flag(RIGHT_CLICK_PASTE, false));
    // The panel takes the keyboard (Escape closes it).
    let first = NodeRef::<leptos::html::Input>::new();
    first.on_load(|el| {
        let _ = el.focus();
    });
    let close = move || {
        look.settings_open.set(false);
        term.focus();
    };
    view! {
        <div class="dialog settings" role="dialog" aria-label="Settings"
            on:keydown=move |e| if e.key() == "Escape" { close() }>
            <div class="card">
                <h2>"Settings " <span class="muted">"saved in this browser"</span></h2>
                <div class="form">
                    <label>"Font family"
                        <input type="text" class="font-family" node_ref=first placeholder="Cascadia Mono, Consolas, monospace"
                            prop:value=move || family.get()
                            on:change=move |e| {
                                let v = event_target_value(&e);
                                storage_set(FONT_FAMILY, &v);
                                let v = if v.trim().is_empty() { crate::term::DEFAULT_FONTS.to_string() } else { v };
                                term.with(|t| { t.set_option("fontFamily", JsValue::from_str(&v)); t.fit(); });
                                family.set(event_target_value(&e));
                            }/>
                    </label>
                    <label>"Font size"
                        <input type="number" class="font-size" min="6" max="40"
                            prop:value=move || look.font_size.get().to_string()
                            on:change=move |e| {
                                if let Ok(v) = event_target_value(&e).parse::<f64>() {
                                    look.font_size.set(v.clamp(6.0, 40.0));
                                }
                            }/>
                    </label>
                    <label>"Scrollback (lines)"
                        <input type="number" class="scrollback" min="100" max="100000" step="1000"
                            prop:value=move || scrollback.get()
                            on:change=move |e| {
                                if let Ok(v) = event_target_value(&e).parse::<u32>() {
                                    let v = v.clamp(100, 100_000);
                                    storage_set(SCROLLBACK, &v.to_string());
                                    term.with(|t| t.set_option("scrollback", JsValue::from(v)));
                                    scrollback.set(v.to_string());
                                }
                            }/>
                    </label>
                    <label>"Cursor"
                        <select class="cursor-style" on:change=move |e| {
                            let v = event_target_value(&e);
                            storage_set(CURSOR, &v);
                            term.with(|t| t.set_option("cursorStyle", JsValue::from_str(&v)));
                            cursor.set(v);
                        }>
                            {["block", "underline", "bar"].into_iter().map(|c| view! {
                                <option value=c selected=move || cursor.get() == c>{c}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label>"Theme"
                        <select class="theme-choice" on:change=move |e| look.light.set(event_target_value(&e) == "light")>
                            <option value="dark" selected=move || !look.light.get()>"dark"</option>
                            <option value="light" selected=move || look.light.get()>"light"</option>
                        </select>
                    </label>
                    <label class="check">
                        <input type="checkbox" class="copy-on-select" prop:checked=move || copy.get()
                            on:change=move |e| {
                                let on = event_target_checked(&e);
                                storage_set(COPY_ON_SELECT, if on { "1" } else { "0" });
                                copy.set(on);
                            }/>
                        "Copy selected text to the clipboard"
                    </label>
                    <label class="check">
                        <input type="checkbox" class="right-click-paste" prop:checked=move || paste.get()
                            on:change=move |e| {
                                let on = event_target_checked(&e);
                                storage_set(RIGHT_CLICK_PASTE, if on { "1" } else { "0" });
                                paste.set(on);
                            }/>
                        "Right-click pastes (as in the Windows console)"
                    </label>
                </div>
                <div class="actions">
                    <button class="primary close-settings" on:click=move |_| close()>"Done"</button>
                </div>
            </div>
        </div>
    }
}

//! Thin bindings to xterm.js 6 and the addons the app uses.
//!
//! The page's bootstrap module (see `frontend/build/assemble.mjs`) imports xterm.js and its
//! addons from their content-hashed files and puts the classes on `globalThis.WinrelayXterm`;
//! binding through that namespace keeps these bindings independent of the hashed names.

use js_sys::{Function, Object, Promise, Uint8Array};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// An xterm.js `Terminal`.
    #[derive(Clone)]
    #[wasm_bindgen(js_namespace = WinrelayXterm)]
    pub type Terminal;

    #[wasm_bindgen(constructor, js_namespace = WinrelayXterm)]
    pub fn new(options: &Object) -> Terminal;

    #[wasm_bindgen(method)]
    pub fn open(this: &Terminal, parent: &web_sys::HtmlElement);
    /// Writes bytes; `callback` runs once xterm.js has parsed them.
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_bytes(this: &Terminal, data: &Uint8Array, callback: &Function);
    #[wasm_bindgen(method, js_name = write)]
    pub fn write_str(this: &Terminal, data: &str);
    #[wasm_bindgen(method)]
    pub fn reset(this: &Terminal);
    #[wasm_bindgen(method)]
    pub fn focus(this: &Terminal);
    #[wasm_bindgen(method)]
    pub fn paste(this: &Terminal, data: &str);
    #[wasm_bindgen(method, js_name = hasSelection)]
    pub fn has_selection(this: &Terminal) -> bool;
    #[wasm_bindgen(method, js_name = getSelection)]
    pub fn get_selection(this: &Terminal) -> String;
    #[wasm_bindgen(method, js_name = clearSelection)]
    pub fn clear_selection(this: &Terminal);
    #[wasm_bindgen(method, js_name = scrollPages)]
    pub fn scroll_pages(this: &Terminal, pages: i32);
    #[wasm_bindgen(method, js_name = loadAddon)]
    pub fn load_addon(this: &Terminal, addon: &JsValue);
    #[wasm_bindgen(method, getter)]
    pub fn cols(this: &Terminal) -> u16;
    #[wasm_bindgen(method, getter)]
    pub fn rows(this: &Terminal) -> u16;
    /// The live options object: setting a property on it reconfigures the terminal.
    #[wasm_bindgen(method, getter)]
    pub fn options(this: &Terminal) -> Object;
    #[wasm_bindgen(method, getter)]
    pub fn unicode(this: &Terminal) -> Object;
    #[wasm_bindgen(method, js_name = onData)]
    pub fn on_data(this: &Terminal, listener: &Function) -> JsValue;
    #[wasm_bindgen(method, js_name = onResize)]
    pub fn on_resize(this: &Terminal, listener: &Function) -> JsValue;
    #[wasm_bindgen(method, js_name = attachCustomKeyEventHandler)]
    pub fn attach_custom_key_event_handler(this: &Terminal, handler: &Function);

    /// `@xterm/addon-fit`.
    #[derive(Clone)]
    #[wasm_bindgen(js_namespace = WinrelayXterm)]
    pub type FitAddon;
    #[wasm_bindgen(constructor, js_namespace = WinrelayXterm)]
    pub fn new() -> FitAddon;
    #[wasm_bindgen(method)]
    pub fn fit(this: &FitAddon);

    /// `@xterm/addon-web-links`.
    #[wasm_bindgen(js_namespace = WinrelayXterm)]
    pub type WebLinksAddon;
    #[wasm_bindgen(constructor, js_namespace = WinrelayXterm)]
    pub fn new() -> WebLinksAddon;

    /// `@xterm/addon-unicode11`.
    #[wasm_bindgen(js_namespace = WinrelayXterm)]
    pub type Unicode11Addon;
    #[wasm_bindgen(constructor, js_namespace = WinrelayXterm)]
    pub fn new() -> Unicode11Addon;

    /// `@xterm/addon-search`.
    #[derive(Clone)]
    #[wasm_bindgen(js_namespace = WinrelayXterm)]
    pub type SearchAddon;
    #[wasm_bindgen(constructor, js_namespace = WinrelayXterm)]
    pub fn new() -> SearchAddon;
    #[wasm_bindgen(method, js_name = findNext)]
    pub fn find_next_with(this: &SearchAddon, term: &str, options: &Object) -> bool;
    #[wasm_bindgen(method, js_name = findPrevious)]
    pub fn find_previous_with(this: &SearchAddon, term: &str, options: &Object) -> bool;
    /// `{resultIndex, resultCount}` after each search with decorations.
    #[wasm_bindgen(method, js_name = onDidChangeResults)]
    pub fn on_did_change_results(this: &SearchAddon, listener: &Function) -> JsValue;
    #[wasm_bindgen(method, js_name = clearDecorations)]
    pub fn clear_decorations(this: &SearchAddon);

    /// Resolves to the `WebglAddon` class (loaded on demand: it is the largest addon).
    #[wasm_bindgen(js_namespace = WinrelayXterm, js_name = loadWebgl)]
    pub fn load_webgl() -> Promise;
}

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
    #[wasm_bindgen(method, getter)]
    pub fn parser(this: &Terminal) -> Parser;
    #[wasm_bindgen(method, getter)]
    pub fn buffer(this: &Terminal) -> BufferNamespace;
    /// A marker on the cursor's line (plus `offset`); `undefined` on the alternate screen.
    #[wasm_bindgen(method, js_name = registerMarker)]
    pub fn register_marker(this: &Terminal, offset: i32) -> Option<Marker>;
    /// `undefined` when the marker is gone or the options are refused.
    #[wasm_bindgen(method, js_name = registerDecoration)]
    pub fn register_decoration(this: &Terminal, options: &Object) -> Option<Decoration>;
    #[wasm_bindgen(method, js_name = scrollToLine)]
    pub fn scroll_to_line(this: &Terminal, line: u32);
    #[wasm_bindgen(method, js_name = scrollToBottom)]
    pub fn scroll_to_bottom(this: &Terminal);

    /// `terminal.parser`: hooks into the escape sequence parser.
    pub type Parser;
    /// Calls `handler(data)` for each `OSC ident ; data` (BEL or ST terminated); the
    /// handler returns whether it consumed the sequence.
    #[wasm_bindgen(method, js_name = registerOscHandler)]
    pub fn register_osc_handler(this: &Parser, ident: u32, handler: &Function) -> JsValue;
    /// `id` is `{final: "c"}` style; the handler returns whether it consumed the sequence.
    #[wasm_bindgen(method, js_name = registerEscHandler)]
    pub fn register_esc_handler(this: &Parser, id: &Object, handler: &Function) -> JsValue;

    /// `terminal.buffer`.
    pub type BufferNamespace;
    #[wasm_bindgen(method, getter)]
    pub fn active(this: &BufferNamespace) -> Buffer;

    /// One buffer (normal or alternate); lines are counted from the top of the scrollback.
    pub type Buffer;
    #[wasm_bindgen(method, getter, js_name = type)]
    pub fn kind(this: &Buffer) -> String;
    #[wasm_bindgen(method, getter, js_name = cursorX)]
    pub fn cursor_x(this: &Buffer) -> u32;
    #[wasm_bindgen(method, getter, js_name = cursorY)]
    pub fn cursor_y(this: &Buffer) -> u32;
    /// The line at the top of the viewport.
    #[wasm_bindgen(method, getter, js_name = viewportY)]
    pub fn viewport_y(this: &Buffer) -> u32;
    /// The line at the top of the screen (the bottom page).
    #[wasm_bindgen(method, getter, js_name = baseY)]
    pub fn base_y(this: &Buffer) -> u32;
    #[wasm_bindgen(method, getter)]
    pub fn length(this: &Buffer) -> u32;
    #[wasm_bindgen(method, js_name = getLine)]
    pub fn get_line(this: &Buffer, y: u32) -> Option<BufferLine>;

    pub type BufferLine;
    /// Whether this line continues the one above (soft wrap).
    #[wasm_bindgen(method, getter, js_name = isWrapped)]
    pub fn is_wrapped(this: &BufferLine) -> bool;
    #[wasm_bindgen(method, js_name = translateToString)]
    pub fn text_range(this: &BufferLine, trim_right: bool, start: u32, end: u32) -> String;
    #[wasm_bindgen(method, js_name = translateToString)]
    pub fn text_from(this: &BufferLine, trim_right: bool, start: u32) -> String;

    /// A line that moves with the buffer; disposed when its line leaves the scrollback.
    #[derive(Clone)]
    pub type Marker;
    /// The marker's line (-1 once disposed).
    #[wasm_bindgen(method, getter)]
    pub fn line(this: &Marker) -> i32;
    #[wasm_bindgen(method, getter, js_name = isDisposed)]
    pub fn is_disposed(this: &Marker) -> bool;
    #[wasm_bindgen(method)]
    pub fn dispose(this: &Marker);

    /// A decoration drawn at a marker.
    #[derive(Clone)]
    pub type Decoration;
    /// Calls `listener(element)` each time the decoration is drawn.
    #[wasm_bindgen(method, js_name = onRender)]
    pub fn on_render(this: &Decoration, listener: &Function) -> JsValue;
    /// The element, once drawn.
    #[wasm_bindgen(method, getter)]
    pub fn element(this: &Decoration) -> Option<web_sys::HtmlElement>;
    #[wasm_bindgen(method)]
    pub fn dispose(this: &Decoration);

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
    #[wasm_bindgen(method, js_name = findNext)]
    pub fn find_next_with(this: &SearchAddon, term: &str, options: &Object) -> bool;
    #[wasm_bindgen(method, js_name = findPrevious)]
    pub fn find_previous_with(this: &SearchAddon, term: &str, options: &Object) -> bool;
    /// `{resultIndex, resultCount}` after each search with decorations.
    #[wasm_bindgen(method, js_name = onDidChangeResults)]
    pub fn on_did_change_results(this: &SearchAddon, listener: &Function) -> JsValue;
    #[wasm_bindgen(method, js_name = clearDecorations)]
    pub fn clear_decorations(this: &SearchAddon);

    /// Resolves to the `SearchAddon` class (loaded on the first search).
    #[wasm_bindgen(js_namespace = WinrelayXterm, js_name = loadSearch)]
    pub fn load_search() -> Promise;

    /// Resolves to the `WebglAddon` class (loaded on demand: it is the largest addon).
    #[wasm_bindgen(js_namespace = WinrelayXterm, js_name = loadWebgl)]
    pub fn load_webgl() -> Promise;
}

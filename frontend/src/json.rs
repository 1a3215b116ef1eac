//! JSON through the browser's own `JSON.parse`/`JSON.stringify` and serde-wasm-bindgen,
//! instead of compiling a JSON parser into the wasm.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// Parses `text` as JSON into `T`; the error says what did not fit.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    let value = js_sys::JSON::parse(text).map_err(|e| {
        js_sys::Error::from(e)
            .message()
            .as_string()
            .unwrap_or_default()
    })?;
    serde_wasm_bindgen::from_value(value).map_err(|e| e.to_string())
}

/// `value` as JSON text.
pub fn to_string<T: Serialize>(value: &T) -> String {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .ok()
        .and_then(|v| js_sys::JSON::stringify(&v).ok())
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

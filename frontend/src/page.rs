//! The browser page around the app: the window, local storage, the query string, the
//! clipboard. Plain functions, no app state.

pub fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

pub fn storage_get(key: &str) -> Option<String> {
    window()
        .local_storage()
        .ok()
        .flatten()?
        .get_item(key)
        .ok()
        .flatten()
}

pub fn storage_set(key: &str, value: &str) {
    if let Some(s) = window().local_storage().ok().flatten() {
        let _ = s.set_item(key, value);
    }
}

pub fn query_param(name: &str) -> Option<String> {
    let search = window().location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

pub fn clipboard_write(text: String) {
    let clip = window().navigator().clipboard();
    let _ = clip.write_text(&text);
}

/// Sets the tab's title.
pub fn set_title(title: &str) {
    if let Some(doc) = window().document() {
        doc.set_title(title);
    }
}

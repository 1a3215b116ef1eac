//! `/recordings`: the recordings of targets the user owns (`/recordings/ID` replays one,
//! see `crate::replay`).

use super::terminal::use_term;
use crate::api;
use crate::nav::use_nav;
use crate::request::request;
use crate::route::Route;
use leptos::prelude::*;
use wasm_bindgen::JsValue;

#[component]
pub fn Recordings() -> impl IntoView {
    let nav = use_nav();
    let term = use_term();
    term.reset_with_note("winrelay: recordings of sessions on the targets you own.");
    term.cover(NodeRef::new());
    let list = RwSignal::new(None::<Result<Vec<api::RecordingInfo>, String>>);
    let load = request(move |_: &()| {
        Box::pin(async move {
            let got = api::get::<Vec<api::RecordingInfo>>("/api/recordings").await;
            list.set(Some(got.map_err(|f| f.message())));
        })
    });
    load.dispatch(());
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
                                        <button class="primary replay" on:click=move |_| nav.navigate(Route::Replay(id.clone()), false)>"Replay"</button>
                                    </li>
                                }
                            }).collect_view()}
                        </ul>
                    }.into_any(),
                }}
                <button on:click=move |_| nav.navigate(Route::Home, false)>"Back to targets"</button>
            </div>
        </div>
    }
}

//! `/fleet/SERVICE`: one service's tasks (discovered targets) with where they run, whether
//! they answer, and the sessions open on each; and the facts shown for a task in the picker.
//!
//! Each task is one row keyed by its target name, its open sessions inside it: typing into
//! several at once (a later feature) selects rows and sends to their sessions.

use super::terminal::use_term;
use crate::api;
use crate::components::when::When;
use crate::nav::use_nav;
use crate::request::request;
use crate::route::Route;
use leptos::prelude::*;
use winrelay_shared::protocol::api::{SessionInfo, TargetInfo};

/// The tasks of `service` and their sessions.
#[component]
pub fn Fleet(service: String) -> impl IntoView {
    let term = use_term();
    let nav = use_nav();
    term.reset_with_note(&format!("winrelay: the tasks of service {service}."));
    let service = StoredValue::new(service);
    let tasks = RwSignal::new(Vec::<TargetInfo>::new());
    let sessions = RwSignal::new(Vec::<SessionInfo>::new());
    let loaded = RwSignal::new(false);
    let filter = RwSignal::new(String::new());
    let load = request(move |_: &()| {
        Box::pin(async move {
            match api::get::<Vec<TargetInfo>>("/api/targets").await {
                Ok(all) => tasks.set(tasks_of(all, &service.get_value())),
                Err(f) => term.note(&format!("\r\n{}", f.message())),
            }
            if let Ok(s) = api::get::<Vec<SessionInfo>>("/api/sessions").await {
                sessions.set(s.into_iter().filter(|s| !s.state.is_final()).collect());
            }
            loaded.set(true);
        })
    });
    load.dispatch(());
    let filter_box = NodeRef::<leptos::html::Input>::new();
    term.cover(filter_box);

    let shown = move || {
        let f = filter.get().to_lowercase();
        tasks
            .get()
            .into_iter()
            .filter(|t| {
                f.is_empty()
                    || t.name.to_lowercase().contains(&f)
                    || t.facts
                        .node
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&f))
            })
            .collect::<Vec<_>>()
    };
    let summary = move || {
        let (n, up) = tasks.with(|t| {
            (
                t.len(),
                t.iter().filter(|t| t.reachable == Some(true)).count(),
            )
        });
        let open = sessions.with(|s| {
            tasks.with(|t| {
                s.iter()
                    .filter(|s| t.iter().any(|t| t.name == s.target))
                    .count()
            })
        });
        format!(
            "{n} task{}, {up} reachable, {open} open session{}",
            if n == 1 { "" } else { "s" },
            if open == 1 { "" } else { "s" }
        )
    };
    view! {
        <div class="overlay picker fleet" data-service=service.get_value()>
            <div class="card">
                <h2>"Service " {service.get_value()} " " <span class="muted summary">{summary}</span></h2>
                <div class="row">
                    <button class="back" on:click=move |_| nav.navigate(Route::Home, false)>"All targets"</button>
                    <button class="refresh" on:click=move |_| { load.dispatch(()); }>"Refresh"</button>
                </div>
                <input type="search" placeholder="Filter tasks" aria-label="Filter tasks"
                    node_ref=filter_box prop:value=move || filter.get()
                    on:input=move |e| filter.set(event_target_value(&e))/>
                <ul class="list targets tasks">
                    {move || shown().into_iter().map(|t| view! { <TaskRow t=t sessions=sessions/> }).collect_view()}
                </ul>
                <When when=move || loaded.get() && tasks.with(|t| t.is_empty())>
                    <p class="empty">
                        "No running task of this service is a target for you: it has none, is not labelled for winrelay, or you have no role on it."
                    </p>
                </When>
            </div>
        </div>
    }
}

/// One task: where it runs, whether it answers, its sessions (Join), and Open.
#[component]
fn TaskRow(t: TargetInfo, sessions: RwSignal<Vec<SessionInfo>>) -> impl IntoView {
    let nav = use_nav();
    let name = StoredValue::new(t.name.clone());
    let (reach, reach_class) = reach_label(t.reachable);
    let mine = move || {
        sessions.with(|s| {
            s.iter()
                .filter(|s| name.with_value(|n| &s.target == n))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    view! {
        <li data-target=t.name.clone()>
            <span class="name">{t.name.clone()}</span>
            <span class=reach_class>{reach}</span>
            <span class="desc facts">{facts_line(&t)}</span>
            <span class="spacer"></span>
            <span class="sessions">
                {move || {
                    let open = mine();
                    if open.is_empty() {
                        return view! { <span class="muted">"no session"</span> }.into_any();
                    }
                    open.into_iter()
                        .map(|s| {
                            let id = s.id.clone();
                            view! {
                                <button class="join" data-session=s.id.clone() title=format!("by {}", s.owner)
                                    on:click=move |_| nav.navigate(Route::Session(id.clone()), false)>
                                    {format!("Join {}", s.owner)}
                                </button>
                            }
                        })
                        .collect_view()
                        .into_any()
                }}
            </span>
            <button class="primary open" on:click=move |_| nav.navigate(Route::Open(name.get_value()), false)>"Open"</button>
        </li>
    }
}

/// The targets of `service`, by slot (then name).
pub fn tasks_of(all: Vec<TargetInfo>, service: &str) -> Vec<TargetInfo> {
    let mut tasks: Vec<TargetInfo> = all
        .into_iter()
        .filter(|t| t.facts.service.as_deref() == Some(service))
        .collect();
    tasks.sort_by(|a, b| (a.facts.slot, &a.name).cmp(&(b.facts.slot, &b.name)));
    tasks
}

/// "reachable" / "unreachable" / "not checked", with the class that colours it.
pub fn reach_label(reachable: Option<bool>) -> (&'static str, &'static str) {
    match reachable {
        Some(true) => ("reachable", "state ok"),
        Some(false) => ("unreachable", "state bad"),
        None => ("not checked", "state"),
    }
}

/// `node n0d3a1b2c3d4 · winapp:ltsc2022 · running · up 2 h 5 min`: what discovery says.
pub fn facts_line(t: &TargetInfo) -> String {
    let f = &t.facts;
    let mut parts = Vec::new();
    if let Some(node) = &f.node {
        parts.push(format!("node {node}"));
    }
    if let Some(image) = &f.image {
        parts.push(image.clone());
    }
    if let Some(state) = &f.state {
        parts.push(state.clone());
    }
    if let Some(up) = f.started_at.as_deref().and_then(uptime) {
        parts.push(up);
    }
    parts.join(" · ")
}

/// `up 5 min`, `up 2 h 5 min`, `up 3 d 4 h` since an RFC 3339 time; None if unreadable.
pub fn uptime(since: &str) -> Option<String> {
    let then = js_sys::Date::parse(since);
    if then.is_nan() {
        return None;
    }
    let secs = ((js_sys::Date::now() - then) / 1000.0).max(0.0) as u64;
    Some(format_uptime(secs))
}

fn format_uptime(secs: u64) -> String {
    let (d, h, m) = (secs / 86_400, secs % 86_400 / 3600, secs % 3600 / 60);
    if d > 0 {
        format!("up {d} d {h} h")
    } else if h > 0 {
        format!("up {h} h {m} min")
    } else if m > 0 {
        format!("up {m} min")
    } else {
        format!("up {secs} s")
    }
}

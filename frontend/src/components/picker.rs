//! `/`: the targets and the live sessions; the sign-in form when not signed in.

use super::fleet::{facts_line, reach_label, tasks_of};
use super::sign_in::CredentialForm;
use super::terminal::use_term;
use crate::account::use_account;
use crate::api;
use crate::components::when::When;
use crate::nav::use_nav;
use crate::request::request;
use crate::route::Route;
use leptos::prelude::*;
use winrelay_shared::protocol::api::{SessionInfo, TargetInfo};

/// Lists the targets and the live sessions; writes the sign-in help into the terminal
/// when the user is not signed in.
#[component]
pub fn Picker() -> impl IntoView {
    let term = use_term();
    let account = use_account();
    term.reset_with_note("winrelay: pick a target to open a shell, or join a live session.");
    let me = account.me;
    let targets = RwSignal::new(Vec::<TargetInfo>::new());
    let sessions = RwSignal::new(Vec::<SessionInfo>::new());
    let filter = RwSignal::new(String::new());
    // The target whose credential form is open.
    let creds_for = RwSignal::new(None::<String>);
    // Whether the lists were asked for (and not refused): they are asked for at once, along
    // with who is signed in, not after it; a refusal (not signed in) is left to the sign-in's
    // note below, and the lists are asked for again once signed in.
    let asked = StoredValue::new(true);
    let load = request(move |_: &()| {
        asked.set_value(true);
        // The two lists are asked for at once, not one after the other.
        leptos::task::spawn_local(async move {
            if let Ok(s) = api::get::<Vec<SessionInfo>>("/api/sessions").await {
                sessions.set(s.into_iter().filter(|s| !s.state.is_final()).collect());
            }
        });
        Box::pin(async move {
            match api::get::<Vec<TargetInfo>>("/api/targets").await {
                Ok(t) => targets.set(t),
                Err(f) if f.status() == Some(401) => asked.set_value(false),
                Err(f) => term.note(&f.message()),
            }
        })
    });
    load.dispatch(());
    // The lists follow the sign-in: asked for again once signed in (here, or after being
    // refused); why not goes into the terminal.
    Effect::new(move |_| match me.get() {
        Some(Ok(_)) if !asked.get_value() => {
            load.dispatch(());
        }
        Some(Err(fail)) => {
            asked.set_value(false);
            term.note(&format!("\r\n{}", fail.message()));
        }
        _ => {}
    });
    account.refresh();

    // The relay sent a used or made-up login link here: say so once, then drop it from the
    // address (a reload or a bookmark should not repeat it).
    let bad_link = crate::page::query_param("login").as_deref() == Some("invalid");
    if bad_link {
        if let Ok(history) = leptos::prelude::window().history() {
            let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some("/"));
        }
    }

    // The picker has the keyboard, not the terminal under it.
    let filter_box = NodeRef::<leptos::html::Input>::new();
    term.cover(filter_box);
    let nav = use_nav();

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
                        {bad_link.then(|| view! {
                            <p class="signin-error login-link-invalid">
                                "This login link is invalid, expired or already used: each link works once. Sign in below, or print a new link."
                            </p>
                        })}
                        <p class="signin-error">{fail.message()}</p>
                        {crate::lazy::sign_in(Callback::new(|_: ()| ()), true)}
                    }.into_any(),
                    Some(Err(fail)) => view! {
                        <h2>"The relay is not answering"</h2>
                        <p class="signin-error">{fail.message()}</p>
                        <button on:click=move |_| account.refresh()>"Try again"</button>
                    }.into_any(),
                    Some(Ok(me)) => view! {
                        <h2>"Targets " <span class="muted">"signed in as " {me.user}</span></h2>
                        <input type="search" placeholder="Filter targets" aria-label="Filter targets"
                            node_ref=filter_box prop:value=move || filter.get()
                            on:input=move |e| filter.set(event_target_value(&e))
                            on:keydown=move |e| {
                                // Enter opens the first target the filter leaves.
                                if e.key() == "Enter" {
                                    if let Some(t) = shown().into_iter().next() {
                                        e.prevent_default();
                                        if t.ask_credentials {
                                            creds_for.set(Some(t.name));
                                        } else {
                                            nav.open_now(t.name, term.size());
                                        }
                                    }
                                }
                            }/>
                        <ul class="list targets">
                            <For each=move || ungrouped(shown()) key=|t| t.name.clone() let:t>
                                <TargetRow t=t creds_for=creds_for/>
                            </For>
                        </ul>
                        // Discovered tasks, grouped by their service.
                        {move || services(&shown())
                            .into_iter()
                            .map(|(service, tasks)| view! { <ServiceGroup service=service tasks=tasks creds_for=creds_for/> })
                            .collect_view()}
                        <When when=move || targets.with(|t| t.is_empty())>
                            <p class="empty">"No targets yet: the relay's configuration lists none for you."</p>
                        </When>
                        <h2>"Live sessions"</h2>
                        <ul class="list sessions">
                            <For each=move || sessions.get() key=|s| s.id.clone() let:s>
                                <SessionRow s=s/>
                            </For>
                        </ul>
                        <When when=move || sessions.with(|s| s.is_empty())>
                            <p class="empty">"None: open a target to start one."</p>
                        </When>
                    }.into_any(),
                }}
            </div>
        </div>
    }
}

/// Targets that are not tasks of a service (configured ones, plain containers).
fn ungrouped(targets: Vec<TargetInfo>) -> Vec<TargetInfo> {
    targets
        .into_iter()
        .filter(|t| t.facts.service.is_none())
        .collect()
}

/// The services among the targets, by name, each with its tasks (by slot).
fn services(targets: &[TargetInfo]) -> Vec<(String, Vec<TargetInfo>)> {
    let mut names: Vec<String> = targets
        .iter()
        .filter_map(|t| t.facts.service.clone())
        .collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .map(|s| {
            let tasks = tasks_of(targets.to_vec(), &s);
            (s, tasks)
        })
        .collect()
}

/// A service's tasks under its name, with the way to its fleet view.
#[component]
fn ServiceGroup(
    service: String,
    tasks: Vec<TargetInfo>,
    creds_for: RwSignal<Option<String>>,
) -> impl IntoView {
    let nav = use_nav();
    let up = tasks.iter().filter(|t| t.reachable == Some(true)).count();
    let count = format!(
        "{} task{} · {up} reachable",
        tasks.len(),
        if tasks.len() == 1 { "" } else { "s" }
    );
    let name = StoredValue::new(service.clone());
    view! {
        <section class="service" data-service=service.clone()>
            <h3>
                "service " <span class="name">{service.clone()}</span> " "
                <span class="muted">{count}</span> " "
                <button class="fleet-link" on:click=move |_| nav.navigate(Route::Fleet(name.get_value()), false)>
                    "Fleet view"
                </button>
            </h3>
            <ul class="list targets">
                {tasks.into_iter().map(|t| view! { <TargetRow t=t creds_for=creds_for/> }).collect_view()}
            </ul>
        </section>
    }
}

/// A target: Open, or first the credential form when the target asks who connects.
#[component]
fn TargetRow(t: TargetInfo, creds_for: RwSignal<Option<String>>) -> impl IntoView {
    let nav = use_nav();
    let term = use_term();
    let name = StoredValue::new(t.name.clone());
    let (reach, reach_class) = reach_label(t.reachable);
    // A discovered task says where it runs instead of the description built from it.
    let desc = if t.facts.service.is_some() {
        facts_line(&t)
    } else {
        t.description.clone()
    };
    let ask = t.ask_credentials;
    let open = move |_| {
        if ask {
            creds_for.set(Some(name.get_value()));
        } else {
            nav.open_now(name.get_value(), term.size());
        }
    };
    view! {
        <li data-target=t.name.clone()>
            <span class="name">{t.name.clone()}</span>
            <span class="muted kind" title="Kind of shell">{super::session_view::shell_label(t.shell)}</span>
            <span class=reach_class>{reach}</span>
            <span class="desc">{desc}</span>
            <span class="spacer"></span>
            <button class="primary open" on:click=open>"Open"</button>
        </li>
        <When when=move || creds_for.with(|c| name.with_value(|n| c.as_ref() == Some(n)))>
            <li>
                <CredentialForm class="credentials" on_submit=move |c| nav.open_with(name.get_value(), c)>
                    "Connect"
                </CredentialForm>
            </li>
        </When>
    }
}

#[component]
fn SessionRow(s: SessionInfo) -> impl IntoView {
    let nav = use_nav();
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
            <span class="muted since" title="When it started">{started_at(s.created_at)}</span>
            <span class="desc">{if who.is_empty() { "nobody attached".to_string() } else { who }}</span>
            {s.last_command.clone().map(|c| view! {
                <code class="last-command" title="The last command typed">{c}</code>
            })}
            <span class="spacer"></span>
            <button class="join" on:click=move |_| nav.navigate(Route::Session(id.clone()), false)>"Join"</button>
        </li>
    }
}

/// "since 14:05" today, "since 3 Mar, 14:05" before: when a session started, in local time.
fn started_at(secs: u64) -> String {
    let d = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(secs as f64 * 1000.0));
    let today = js_sys::Date::new_0().to_date_string() == d.to_date_string();
    let time = format!("{:02}:{:02}", d.get_hours(), d.get_minutes());
    if today {
        format!("since {time}")
    } else {
        format!(
            "since {} {}, {time}",
            d.get_date(),
            ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
                [d.get_month() as usize % 12]
        )
    }
}

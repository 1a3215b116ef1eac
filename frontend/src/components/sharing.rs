//! Sharing a session (owner only): share links, and who is attached. The requests go
//! through one [`Sharing`], made by the session view and handed to its parts.

use crate::api;
use crate::components::when::When;
use crate::page::{clipboard_write, window};
use crate::session::ConnSignals;
use leptos::prelude::*;
use std::time::Duration;
use winrelay_shared::protocol::Role;

/// Expiry choices for new share links.
const SHARE_TTLS: [(u64, &str); 5] = [
    (900, "15 minutes"),
    (3600, "1 hour"),
    (8 * 3600, "8 hours"),
    (24 * 3600, "1 day"),
    (7 * 24 * 3600, "7 days"),
];

/// A request about the session's sharing.
#[derive(Clone)]
pub enum Request {
    /// Reloads the list of links.
    Load,
    /// Creates a link for a role, valid so many seconds, and copies it.
    Create(Role, u64),
    /// Revokes the share with this id.
    Revoke(String),
    /// Changes a client's role, or removes it (`None`).
    Client(u64, Option<Role>),
}

/// A session's sharing state and requests. All `Copy` handles.
///
/// The requests' code is in the sharing chunk (`lazy::sharing_request`), with the panel:
/// a session page that never shares never loads it.
#[derive(Clone, Copy)]
pub struct Sharing {
    /// The link just created: its role, address and lifetime in seconds.
    pub link: RwSignal<Option<(Role, String, u64)>>,
    pub shares: RwSignal<Vec<api::ShareInfo>>,
    /// Whether the sharing panel is open.
    pub panel: RwSignal<bool>,
    sid: StoredValue<String>,
    sig: ConnSignals,
}

impl Sharing {
    /// Failures of the requests show in the status bar's notice.
    pub fn new(sid: String, sig: ConnSignals) -> Sharing {
        Sharing {
            link: RwSignal::new(None),
            shares: RwSignal::new(Vec::new()),
            panel: RwSignal::new(false),
            sid: StoredValue::new(sid),
            sig,
        }
    }

    fn send(&self, req: Request) {
        leptos::task::spawn_local(crate::lazy::sharing_request(*self, req));
    }

    /// Says why a request went wrong in the status bar.
    pub fn notice(&self, message: String) {
        self.sig.notice.set(Some(message));
    }

    /// Reloads the list of links.
    pub fn load(&self) {
        self.send(Request::Load);
    }

    /// Creates a link for `role`, valid `ttl_secs`, and copies it.
    pub fn create(&self, role: Role, ttl_secs: u64) {
        self.send(Request::Create(role, ttl_secs));
    }

    /// Removes a client from the session.
    pub fn remove(&self, client: u64) {
        self.send(Request::Client(client, None));
    }

    fn set_role(&self, client: u64, role: Role) {
        self.send(Request::Client(client, Some(role)));
    }

    fn revoke(&self, id: String) {
        self.send(Request::Revoke(id));
    }
}

/// Carries out `req` (the session view may be gone when an answer arrives: nothing here
/// depends on it).
pub fn run(
    sharing: Sharing,
    req: Request,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> {
    let Sharing { link, shares, .. } = sharing;
    let notice = move |f: api::ApiFail| sharing.notice(f.message());
    let base = format!("/api/sessions/{}", sharing.sid.get_value());
    // Reloads the list; awaited by the requests that change it.
    let reload = move |path: String| async move {
        match api::get::<Vec<api::ShareInfo>>(&path).await {
            Ok(list) => shares.set(list),
            Err(f) => notice(f),
        }
    };
    Box::pin(async move {
        let list = format!("{base}/shares");
        let done = match req {
            Request::Load => {
                reload(list).await;
                Ok(())
            }
            Request::Create(role, ttl_secs) => {
                let new = api::NewShare { role, ttl_secs };
                match api::post::<api::ShareInfo>(&list, &new).await {
                    Ok(s) => {
                        let origin = window().location().origin().unwrap_or_default();
                        let url = format!("{origin}{}", s.path.unwrap_or_default());
                        clipboard_write(url.clone());
                        link.set(Some((role, url, s.expires_in_secs)));
                        reload(list).await;
                        Ok(())
                    }
                    Err(f) => Err(f),
                }
            }
            Request::Revoke(id) => {
                let done = api::send("DELETE", &format!("{list}/{id}"), None).await;
                reload(list).await;
                done
            }
            Request::Client(client, None) => {
                let path = format!("{base}/clients/{client}/kick");
                api::send("POST", &path, None).await
            }
            Request::Client(client, Some(role)) => {
                let path = format!("{base}/clients/{client}/role");
                api::send("PUT", &path, Some(&role)).await
            }
        };
        if let Err(f) = done {
            notice(f);
        }
    })
}

pub fn role_name(r: Role) -> &'static str {
    match r {
        Role::Owner => "owner",
        Role::Writer => "writer",
        Role::Viewer => "viewer",
    }
}

/// `3600` -> "1 h"; rounded to what a person wants to know.
fn duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs} s"),
        60..=5399 => format!("{} min", secs.div_ceil(60)),
        5400..=172_799 => format!("{} h", (secs + 1800) / 3600),
        _ => format!("{} days", (secs + 43_200) / 86_400),
    }
}

/// The link just created, to copy again.
#[component]
pub fn ShareBox(sharing: Sharing) -> impl IntoView {
    let link = sharing.link;
    view! {
        <When when=move || link.with(|l| l.is_some())>
            <div class="sharebox">
                <span>{move || link.with(|l| l.as_ref().map(|l| format!("{} link (copied; valid {}):", role_name(l.0), duration(l.2))))}</span>
                <input class="share-url" type="text" readonly=true
                    prop:value={move || link.with(|l| l.as_ref().map(|l| l.1.clone()).unwrap_or_default())}
                    on:focus={move |e| event_target::<web_sys::HtmlInputElement>(&e).select()}
                />
                <button class="share-done" on:click=move |_| link.set(None)>"Done"</button>
            </div>
        </When>
    }
}

/// The owner's sharing panel: create links (role, expiry), revoke them, and manage who is
/// attached (switch writer/viewer, remove).
#[component]
pub fn SharePanel(sharing: Sharing, sig: ConnSignals) -> impl IntoView {
    let role = RwSignal::new(Role::Viewer);
    let ttl = RwSignal::new(3600u64);
    let shares = sharing.shares;
    sharing.load();
    // Expiry and "attached through this link" change by themselves: refresh while open.
    let timer = set_interval_with_handle(
        move || {
            sharing.load();
        },
        Duration::from_secs(5),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = timer {
            t.clear();
        }
    });
    // Who is attached through a link (removed with it when it is revoked).
    let joined = move |s: &api::ShareInfo| {
        let names: Vec<String> = sig.presence.with(|p| {
            p.iter()
                .filter(|c| s.clients.contains(&c.id))
                .map(|c| c.name.clone())
                .collect()
        });
        if names.is_empty() {
            "nobody attached".to_string()
        } else {
            format!("used by {}", names.join(", "))
        }
    };
    let people = move || {
        let me = sig.me.get();
        sig.presence
            .get()
            .into_iter()
            .map(|p| {
                let you = Some(p.id) == me;
                let switch = (!you && p.role != Role::Owner).then(|| {
                    let to = if p.role == Role::Writer {
                        Role::Viewer
                    } else {
                        Role::Writer
                    };
                    view! {
                        <button class="set-role" on:click=move |_| sharing.set_role(p.id, to)>
                            {format!("Make {}", role_name(to))}
                        </button>
                    }
                });
                let remove = (!you).then(|| view! {
                    <button class="remove" on:click=move |_| sharing.remove(p.id)>"Remove"</button>
                });
                view! {
                    <li data-client=p.id.to_string()>
                        <span class="name">{p.name.clone()}{if you { " (you)" } else { "" }}</span>
                        <span class="role">{role_name(p.role)}</span>
                        <span class="spacer"></span>
                        {switch}
                        {remove}
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <div class="share-panel">
            <div class="share-new">
                <strong>"New link"</strong>
                <select class="share-role" aria-label="What the link lets someone do" on:change=move |e| role.set(if event_target_value(&e) == "writer" { Role::Writer } else { Role::Viewer })>
                    <option value="viewer" selected=true>"viewer: watches"</option>
                    <option value="writer">"writer: types"</option>
                </select>
                <select class="share-ttl" aria-label="How long the link is valid" on:change=move |e| {
                    if let Ok(v) = event_target_value(&e).parse() { ttl.set(v) }
                }>
                    {SHARE_TTLS.iter().map(|(secs, label)| view! {
                        <option value=secs.to_string() selected=*secs == 3600>{format!("valid {label}")}</option>
                    }).collect_view()}
                </select>
                <button class="primary share-create" on:click=move |_| {
                    sharing.create(role.get_untracked(), ttl.get_untracked())
                }>"Create and copy"</button>
                <span class="spacer"></span>
                <button class="share-close" on:click=move |_| sharing.panel.set(false)>"Close"</button>
            </div>
            <h3>"Links"</h3>
            <ul class="list share-links">
                <For each=move || shares.get() key=|s| (s.id.clone(), s.clients.clone(), s.expires_in_secs / 60) let:s>
                    <li data-share=s.id.clone()>
                        <span class="role">{role_name(s.role)}</span>
                        <span class="expires">{format!("expires in {}", duration(s.expires_in_secs))}</span>
                        <span class="desc">{joined(&s)}</span>
                        <span class="spacer"></span>
                        <button class="revoke" title="The link stops working; whoever joined through it is removed" on:click={
                            let id = s.id.clone();
                            move |_| sharing.revoke(id.clone())
                        }>"Revoke"</button>
                    </li>
                </For>
            </ul>
            <When when=move || shares.with(|s| s.is_empty())>
                <p class="empty">"No links yet."</p>
            </When>
            <h3>"Attached"</h3>
            <ul class="list people">{people}</ul>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_read_as_a_person_says_them() {
        assert_eq!(duration(30), "30 s");
        assert_eq!(duration(61), "2 min");
        assert_eq!(duration(3600), "60 min");
        assert_eq!(duration(5400), "2 h");
        assert_eq!(duration(8 * 3600), "8 h");
        assert_eq!(duration(7 * 24 * 3600), "7 days");
    }
}

//! `/s/ID`: attaches the terminal to a session; the status bar, sharing, and the card shown
//! when the connection is lost for good.

use super::sharing::{role_name, ShareBox, Sharing};
use super::terminal::use_term;
use crate::account::use_account;
use crate::components::when::When;
use crate::nav::{use_nav, Nav};
use crate::page::set_title;
use crate::route::Route;
use crate::session::{self, ConnSignals, Link, Lost};
use leptos::prelude::*;
use std::time::Duration;
use winrelay_shared::protocol::{Role, SessionState};

#[component]
pub fn SessionView(id: String) -> impl IntoView {
    let nav = use_nav();
    let term = use_term();
    let account = use_account();
    let sig = ConnSignals::new();
    let tv = term.view();
    tv.reset();
    let conn = session::use_session(id.clone(), tv, sig);
    term.attach(conn.clone());
    let revive = send_wrapper::SendWrapper::new(conn);
    term.focus();

    // The tab says which target it is and whether it is still connected.
    Effect::new(move |_| {
        let target = sig.target.get();
        let mark = match sig.link.get() {
            Link::Connected => "",
            _ => "⚠ ",
        };
        let target = if target.is_empty() {
            "session"
        } else {
            &target
        };
        set_title(&format!("{mark}{target} — winrelay"));
    });
    on_cleanup(|| set_title("winrelay"));

    // Signed in again: a refused sign-in tries the same session again; a gone session now
    // offers a new shell.
    let on_signed_in = Callback::new(move |_: ()| {
        if sig.lost.get_untracked() == Some(Lost::SignedOut) {
            revive.revive()
        }
    });
    // The relay answers "no such session" before it looks at the sign-in: ask who we are,
    // so a relay that forgot the sign-in too gets the sign-in form first.
    Effect::new(move |_| {
        if sig.lost.get().is_some_and(|l| l != Lost::ShareEnded) {
            account.refresh();
        }
    });
    // Signed in elsewhere (the link in another tab): notice it without a reload.
    let poll = set_interval_with_handle(
        move || {
            let lost = sig.lost.get_untracked();
            if lost.is_some_and(|l| l != Lost::ShareEnded) && account.signed_out_untracked() {
                account.refresh();
            }
        },
        Duration::from_secs(3),
    )
    .ok();
    on_cleanup(move || {
        if let Some(p) = poll {
            p.clear();
        }
    });
    let signed_out = move || sig.lost.get() == Some(Lost::SignedOut) || account.signed_out();
    let sharing = Sharing::new(id.clone(), sig);

    view! {
        // The embedded terminal has no status bar: hidden input shows over the terminal.
        {nav.embed.then(|| view! {
            <div class="hidden-input floating" role="status" aria-live="polite">
                {move || sig.hidden.get().map(|why| hidden_text(&why))}
            </div>
        })}
        <When when=move || !nav.embed>
        <StatusBar id=id.clone() sig=sig sharing=sharing/>
        <ShareBox sharing=sharing/>
        <When when=move || sharing.panel.get() && sig.role.get() == Some(Role::Owner)>
            {crate::lazy::share_panel(sharing, sig)}
        </When>
        <When when=move || sig.lost.get().is_some()>
            <div class="overlay lost">
                <div class="card">
                    {move || match signed_out() {
                        _ if sig.lost.get() == Some(Lost::ShareEnded) => view! {
                            <h2>"This link no longer lets you in"</h2>
                            <p class="share-ended" role="status">{move || match sig.link.get() {
                                Link::Closed(why) => session::sentence(&why),
                                _ => String::new(),
                            }}</p>
                            <p class="muted">"Ask the session's owner for a new link."</p>
                        }.into_any(),
                        true if !account.was_signed_in() => view! {
                            <h2>"Not signed in"</h2>
                            <p class="signin-error">"Sign in to reach this session, or open the sign-in link that `winrelay serve` printed; then the page carries on."</p>
                            {crate::lazy::sign_in(on_signed_in, false)}
                            <button class="back" on:click=move |_| nav.navigate(Route::Home, false)>"Back to targets"</button>
                        }.into_any(),
                        true => view! {
                            <h2>"Signed out"</h2>
                            <p class="signin-error">"The relay no longer accepts your sign-in (it may have restarted, or the sign-in expired). Sign in again here, or open the sign-in link that `winrelay serve` printed; then the page carries on."</p>
                            {crate::lazy::sign_in(on_signed_in, false)}
                            <button class="back" on:click=move |_| nav.navigate(Route::Home, false)>"Back to targets"</button>
                        }.into_any(),
                        false => view! {
                            <h2>"This session no longer exists"</h2>
                            <p class="muted">"It ended, or the relay restarted (sessions live in the relay's memory). Its output above is kept on this page."</p>
                            <div class="actions">
                                <When when=move || !sig.target.with(|t| t.is_empty())>
                                    <button class="primary new-shell" on:click=move |_| new_shell(nav, sig)>
                                        {move || format!("New shell on {}", sig.target.get())}
                                    </button>
                                </When>
                                <button class="back" on:click=move |_| nav.navigate(Route::Home, false)>"Back to targets"</button>
                            </div>
                        }.into_any(),
                    }}
                </div>
            </div>
        </When>
        </When>
    }
}

/// Opens a new shell on the session's target (the picker if it is not known).
fn new_shell(nav: Nav, sig: ConnSignals) {
    let t = sig.target.get_untracked();
    nav.navigate(
        if t.is_empty() {
            Route::Home
        } else {
            Route::Open(t)
        },
        false,
    )
}

fn link_name(l: &Link) -> &'static str {
    match l {
        Link::Connecting => "connecting",
        Link::Connected => "connected",
        Link::Retrying { .. } => "retrying",
        Link::Closed(_) => "closed",
    }
}

/// The connection, who is attached, the shell's end, and the owner's sharing buttons.
#[component]
fn StatusBar(id: String, sig: ConnSignals, sharing: Sharing) -> impl IntoView {
    let nav = use_nav();
    let link = move || {
        let ended = sig.shell.get().is_some_and(|s| s.is_final());
        let (text, class) = match sig.link.get() {
            // The relay may be there but the shell is not: "connected" (or "retrying")
            // beside "exited" read as if the shell still ran.
            Link::Connecting | Link::Connected | Link::Retrying { .. } if ended => {
                ("shell ended".to_string(), "state")
            }
            Link::Connecting => ("connecting…".to_string(), "state warn"),
            Link::Connected => ("connected".to_string(), "state ok"),
            Link::Retrying { secs, why } => (
                format!("disconnected: {why}; retrying in {secs} s"),
                "state warn",
            ),
            Link::Closed(why) => (why, "state bad"),
        };
        view! { <span class=class role="status" data-link=move || link_name(&sig.link.get())>{text}</span> }
    };
    // Only someone who may open shells is offered one: not a guest who came with a share
    // link (removed, revoked, or the shell ended).
    let can_open = move || sig.role.get() == Some(Role::Owner) || session::share_param().is_none();
    let new_shell_button = move || {
        can_open().then(|| {
            view! { <button class="primary new-shell" on:click=move |_| new_shell(nav, sig)>"New shell"</button> }
        })
    };
    let shell = move || match sig.shell.get() {
        Some(SessionState::Exited { code, reason }) => Some(
            view! {
                <span class="exit" role="status">{exit_text(code, reason.as_deref())}</span>
                {new_shell_button}
            }
            .into_any(),
        ),
        Some(SessionState::TargetLost { message, .. } | SessionState::Failed { message, .. }) => {
            Some(
                view! {
                    <span class="state bad">{message}</span>
                    {new_shell_button}
                }
                .into_any(),
            )
        }
        _ => None,
    };
    let who = move || {
        let me = sig.me.get();
        let owner = sig.role.get() == Some(Role::Owner);
        sig.presence
            .get()
            .into_iter()
            .map(|p| {
                let you = if Some(p.id) == me { " (you)" } else { "" };
                // The owner may remove anyone else.
                let kick = (owner && Some(p.id) != me).then(|| {
                    let name = p.name.clone();
                    view! {
                        <button class="kick" title=format!("Remove {name} from this session")
                            on:click=move |_| sharing.remove(p.id)>"×"</button>
                    }
                });
                view! { <span>{format!("{}{}", p.name, you)} " " <span class="role">{role_name(p.role)}</span>{kick}</span> }
            })
            .collect_view()
    };
    let owner_connected =
        move || sig.role.get() == Some(Role::Owner) && sig.link.get() == Link::Connected;
    let term = use_term();
    let size = move || {
        let (c, r) = term.cells.get();
        format!("{c}×{r}")
    };
    // How long the session has run: its start comes from the relay, the clock ticks here.
    let started = RwSignal::new(None::<u64>);
    let now = RwSignal::new(js_sys::Date::now() / 1000.0);
    {
        let path = format!("/api/sessions/{id}");
        leptos::task::spawn_local(async move {
            if let Ok(info) = crate::api::get::<winrelay_shared::api::SessionInfo>(&path).await {
                started.set(Some(info.created_at));
            }
        });
    }
    let tick = set_interval_with_handle(
        move || now.set(js_sys::Date::now() / 1000.0),
        Duration::from_secs(15),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = tick {
            t.clear();
        }
    });
    let age = move || {
        let start = started.get()?;
        let secs = (now.get() as u64).saturating_sub(start);
        Some(format!("up {}", age_text(secs)))
    };
    let ending = RwSignal::new(false);
    let end_session = {
        let id = id.clone();
        move |_| {
            let sure = crate::page::window()
                .confirm_with_message("End this session? The shell stops for everyone attached.")
                .unwrap_or(false);
            if !sure {
                return;
            }
            ending.set(true);
            let path = format!("/api/sessions/{id}");
            leptos::task::spawn_local(async move {
                if let Err(f) = crate::api::send("DELETE", &path, None).await {
                    sig.notice
                        .set(Some(format!("The session did not end: {}", f.message())));
                }
                ending.set(false);
            });
        }
    };
    let can_hide = move || {
        sig.role.get().is_some_and(|r| r.can_write())
            && sig.link.get() == Link::Connected
            && sig.hidden.get().is_none()
            && sig.shell.get().is_none_or(|s| !s.is_final())
    };
    let closed = move || {
        matches!(sig.link.get(), Link::Closed(_)) && sig.shell.get().is_none_or(|s| !s.is_final())
    };
    view! {
        <div class="statusbar" data-session=id>
            <span class="target">{move || sig.target.get()}</span>
            {link}
            <span class="latency muted">{move || sig.latency_ms.get().map(|ms| format!("{ms} ms")).unwrap_or_default()}</span>
            <span class="size muted" title="Terminal size (columns × rows)">{size}</span>
            <span class="age muted" title="Time since the session started">{age}</span>
            <span class="who">{who}</span>
            <CommandStatus/>
            <span class="hidden-input" role="status" aria-live="polite">{move || sig.hidden.get().map(|why| hidden_text(&why))}</span>
            <When when=can_hide>
                <button class="hide-next-line" aria-keyshortcuts="Control+Shift+H"
                    title="The next line you type is hidden: not shown to anyone, not recorded (Ctrl+Shift+H)"
                    on:click=move |_| {
                        term.with_conn(|c| c.hide_next_line());
                        term.focus();
                    }>"Hide next line"</button>
            </When>
            {shell}
            <When when=closed>{new_shell_button}</When>
            <span class="spacer"></span>
            <span class="notice" role="status">{move || sig.notice.get().unwrap_or_default()}</span>
            <When when=owner_connected>
                <button class="share-viewer" title="Copy a link that lets someone watch (valid 1 hour)"
                    on:click=move |_| sharing.create(Role::Viewer, 3600)>"Share view"</button>
                <button class="share-writer" title="Copy a link that lets someone type (valid 1 hour)"
                    on:click=move |_| sharing.create(Role::Writer, 3600)>"Share control"</button>
                <button class="sharing" title="Share links and who is attached"
                    on:click=move |_| sharing.panel.update(|p| *p = !*p)>"Sharing…"</button>
            </When>
            <When when=move || sig.role.get() == Some(Role::Owner) && sig.shell.get().is_none_or(|s| !s.is_final())>
                <button class="end-session" title="Stop the shell for everyone" disabled=move || ending.get()
                    on:click=end_session.clone()>"End session"</button>
            </When>
        </div>
    }
}

/// "exited with code 0", or why the relay ended it: "ended: idle for 30 min (exit code -1)".
pub fn exit_text(code: i32, reason: Option<&str>) -> String {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("ended: {r} (exit code {code})"),
        None => format!("exited with code {code}"),
    }
}

/// A target's kind of shell for people (the picker): `PowerShell` (over PowerShell
/// remoting), `PowerShell (pipe)`, `cmd`.
pub fn shell_label(kind: winrelay_shared::api::ShellKind) -> &'static str {
    use winrelay_shared::api::ShellKind;
    match kind {
        ShellKind::Powershell => "PowerShell",
        ShellKind::PowershellPipe => "PowerShell (pipe)",
        ShellKind::Cmd => "cmd",
    }
}

/// The indicator of hidden input, saying what switched it on.
pub fn hidden_text(why: &str) -> String {
    let what = match why {
        "read-host" => " (Read-Host asked for a secure string)",
        "credential" => " (a credential prompt)",
        "password-prompt" => " (the shell asked for a password)",
        "manual" => " (a writer switched it on for this line)",
        _ => "",
    };
    format!("🔒 hidden input — typing is not shown or recorded{what}")
}

/// The running command and how long it has run; the button that copies a command's output.
#[component]
fn CommandStatus() -> impl IntoView {
    let term = use_term();
    let now = RwSignal::new(js_sys::Date::now());
    let tick = set_interval_with_handle(
        move || {
            if term.commands.with_untracked(|c| c.running.is_some()) {
                now.set(js_sys::Date::now());
            }
        },
        Duration::from_secs(1),
    )
    .ok();
    on_cleanup(move || {
        if let Some(t) = tick {
            t.clear();
        }
    });
    let running = move || {
        let (text, since) = term.commands.with(|c| c.running.clone())?;
        let secs = ((now.get() - since) / 1000.0).max(0.0) as u64;
        Some(view! {
            <span class="running" title="The command running now and how long it has run">
                <span class="muted">"running "</span>
                <code class="command">{text}</code>
                <span class="muted">" for "</span>
                <span class="elapsed">{elapsed_text(secs)}</span>
            </span>
        })
    };
    let copy = move || {
        let (_, text, status) = term.commands.with(|c| c.focus.clone())?;
        // The visible text leads the accessible name (WCAG 2.5.3, "label in name").
        let label = format!("Copy output of `{text}` ({})", status.describe());
        Some(view! {
            <button class="copy-output" title=label.clone() aria-label=label
                on:click=move |_| term.copy_output()>"Copy output"</button>
        })
    };
    view! { {running} {copy} }
}

/// "0:07", "12:30", "1:02:03".
fn elapsed_text(secs: u64) -> String {
    match secs {
        s if s < 3600 => format!("{}:{:02}", s / 60, s % 60),
        s => format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60),
    }
}

/// "42 s", "5 min", "3 h 20 min", "2 d 4 h".
fn age_text(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use winrelay_shared::api::ShellKind;

    #[test]
    fn the_picker_names_each_kind_of_shell() {
        assert_eq!(shell_label(ShellKind::Powershell), "PowerShell");
        assert_eq!(shell_label(ShellKind::PowershellPipe), "PowerShell (pipe)");
        assert_eq!(shell_label(ShellKind::Cmd), "cmd");
    }

    #[test]
    fn an_exit_says_why_the_relay_ended_it() {
        assert_eq!(exit_text(0, None), "exited with code 0");
        assert_eq!(exit_text(-1, Some(" ")), "exited with code -1");
        assert_eq!(
            exit_text(-1, Some("idle for 30 min")),
            "ended: idle for 30 min (exit code -1)"
        );
    }

    #[test]
    fn the_hidden_input_indicator_says_what_switched_it_on() {
        assert_eq!(
            hidden_text("credential"),
            "🔒 hidden input — typing is not shown or recorded (a credential prompt)"
        );
        assert_eq!(
            hidden_text(""),
            "🔒 hidden input — typing is not shown or recorded"
        );
    }

    #[test]
    fn elapsed_time_reads_as_a_clock() {
        assert_eq!(elapsed_text(7), "0:07");
        assert_eq!(elapsed_text(750), "12:30");
        assert_eq!(elapsed_text(3723), "1:02:03");
    }
}

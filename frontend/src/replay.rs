//! Replaying a recording (asciicast v2) into the page's terminal: play at a chosen speed,
//! pause, and seek. Seeking resets the terminal and writes every output event up to that
//! time at once, so the screen is exactly what it was then.

use crate::api;
use crate::components::terminal::use_term;
use crate::components::when::When;
use crate::request::request;
use crate::term::marks::{one_line, Mark, Status};
use leptos::prelude::*;
use serde::Deserialize;
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// Speeds the viewer can pick.
pub const SPEEDS: [f64; 5] = [0.5, 1.0, 2.0, 4.0, 8.0];
/// How often the player advances while playing.
const TICK: Duration = Duration::from_millis(40);

/// A parsed recording: its output events, in time order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cast {
    pub width: u16,
    pub height: u16,
    /// `(seconds since the start, text)` of each `"o"` event.
    pub output: Vec<(f64, String)>,
}

#[derive(Deserialize)]
struct Header {
    version: u32,
    #[serde(default)]
    width: u16,
    #[serde(default)]
    height: u16,
}

impl Cast {
    /// Parses asciicast v2: a header line, then `[time, code, data]` lines. Input (`"i"`)
    /// and resize (`"r"`) events are skipped: the screen is the output.
    pub fn parse(text: &str) -> Result<Cast, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let head = lines.next().ok_or("the recording is empty")?;
        let head: Header =
            crate::json::from_str(head).map_err(|e| format!("not an asciicast recording ({e})"))?;
        if head.version != 2 {
            return Err(format!(
                "asciicast version {} is not supported (2 is)",
                head.version
            ));
        }
        let mut output = Vec::new();
        let mut last = 0.0f64;
        for (n, line) in lines.enumerate() {
            let (t, code, data): (f64, String, String) = crate::json::from_str(line)
                .map_err(|e| format!("event {} of the recording is damaged ({e})", n + 1))?;
            // Times never go backwards, whatever the file says.
            last = last.max(t);
            if code == "o" {
                output.push((last, data));
            }
        }
        Ok(Cast {
            width: head.width,
            height: head.height,
            output,
        })
    }

    /// Length in seconds (the time of the last output).
    pub fn duration(&self) -> f64 {
        self.output.last().map_or(0.0, |e| e.0)
    }

    /// How many output events happen at or before `t`.
    pub fn count_until(&self, t: f64) -> usize {
        self.output.partition_point(|e| e.0 <= t)
    }

    /// The output of events `from..to`, concatenated.
    pub fn text(&self, from: usize, to: usize) -> String {
        self.output[from.min(to)..to]
            .iter()
            .map(|e| e.1.as_str())
            .collect()
    }
}

/// A command in a recording, found by its shell-integration marks (OSC 133).
#[derive(Debug, Clone, PartialEq)]
pub struct Chapter {
    /// Where to jump: when its output started (its prompt's time if it never ran).
    pub time: f64,
    /// The command line as typed.
    pub text: String,
    pub status: Status,
}

/// Reads marks and command lines out of a stream of output, across event boundaries.
#[derive(Default)]
struct Scanner {
    state: Scan,
    osc: String,
    /// Capturing the command line (between B and C).
    typing: bool,
    line: String,
    chapters: Vec<Chapter>,
    /// The chapter of the prompt seen last, until its command ended.
    open: Option<usize>,
}

#[derive(Default, Clone, Copy, PartialEq)]
enum Scan {
    #[default]
    Text,
    Esc,
    Csi,
    Osc,
    OscEsc,
    /// ESC and an intermediate byte (`ESC ( B`): one more byte.
    EscArg,
}

impl Scanner {
    fn feed(&mut self, time: f64, text: &str) {
        for ch in text.chars() {
            self.state = match (self.state, ch) {
                (Scan::Text, '\x1b') => Scan::Esc,
                (Scan::Text, c) => {
                    self.text(c);
                    Scan::Text
                }
                (Scan::Esc, '[') => Scan::Csi,
                (Scan::Esc, ']') => {
                    self.osc.clear();
                    Scan::Osc
                }
                (Scan::Esc, ' '..='/') => Scan::EscArg,
                (Scan::Esc | Scan::EscArg, _) => Scan::Text,
                (Scan::Csi, '@'..='~') => Scan::Text,
                (Scan::Csi, _) => Scan::Csi,
                (Scan::Osc, '\x07') => {
                    self.osc_done(time);
                    Scan::Text
                }
                (Scan::Osc, '\x1b') => Scan::OscEsc,
                (Scan::Osc, c) => {
                    // A runaway sequence is not a mark: keep the memory bounded.
                    if self.osc.len() < 256 {
                        self.osc.push(c);
                    }
                    Scan::Osc
                }
                (Scan::OscEsc, '\\') => {
                    self.osc_done(time);
                    Scan::Text
                }
                (Scan::OscEsc, '\x1b') => Scan::Esc,
                (Scan::OscEsc, _) => Scan::Text,
            };
        }
    }

    fn text(&mut self, c: char) {
        if !self.typing {
            return;
        }
        match c {
            '\x08' | '\x7f' => {
                self.line.pop();
            }
            '\r' | '\n' | '\t' => self.line.push(' '),
            c if c.is_control() => {}
            c => self.line.push(c),
        }
    }

    fn osc_done(&mut self, time: f64) {
        let Some(mark) = self.osc.strip_prefix("133;").and_then(Mark::parse) else {
            return;
        };
        match mark {
            Mark::Prompt => {
                self.close(None);
                self.chapters.push(Chapter {
                    time,
                    text: String::new(),
                    status: Status::Prompt,
                });
                self.open = Some(self.chapters.len() - 1);
            }
            Mark::CommandStart => {
                self.typing = true;
                self.line.clear();
            }
            Mark::OutputStart => {
                if let Some(c) = self.open.and_then(|i| self.chapters.get_mut(i)) {
                    if c.status == Status::Prompt {
                        c.text = one_line(&self.line);
                        c.time = time;
                        c.status = Status::Running;
                    }
                }
                self.typing = false;
            }
            Mark::End(code) => {
                if let Some(c) = self.open.and_then(|i| self.chapters.get_mut(i)) {
                    if c.status == Status::Prompt && self.typing {
                        c.text = one_line(&self.line);
                    }
                }
                self.typing = false;
                self.close(Some(code));
            }
        }
    }

    /// The open chapter ended (`Some(code)`), or a new prompt came first (`None`).
    fn close(&mut self, end: Option<Option<i32>>) {
        if let Some(c) = self.open.take().and_then(|i| self.chapters.get_mut(i)) {
            c.status = match (c.status, end) {
                (Status::Prompt, _) if c.text.is_empty() => Status::Prompt,
                (_, Some(code)) => Status::Done(code),
                (_, None) => Status::Done(None),
            };
        }
        // Prompts that ran nothing (an empty line) are no chapters.
        self.chapters
            .retain(|c| !(c.status == Status::Prompt && c.text.is_empty()));
    }

    fn finish(mut self) -> Vec<Chapter> {
        if let Some(i) = self.open {
            if self.chapters[i].text.is_empty() {
                self.chapters.remove(i);
            }
        }
        self.chapters
    }
}

impl Cast {
    /// The commands in the recording, in order.
    pub fn chapters(&self) -> Vec<Chapter> {
        let mut scan = Scanner::default();
        for (t, text) in &self.output {
            scan.feed(*t, text);
        }
        scan.finish()
    }
}

/// "✓ dir /b — succeeded, at 0:03"
fn chapter_label(c: &Chapter) -> String {
    format!(
        "{} {} — {}, at {}",
        c.status.symbol(),
        c.text,
        c.status.describe(),
        clock(c.time)
    )
}

fn clock(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// `/recordings/ID`: loads the recording and plays it.
#[component]
pub fn Replay(id: String) -> impl IntoView {
    let term = use_term();
    let cast = StoredValue::new_local(Cast::default());
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let pos = RwSignal::new(0.0f64);
    let playing = RwSignal::new(false);
    let speed = RwSignal::new(1.0f64);
    let chapters = RwSignal::new(Vec::<Chapter>::new());
    // Output events already written to the terminal.
    let shown = Rc::new(Cell::new(0usize));
    term.reset_with_note("Loading the recording…");

    let seek = {
        let shown = shown.clone();
        move |t: f64| {
            let end = cast.with_value(|c| c.count_until(t));
            let text = cast.with_value(|c| c.text(0, end));
            term.with(|v| {
                v.reset();
                v.write_str(&text);
            });
            shown.set(end);
            pos.set(t);
        }
    };
    let seek = StoredValue::new_local(seek);

    let path = format!("/api/recordings/{}", js_sys::encode_uri_component(&id));
    let load = request(move |_: &()| {
        let path = path.clone();
        Box::pin(async move {
            let got = api::text("GET", &path, None).await.map_err(|f| f.message());
            match got.and_then(|text| Cast::parse(&text)) {
                Ok(c) => {
                    let found = c.chapters();
                    // The player may be gone (the page moved on while loading).
                    if cast.try_set_value(c).is_none() {
                        chapters.set(found);
                        loaded.set(true);
                        seek.try_with_value(|s| s(0.0));
                        playing.set(true);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
        })
    });
    load.dispatch(());

    // While playing: advance the clock and write the events that are due.
    let tick = {
        let shown = shown.clone();
        move || {
            if !playing.get_untracked() {
                return;
            }
            let total = cast.with_value(|c| c.duration());
            let t = (pos.get_untracked() + TICK.as_secs_f64() * speed.get_untracked()).min(total);
            let end = cast.with_value(|c| c.count_until(t));
            let from = shown.get();
            if end > from {
                let text = cast.with_value(|c| c.text(from, end));
                term.with(|v| v.write_str(&text));
                shown.set(end);
            }
            pos.set(t);
            if t >= total {
                playing.set(false);
            }
        }
    };
    let timer = set_interval_with_handle(tick, TICK).ok();
    let timer = send_wrapper::SendWrapper::new(timer);
    on_cleanup(move || {
        if let Some(t) = timer.take() {
            t.clear();
        }
    });

    let toggle = move |_| {
        if !playing.get_untracked() && pos.get_untracked() >= cast.with_value(|c| c.duration()) {
            seek.with_value(|s| s(0.0));
        }
        playing.update(|p| *p = !*p);
    };
    view! {
        <div class="statusbar replay">
            <span class="target">"Replay " {id.clone()}</span>
            <When when=move || error.get().is_some()>
                <span class="state bad replay-error">{move || error.get()}</span>
            </When>
            <button class="play" disabled=move || !loaded.get() on:click=toggle>
                {move || if playing.get() { "Pause" } else { "Play" }}
            </button>
            <input class="seek" type="range" min="0" step="0.01"
                prop:max=move || {
                    // The cast is not reactive; `loaded` says when it changed.
                    let _ = loaded.get();
                    cast.with_value(|c| c.duration()).max(0.01).to_string()
                }
                prop:value=move || pos.get().to_string()
                disabled=move || !loaded.get()
                on:input=move |e| {
                    if let Ok(t) = event_target_value(&e).parse::<f64>() {
                        seek.with_value(|s| s(t));
                    }
                }/>
            <span class="clock muted">{move || {
                let _ = loaded.get();
                format!("{} / {}", clock(pos.get()), clock(cast.with_value(|c| c.duration())))
            }}</span>
            <When when=move || chapters.with(|c| !c.is_empty())>
                <label class="muted">"Command "
                    <select class="chapters" aria-label="Jump to a command"
                        prop:value=move || {
                            let at = pos.get();
                            chapters
                                .with(|c| c.iter().rposition(|c| c.time <= at))
                                .map(|i| i.to_string())
                                .unwrap_or_default()
                        }
                        on:change=move |e| {
                            let i = event_target_value(&e).parse::<usize>().ok();
                            if let Some(t) = i.and_then(|i| chapters.with_untracked(|c| c.get(i).map(|c| c.time))) {
                                seek.with_value(|s| s(t));
                            }
                        }>
                        <option value="">"—"</option>
                        {move || chapters.get().into_iter().enumerate().map(|(i, c)| view! {
                            <option value=i.to_string()>{chapter_label(&c)}</option>
                        }).collect_view()}
                    </select>
                </label>
            </When>
            <label class="muted">"Speed "
                <select class="speed" aria-label="Replay speed" on:change=move |e| {
                    if let Ok(s) = event_target_value(&e).parse::<f64>() { speed.set(s) }
                }>
                    {SPEEDS.iter().map(|s| view! {
                        <option value=s.to_string() selected=*s == 1.0>{format!("{s}×")}</option>
                    }).collect_view()}
                </select>
            </label>
            <span class="spacer"></span>
            <a class="button" href=format!("/api/recordings/{id}") download="">"Download"</a>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAST: &str = r#"{"version": 2, "width": 80, "height": 24, "timestamp": 1}
[0.1, "o", "C:\\> "]
[0.5, "i", "echo hi\r"]
[0.6, "o", "echo hi\r\n"]
[0.6, "r", "100x30"]
[0.7, "o", "hi\r\n"]
[2.0, "o", "C:\\> "]
"#;

    #[test]
    fn parses_output_events_in_time_order() {
        let c = Cast::parse(CAST).unwrap();
        assert_eq!((c.width, c.height), (80, 24));
        assert_eq!(c.output.len(), 4);
        assert_eq!(c.duration(), 2.0);
        assert_eq!(c.count_until(0.0), 0);
        assert_eq!(c.count_until(0.6), 2);
        assert_eq!(c.text(0, c.count_until(0.7)), "C:\\> echo hi\r\nhi\r\n");
        assert_eq!(c.text(2, 4), "hi\r\nC:\\> ");
    }

    #[test]
    fn finds_commands_by_their_marks_across_events() {
        // BEL and ST terminators; a mark split across two events; an edited command line;
        // an empty line; a command without a status; one still running at the end.
        let cast = r#"{"version": 2, "width": 80, "height": 24}
[0.1, "o", "\u001b]133;A\u0007C:\\> \u001b]133;B\u0007"]
[0.5, "o", "dir /x\b \bb\r\n\u001b]133;C\u001b\\"]
[0.7, "o", "a.txt\r\n\u001b]133;D;0\u0007"]
[1.0, "o", "\u001b]133;A\u0007C:\\> \u001b]13"]
[1.1, "o", "3;B\u0007\r\n\u001b]133;D\u0007"]
[1.5, "o", "\u001b]133;A\u0007C:\\> \u001b]133;B\u0007\u001b[1mnope\u001b[0m\r\n\u001b]133;C\u0007"]
[1.6, "o", "not found\r\n\u001b]133;D;9009\u0007"]
[2.0, "o", "\u001b]133;A\u0007C:\\> \u001b]133;B\u0007echo x\r\n\u001b]133;C\u0007x\r\n"]
[2.5, "o", "\u001b]133;A\u0007C:\\> \u001b]133;B\u0007ping -t x\r\n\u001b]133;C\u0007"]
"#;
        let c = Cast::parse(cast).unwrap();
        let got: Vec<_> = c
            .chapters()
            .into_iter()
            .map(|c| (c.time, c.text, c.status))
            .collect();
        assert_eq!(
            got,
            [
                (0.5, "dir /b".to_string(), Status::Done(Some(0))),
                (1.5, "nope".to_string(), Status::Done(Some(9009))),
                (2.0, "echo x".to_string(), Status::Done(None)),
                (2.5, "ping -t x".to_string(), Status::Running),
            ]
        );
        assert_eq!(Cast::parse(CAST).unwrap().chapters(), []);
    }

    #[test]
    fn refuses_other_versions_and_damage() {
        assert!(Cast::parse("").is_err());
        assert!(Cast::parse(r#"{"version": 1}"#)
            .unwrap_err()
            .contains("version 1"));
        let damaged = format!("{CAST}[3.0, \"o\"\n");
        assert!(Cast::parse(&damaged).unwrap_err().contains("event 7"));
    }
}

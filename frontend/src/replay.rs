//! Replaying a recording (asciicast v2) into the page's terminal: play at a chosen speed,
//! pause, and seek. Seeking resets the terminal and writes every output event up to that
//! time at once, so the screen is exactly what it was then.

use crate::api;
use crate::components::terminal::use_term;
use crate::request::request;
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
            serde_json::from_str(head).map_err(|e| format!("not an asciicast recording ({e})"))?;
        if head.version != 2 {
            return Err(format!(
                "asciicast version {} is not supported (2 is)",
                head.version
            ));
        }
        let mut output = Vec::new();
        let mut last = 0.0f64;
        for (n, line) in lines.enumerate() {
            let (t, code, data): (f64, String, String) = serde_json::from_str(line)
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
                v.term.write_str(&text);
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
                    // The player may be gone (the page moved on while loading).
                    if cast.try_set_value(c).is_none() {
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
                term.with(|v| v.term.write_str(&text));
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
            <Show when=move || error.get().is_some()>
                <span class="state bad replay-error">{move || error.get()}</span>
            </Show>
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
    fn refuses_other_versions_and_damage() {
        assert!(Cast::parse("").is_err());
        assert!(Cast::parse(r#"{"version": 1}"#)
            .unwrap_err()
            .contains("version 1"));
        let damaged = format!("{CAST}[3.0, \"o\"\n");
        assert!(Cast::parse(&damaged).unwrap_err().contains("event 7"));
    }
}

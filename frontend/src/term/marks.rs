//! Commands the terminal knows: shell-integration marks (OSC 133) in the output stream.
//!
//! The relay writes `ESC ] 133 ; A` where a prompt starts, `; B` where the command line
//! starts (the prompt's end), `; C` where the command's output starts and `; D ; N` where it
//! ended with exit status N (`D` alone: unknown), terminated by BEL or ST. xterm.js parses
//! them in stream order and calls [`Commands::apply`] at that point of the buffer, so every
//! position is a marker on the right line, whoever watches: writers, viewers, a reconnect
//! that resumes, a recording replayed into the terminal.
//!
//! Each command gets a mark drawn beside its prompt (a decoration in the terminal's left
//! gutter: ✓ succeeded, ✗ failed, · unknown), can be jumped to (Ctrl+Up / Ctrl+Down) and its
//! output copied (a click on the mark, or the status bar's button).

use crate::xterm::{Buffer, Decoration, Marker, Terminal};
use js_sys::{Object, Reflect};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// One OSC 133 mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// `A`: a prompt starts.
    Prompt,
    /// `B`: the prompt ends, the command line starts.
    CommandStart,
    /// `C`: the command runs; its output starts.
    OutputStart,
    /// `D` / `D;N`: the command ended, with its exit status when known.
    End(Option<i32>),
}

impl Mark {
    /// Parses what follows `133;` (`A`, `B`, `C`, `D`, `D;N`; options such as `;aid=…` after
    /// the letter are ignored). `None` for other letters.
    pub fn parse(data: &str) -> Option<Mark> {
        let mut parts = data.split(';');
        match parts.next()?.trim() {
            "A" => Some(Mark::Prompt),
            "B" => Some(Mark::CommandStart),
            "C" => Some(Mark::OutputStart),
            "D" => Some(Mark::End(
                parts.next().and_then(|n| n.trim().parse::<i32>().ok()),
            )),
            _ => None,
        }
    }
}

/// Where a command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Status {
    /// At its prompt: not run yet.
    #[default]
    Prompt,
    /// Its output started and it has not ended.
    Running,
    /// Ended, with its exit status when known.
    Done(Option<i32>),
}

impl Status {
    /// The mark's `data-status` (and CSS class): `pending`, `running`, `ok`, `failed`,
    /// `unknown`.
    pub fn class(self) -> &'static str {
        match self {
            Status::Prompt => "pending",
            Status::Running => "running",
            Status::Done(Some(0)) => "ok",
            Status::Done(Some(_)) => "failed",
            Status::Done(None) => "unknown",
        }
    }

    /// The mark's symbol: shape as well as colour tells the outcome.
    pub fn symbol(self) -> &'static str {
        match self {
            Status::Prompt => "",
            Status::Running => "›",
            Status::Done(Some(0)) => "✓",
            Status::Done(Some(_)) => "✗",
            Status::Done(None) => "·",
        }
    }

    /// For people: "succeeded", "failed (exit code 2)", ...
    pub fn describe(self) -> String {
        match self {
            Status::Prompt => "not run".into(),
            Status::Running => "running".into(),
            Status::Done(Some(0)) => "succeeded".into(),
            Status::Done(Some(n)) => format!("failed (exit code {n})"),
            Status::Done(None) => "ended (exit status unknown)".into(),
        }
    }
}

/// A command line as one line of text for the status bar and titles.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A place in the buffer: a marker's line and a column on it.
struct Pos {
    marker: Marker,
    col: u32,
}

impl Pos {
    fn here(term: &Terminal) -> Option<Pos> {
        let marker = term.register_marker(0)?;
        Some(Pos {
            marker,
            col: term.buffer().active().cursor_x(),
        })
    }

    fn line(&self) -> Option<u32> {
        u32::try_from(self.marker.line()).ok()
    }
}

struct Command {
    id: u64,
    prompt: Marker,
    start: Option<Pos>,
    output: Option<Pos>,
    end: Option<Pos>,
    text: String,
    status: Rc<Cell<Status>>,
    selected: Rc<Cell<bool>>,
    /// When its output started (ms since the epoch, this browser's clock).
    started_ms: f64,
    deco: Option<Decoration>,
    /// The decoration's render hook, freed with the command.
    _render: Option<RenderHook>,
}

/// Called by xterm.js each time it draws a decoration.
type RenderHook = Closure<dyn FnMut(web_sys::HtmlElement)>;

impl Command {
    fn dispose(&self) {
        if let Some(d) = &self.deco {
            d.dispose();
        }
        self.prompt.dispose();
        for p in [&self.start, &self.output, &self.end].into_iter().flatten() {
            p.marker.dispose();
        }
    }

    fn gone(&self) -> bool {
        self.prompt.is_disposed()
    }

    fn paint(&self) {
        if let Some(el) = self.deco.as_ref().and_then(|d| d.element()) {
            paint(&el, self.status.get(), self.selected.get(), &self.text);
        }
    }
}

/// What the page shows about the commands (the status bar).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// The running command's text and when its output started (ms since the epoch).
    pub running: Option<(String, f64)>,
    /// The command the copy button is about: the one jumped to, else the last one that ran.
    pub focus: Option<(u64, String, Status)>,
    /// Commands in the scrollback.
    pub count: usize,
    /// Where the jumped-to command is: (its number, of how many), counting commands that ran.
    pub position: Option<(usize, usize)>,
}

/// What the commands tell the page.
pub enum Event {
    Changed(Summary),
    /// A command's output went to the clipboard: (its text, how many lines).
    Copied(String, usize),
}

type Listener = Rc<dyn Fn(Event)>;

/// The commands of one terminal, in buffer order.
#[derive(Default)]
pub struct Commands {
    list: Vec<Command>,
    selected: Option<usize>,
    next_id: u64,
    listener: Option<Listener>,
}

/// The terminal's commands, shared by its parser hooks, decorations and the page.
pub type Shared = Rc<RefCell<Commands>>;

/// Hooks the commands into `term`'s parser: OSC 133 marks, and RIS (`ESC c`), which forgets
/// them with the buffer they were in.
pub fn install(term: &Terminal) -> Shared {
    let shared: Shared = Default::default();
    let parser = term.parser();
    let (weak, t) = (Rc::downgrade(&shared), term.clone());
    let osc = Closure::<dyn FnMut(String) -> bool>::new(move |data: String| {
        if let (Some(mark), Some(s)) = (Mark::parse(&data), weak.upgrade()) {
            apply(&s, &t, mark);
        }
        true
    });
    parser.register_osc_handler(133, osc.as_ref().unchecked_ref());
    osc.forget();
    let weak = Rc::downgrade(&shared);
    let ris = Closure::<dyn FnMut() -> bool>::new(move || {
        if let Some(s) = weak.upgrade() {
            clear(&s);
        }
        // Not consumed: xterm.js resets the terminal as always.
        false
    });
    let id = Object::new();
    let _ = Reflect::set(&id, &"final".into(), &"c".into());
    parser.register_esc_handler(&id, ris.as_ref().unchecked_ref());
    ris.forget();
    shared
}

/// Sets who hears about changes and copies.
pub fn listen(s: &Shared, f: impl Fn(Event) + 'static) {
    s.borrow_mut().listener = Some(Rc::new(f));
    changed(s);
}

fn tell(s: &Shared, e: Event) {
    let l = s.borrow().listener.clone();
    if let Some(l) = l {
        l(e);
    }
}

fn changed(s: &Shared) {
    let sum = s.borrow().summary();
    tell(s, Event::Changed(sum));
}

/// Forgets every command (the terminal was reset).
pub fn clear(s: &Shared) {
    {
        let mut c = s.borrow_mut();
        for cmd in c.list.drain(..) {
            cmd.dispose();
        }
        c.selected = None;
    }
    changed(s);
}

fn now_ms() -> f64 {
    js_sys::Date::now()
}

fn apply(s: &Shared, term: &Terminal, mark: Mark) {
    {
        let mut c = s.borrow_mut();
        let before = c.list.len();
        c.list.retain(|cmd| {
            let gone = cmd.gone();
            if gone {
                cmd.dispose();
            }
            !gone
        });
        if c.list.len() != before {
            // Lines left the scrollback: indices moved.
            c.selected = None;
        }
        match mark {
            Mark::Prompt => c.prompt(s, term),
            Mark::CommandStart => {
                if let Some(cmd) = c.list.last_mut().filter(|c| c.start.is_none()) {
                    cmd.start = Pos::here(term);
                }
            }
            Mark::OutputStart => {
                if let Some(cmd) = c.list.last_mut().filter(|c| c.output.is_none()) {
                    if let Some(here) = Pos::here(term) {
                        let buf = term.buffer().active();
                        cmd.text = cmd
                            .start
                            .as_ref()
                            .and_then(|b| text_between(&buf, b, &here))
                            .unwrap_or_default();
                        cmd.output = Some(here);
                        cmd.status.set(Status::Running);
                        cmd.started_ms = now_ms();
                        cmd.paint();
                    }
                }
            }
            Mark::End(code) => {
                let last = c.list.len().checked_sub(1);
                if let Some(i) = last.filter(|&i| c.list[i].end.is_none()) {
                    let here = Pos::here(term);
                    let cmd = &mut c.list[i];
                    if cmd.output.is_none() {
                        // Ended without running (an empty line, Ctrl+C at the prompt).
                        let buf = term.buffer().active();
                        let text = match (&cmd.start, &here) {
                            (Some(b), Some(h)) => text_between(&buf, b, h).unwrap_or_default(),
                            _ => String::new(),
                        };
                        if text.is_empty() {
                            let cmd = c.list.remove(i);
                            cmd.dispose();
                        } else {
                            cmd.text = text;
                            cmd.output = Pos::here(term);
                            cmd.end = here;
                            cmd.status.set(Status::Done(code));
                            cmd.paint();
                        }
                    } else {
                        cmd.end = here;
                        cmd.status.set(Status::Done(code));
                        cmd.paint();
                    }
                }
            }
        }
    }
    changed(s);
}

impl Commands {
    /// A new prompt: the command before it is over whether or not its end was marked.
    fn prompt(&mut self, s: &Shared, term: &Terminal) {
        if let Some(last) = self.list.last() {
            if last.output.is_none() {
                // A prompt that never ran anything (printed again).
                let last = self.list.pop().expect("just seen");
                last.dispose();
            } else if last.end.is_none() {
                last.status.set(Status::Done(None));
                last.paint();
            }
        }
        self.selected = None;
        for c in &self.list {
            if c.selected.replace(false) {
                c.paint();
            }
        }
        let Some(prompt) = term.register_marker(0) else {
            return;
        };
        self.next_id += 1;
        let id = self.next_id;
        let status = Rc::new(Cell::new(Status::Prompt));
        let selected = Rc::new(Cell::new(false));
        let (deco, render) = match decorate(term, &prompt, s, id, status.clone(), selected.clone())
        {
            Some((d, r)) => (Some(d), Some(r)),
            None => (None, None),
        };
        self.list.push(Command {
            id,
            prompt,
            start: None,
            output: None,
            end: None,
            text: String::new(),
            status,
            selected,
            started_ms: 0.0,
            deco,
            _render: render,
        });
    }

    fn summary(&self) -> Summary {
        let running = self
            .list
            .last()
            .filter(|c| c.status.get() == Status::Running)
            .map(|c| (one_line(&c.text), c.started_ms));
        let focus = match self.selected {
            Some(i) => self.list.get(i),
            None => self.list.iter().rev().find(|c| c.output.is_some()),
        }
        .map(|c| (c.id, one_line(&c.text), c.status.get()));
        let ran = self.list.iter().filter(|c| c.output.is_some());
        let count = ran.clone().count();
        let position = self.selected.map(|sel| {
            let before = self.list[..sel.min(self.list.len())]
                .iter()
                .filter(|c| c.output.is_some())
                .count();
            (before + 1, count)
        });
        Summary {
            running,
            focus,
            count,
            position,
        }
    }

    /// The output of command `id` (between its C and D marks, or the cursor while it runs):
    /// each row's trailing blanks and the blank rows around it dropped, wrapped rows joined.
    fn output(&self, term: &Terminal, id: u64) -> Option<(String, String)> {
        let cmd = self.list.iter().find(|c| c.id == id)?;
        let from = cmd.output.as_ref()?;
        let buf = term.buffer().active();
        let text = match &cmd.end {
            Some(end) => text_between(&buf, from, end)?,
            None => {
                let here = (buf.base_y() + buf.cursor_y(), buf.cursor_x());
                text_range(&buf, (from.line()?, from.col), here)
            }
        };
        Some((one_line(&cmd.text), text))
    }
}

fn text_between(buf: &Buffer, from: &Pos, to: &Pos) -> Option<String> {
    Some(text_range(
        buf,
        (from.line()?, from.col),
        (to.line()?, to.col),
    ))
}

/// The text from `(line, col)` up to (not including) `(line, col)`.
fn text_range(buf: &Buffer, (l0, c0): (u32, u32), (l1, c1): (u32, u32)) -> String {
    let mut rows: Vec<String> = Vec::new();
    for y in l0..=l1 {
        let Some(line) = buf.get_line(y) else {
            break;
        };
        let start = if y == l0 { c0 } else { 0 };
        // A row that continues on the next keeps its trailing blanks (they are text).
        let wraps_on = y < l1 && buf.get_line(y + 1).is_some_and(|n| n.is_wrapped());
        let s = if y == l1 {
            if c1 <= start {
                String::new()
            } else {
                line.text_range(true, start, c1)
            }
        } else {
            line.text_from(!wraps_on, start)
        };
        match rows.last_mut() {
            Some(prev) if y > l0 && line.is_wrapped() => prev.push_str(&s),
            _ => rows.push(s),
        }
    }
    tidy(&rows)
}

/// Rows without trailing blanks, without blank rows before and after.
fn tidy(rows: &[String]) -> String {
    let rows: Vec<&str> = rows.iter().map(|r| r.trim_end()).collect();
    let first = rows.iter().position(|r| !r.is_empty());
    let last = rows.iter().rposition(|r| !r.is_empty());
    match (first, last) {
        (Some(a), Some(b)) => rows[a..=b].join("\n"),
        _ => String::new(),
    }
}

/// The mark beside a prompt, drawn in the terminal's left gutter. Clicks on marks are
/// handled by one listener on the terminal's element (see [`mark_at`]).
fn decorate(
    term: &Terminal,
    prompt: &Marker,
    s: &Shared,
    id: u64,
    status: Rc<Cell<Status>>,
    selected: Rc<Cell<bool>>,
) -> Option<(Decoration, RenderHook)> {
    let opts = Object::new();
    let _ = Reflect::set(&opts, &"marker".into(), prompt);
    let _ = Reflect::set(&opts, &"width".into(), &1.into());
    let _ = Reflect::set(&opts, &"layer".into(), &"top".into());
    let deco = term.register_decoration(&opts)?;
    let weak: Weak<RefCell<Commands>> = Rc::downgrade(s);
    let render = RenderHook::new(move |el: web_sys::HtmlElement| {
        let text = weak
            .upgrade()
            .and_then(|s| {
                s.try_borrow()
                    .ok()?
                    .list
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.text.clone())
            })
            .unwrap_or_default();
        paint(&el, status.get(), selected.get(), &text);
        let _ = el.set_attribute("data-command", &id.to_string());
    });
    deco.on_render(render.as_ref().unchecked_ref());
    Some((deco, render))
}

fn paint(el: &web_sys::HtmlElement, status: Status, selected: bool, text: &str) {
    let _ = el.class_list().add_1("cmd-mark");
    // Screen readers hear about commands from the status bar (jumps, copies), not from marks.
    let _ = el.set_attribute("aria-hidden", "true");
    let _ = el.set_attribute("data-status", status.class());
    let _ = el.class_list().toggle_with_force("selected", selected);
    el.set_text_content(Some(status.symbol()));
    let title = match status {
        Status::Prompt => String::new(),
        _ => format!(
            "{}: {} — click to copy its output",
            one_line(text),
            status.describe()
        ),
    };
    let _ = el.set_attribute("title", &title);
}

/// The command whose mark an event's target is, if it is one.
pub fn mark_at(target: Option<web_sys::EventTarget>) -> Option<u64> {
    let el = target?.dyn_into::<web_sys::Element>().ok()?;
    el.closest(".cmd-mark[data-command]")
        .ok()??
        .get_attribute("data-command")?
        .parse()
        .ok()
}

/// Copies command `id`'s output to the clipboard and says so.
pub fn copy_output(s: &Shared, term: &Terminal, id: u64) {
    let got = s.borrow().output(term, id);
    if let Some((cmd, text)) = got {
        let lines = if text.is_empty() {
            0
        } else {
            text.lines().count()
        };
        crate::page::clipboard_write(text);
        tell(s, Event::Copied(cmd, lines));
    }
}

/// Scrolls to the previous (`up`) or next command's prompt and makes it the one the copy
/// button is about; past the last command, back to the bottom.
pub fn jump(s: &Shared, term: &Terminal, up: bool) {
    {
        let mut c = s.borrow_mut();
        // Only commands that ran: the last entry may be the prompt waiting for input.
        let ran: Vec<usize> = (0..c.list.len())
            .filter(|&i| c.list[i].output.is_some() && !c.list[i].gone())
            .collect();
        if ran.is_empty() {
            return;
        }
        let at = c
            .selected
            .and_then(|sel| ran.iter().position(|&i| i == sel));
        let lines: Vec<u32> = ran
            .iter()
            .map(|&i| u32::try_from(c.list[i].prompt.line()).unwrap_or(0))
            .collect();
        let buf = term.buffer().active();
        let top = (buf.viewport_y() < buf.base_y()).then(|| buf.viewport_y());
        let next = step(&lines, at, top, up);
        let next = next.map(|k| ran[k]);
        if let Some(old) = c.selected {
            if let Some(cmd) = c.list.get(old) {
                cmd.selected.set(false);
                cmd.paint();
            }
        }
        c.selected = next;
        match next {
            Some(i) => {
                let cmd = &c.list[i];
                cmd.selected.set(true);
                cmd.paint();
                if let Ok(line) = u32::try_from(cmd.prompt.line()) {
                    term.scroll_to_line(line);
                }
            }
            None => term.scroll_to_bottom(),
        }
    }
    changed(s);
}

/// Which of the commands that ran (their prompt lines, in order) to go to: from the one
/// jumped to last (`at`), else from where the view is (`top`: its first line when scrolled
/// back, `None` at the bottom). `None`: back to the bottom.
fn step(lines: &[u32], at: Option<usize>, top: Option<u32>, up: bool) -> Option<usize> {
    let n = lines.len();
    if n == 0 {
        return None;
    }
    match (at, top, up) {
        (Some(k), _, true) => Some(k.saturating_sub(1)),
        (Some(k), _, false) => (k + 1 < n).then_some(k + 1),
        (None, None, true) => Some(n - 1),
        (None, None, false) => None,
        (None, Some(top), true) => Some(lines.iter().rposition(|&l| l < top).unwrap_or(0)),
        (None, Some(top), false) => lines.iter().position(|&l| l > top),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jumps_from_the_last_jump_or_from_where_the_view_is() {
        let lines = [3, 40, 90];
        // At the bottom: up is the last command, down stays at the bottom.
        assert_eq!(step(&lines, None, None, true), Some(2));
        assert_eq!(step(&lines, None, None, false), None);
        // From a jump: one command further, the first stays first, past the last is the bottom.
        assert_eq!(step(&lines, Some(2), None, true), Some(1));
        assert_eq!(step(&lines, Some(0), None, true), Some(0));
        assert_eq!(step(&lines, Some(1), None, false), Some(2));
        assert_eq!(step(&lines, Some(2), None, false), None);
        // Scrolled back by hand to line 50: the commands before and after it.
        assert_eq!(step(&lines, None, Some(50), true), Some(1));
        assert_eq!(step(&lines, None, Some(50), false), Some(2));
        assert_eq!(step(&lines, None, Some(2), true), Some(0));
        assert_eq!(step(&lines, None, Some(95), false), None);
        assert_eq!(step(&[], None, None, true), None);
    }

    #[test]
    fn parses_the_four_marks() {
        assert_eq!(Mark::parse("A"), Some(Mark::Prompt));
        assert_eq!(Mark::parse("B"), Some(Mark::CommandStart));
        assert_eq!(Mark::parse("C"), Some(Mark::OutputStart));
        assert_eq!(Mark::parse("D"), Some(Mark::End(None)));
        assert_eq!(Mark::parse("D;0"), Some(Mark::End(Some(0))));
        assert_eq!(Mark::parse("D;-1"), Some(Mark::End(Some(-1))));
        assert_eq!(Mark::parse("D;x"), Some(Mark::End(None)));
        assert_eq!(Mark::parse("A;cl=m;aid=3"), Some(Mark::Prompt));
        assert_eq!(Mark::parse("E;ls"), None);
        assert_eq!(Mark::parse(""), None);
    }

    #[test]
    fn statuses_differ_in_shape_not_only_colour() {
        let done = [
            Status::Done(Some(0)),
            Status::Done(Some(2)),
            Status::Done(None),
        ];
        let symbols: Vec<_> = done.iter().map(|s| s.symbol()).collect();
        assert_eq!(symbols, ["✓", "✗", "·"]);
        assert_eq!(Status::Done(Some(2)).describe(), "failed (exit code 2)");
        assert_eq!(Status::Done(Some(0)).class(), "ok");
    }

    #[test]
    fn tidy_drops_padding_and_blank_rows() {
        let rows = ["", "  a  ", "b", "", "c   ", "", ""].map(String::from);
        assert_eq!(tidy(&rows), "  a\nb\n\nc");
        assert_eq!(tidy(&["".into(), " ".into()]), "");
    }

    #[test]
    fn one_line_joins_a_command() {
        assert_eq!(one_line("  dir \n /b  "), "dir /b");
    }
}

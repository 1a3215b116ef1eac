//! The relay as a PowerShell console host, as plain code: [`PsConsole`] takes typed lines,
//! completion requests, Ctrl+C and the events of the pipeline it asked to run, and gives
//! back [`Step`]s: pipelines to run, bytes to show, host calls to answer, the next line to
//! hide, completion answers, the end of the session.
//!
//! What it does, as the PowerShell console does it (PSRP.md section 7): after opening and
//! after every command it runs the remote `prompt` function and shows its string; each line
//! runs through Out-Default with the terminal's size in the HostInfo; an unfinished line (the
//! remote parser says IncompleteParseException) switches to the `>> ` prompt and the block
//! runs once it is complete; Read-Host, PromptForChoice, Get-Credential and Prompt read the
//! next typed lines (passwords hidden); progress is a line kept at the bottom; `exit N` ends
//! the session with N; Ctrl+C stops the pipeline.
//!
//! Shell-integration marks (OSC 133, terminated with BEL) go into the output: `A` before the
//! prompt, `B` after it, `C` when a line starts running, `D;N` before the next prompt with
//! N from the pipeline's state, `$?` and `$LASTEXITCODE` (read in the same pipeline as the
//! prompt: `"$?"; "$LASTEXITCODE"; prompt`): 0 when it succeeded, `$LASTEXITCODE` (or 1)
//! when `$?` is false, 1 when it failed or wrote an error (even if a later statement left
//! `$?` true), 130 when Ctrl+C stopped it.
//!
//! **Invariant:** no I/O, no clock; the wrapper in `targets::psrp_shell` owns the pool, runs
//! the pipelines, encrypts the secrets and delivers the events in order. Typed secrets pass
//! through [`Reply`] only, never through [`Step::Show`].

use std::collections::{BTreeMap, VecDeque};

use winrelay_shared::line::Completion;
use winrm_client::psrp::clixml::Value;
use winrm_client::psrp::console::{self, CommandCompletion};
use winrm_client::psrp::host::{ChoiceDescription, FieldDescription, HostCall, HostRequest};
use winrm_client::psrp::messages::{Command, CreatePipeline};
use winrm_client::psrp::records::{
    ErrorRecord, HostInfo, InformationRecord, PipelineState, ProgressRecord,
};

use super::core::{marks, why};

/// What a pipeline was started for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    /// A typed line (or block).
    Line,
    /// The prompt (with the last command's status).
    Prompt,
    /// Tab completion for request `id` of `line` (its cursor at byte `cursor`).
    Complete {
        /// The request's id.
        id: u64,
        /// The line.
        line: String,
    },
}

/// Something the wrapper must do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Bytes for the terminals.
    Show(Vec<u8>),
    /// Start this pipeline; feed its events to [`PsConsole::event`] and its end to
    /// [`PsConsole::finished`]. Only one runs at a time.
    Run(Job, Box<CreatePipeline>),
    /// Answer the host call.
    Reply(HostCall, Reply),
    /// Stop the running pipeline (Ctrl+C).
    Stop,
    /// The next typed line is a secret.
    Hide(&'static str),
    /// The answer to a completion request.
    Completion {
        /// The request.
        id: u64,
        /// The matches.
        answer: Completion,
    },
    /// End the session with this exit code.
    Exit(i32),
}

/// An answer to a host call; the wrapper turns secrets into SecureStrings with the session
/// key.
#[derive(Clone, PartialEq)]
pub enum Reply {
    /// A plain value (None: a null result, or a void method).
    Value(Option<Value>),
    /// A string to send as a SecureString.
    Secret(String),
    /// A PSCredential with this user and password.
    Credential {
        /// The user name.
        user: String,
        /// The password (becomes a SecureString).
        password: String,
    },
    /// The answer to Prompt: field name → answer.
    Fields(Vec<(String, FieldAnswer)>),
    /// The host cannot do this: the call fails on the server with this message.
    Refuse(String),
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Value(v) => f.debug_tuple("Value").field(v).finish(),
            Reply::Secret(_) => f.write_str("Secret(***)"),
            Reply::Credential { user, .. } => write!(f, "Credential({user}, ***)"),
            Reply::Fields(v) => f.debug_list().entries(v.iter().map(|(k, _)| k)).finish(),
            Reply::Refuse(m) => f.debug_tuple("Refuse").field(m).finish(),
        }
    }
}

/// One field's answer in a Prompt reply.
#[derive(Clone, PartialEq)]
pub enum FieldAnswer {
    /// A string.
    Text(String),
    /// A SecureString.
    Secret(String),
    /// A PSCredential.
    Credential {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for FieldAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FieldAnswer::Text(t) => f.debug_tuple("Text").field(t).finish(),
            FieldAnswer::Secret(_) => f.write_str("Secret(***)"),
            FieldAnswer::Credential { user, .. } => write!(f, "Credential({user}, ***)"),
        }
    }
}

/// What the next typed line answers.
#[derive(Debug, Clone, PartialEq)]
enum Read {
    Line(HostCall),
    Secret(HostCall),
    Key(HostCall),
    CredentialUser {
        call: HostCall,
    },
    CredentialPassword {
        call: HostCall,
        user: String,
    },
    Choice {
        call: HostCall,
        choices: Vec<ChoiceDescription>,
        default: i32,
    },
    Fields {
        call: HostCall,
        fields: Vec<FieldDescription>,
        done: Vec<(String, FieldAnswer)>,
        /// The user name of a PSCredential field, when its password is next.
        user: Option<String>,
    },
}

/// The console host of one PowerShell session. See the [module documentation](self).
#[derive(Debug)]
pub struct PsConsole {
    cols: u16,
    rows: u16,
    protocol: (u32, u32),
    /// A job is running.
    running: Option<Job>,
    /// What the next line answers (a host call is waiting).
    read: Option<Read>,
    /// Lines typed while a job ran (type-ahead).
    queue: VecDeque<String>,
    /// An unfinished block (after IncompleteParseException).
    block: Option<String>,
    /// The line job's end: state and whether it was an unfinished block.
    line_end: Option<PipelineState>,
    /// The line job wrote an error (a record or WriteErrorLine): its mark says it failed
    /// even when `$?` is true (a later statement succeeded).
    wrote_errors: bool,
    /// A command ran since the last prompt (so a `D` mark is due).
    command_ran: bool,
    /// The last prompt shown.
    prompt: String,
    /// Activities in progress, by id.
    progress: BTreeMap<i32, ProgressRecord>,
    /// The progress line is on screen (the cursor is at its end).
    progress_shown: bool,
    /// `exit N` / SetShouldExit.
    exit: Option<i32>,
    /// Output of the running job that is kept (prompt, completion).
    collected: Vec<Value>,
    /// The endpoint refuses scripts (JEA, NoLanguage): the prompt runs as a command.
    no_scripts: bool,
    /// The running line's `C` mark is not written yet: it goes before its first output, so
    /// an unfinished block (which ran nothing) has none.
    mark_c: bool,
    /// Ctrl+C came while a completion ran: the prompt is shown again once it is done.
    reprompt: bool,
    /// Warning/verbose/debug messages shown lately, and whether as a record or a call.
    seen: VecDeque<(&'static str, String, Source)>,
}

/// Where a warning, verbose or debug message came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Record,
    Call,
}

/// The fallback prompt when `prompt` fails or says nothing (console convention).
const FALLBACK_PROMPT: &str = "PS> ";
/// The continuation prompt of an unfinished block.
const CONTINUATION: &str = ">> ";

impl PsConsole {
    /// A console for a terminal of `cols` × `rows` on a server speaking `protocol`.
    pub fn new(cols: u16, rows: u16, protocol: (u32, u32)) -> PsConsole {
        PsConsole {
            cols: cols.max(1),
            rows: rows.max(1),
            protocol,
            running: None,
            read: None,
            queue: VecDeque::new(),
            block: None,
            line_end: None,
            wrote_errors: false,
            command_ran: false,
            prompt: FALLBACK_PROMPT.into(),
            progress: BTreeMap::new(),
            progress_shown: false,
            exit: None,
            collected: Vec::new(),
            no_scripts: false,
            mark_c: false,
            reprompt: false,
            seen: VecDeque::new(),
        }
    }

    /// The HostInfo of the next pipeline: the terminal's size now.
    pub fn host_info(&self) -> HostInfo {
        HostInfo::console(i32::from(self.cols), i32::from(self.rows))
    }

    /// Whether a job runs.
    pub fn busy(&self) -> bool {
        self.running.is_some()
    }

    /// The pool is open: the first prompt.
    pub fn start(&mut self) -> Vec<Step> {
        let mut out = Vec::new();
        self.run_prompt(&mut out);
        out
    }

    /// The terminal changed size: the next pipeline gets it.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.cols = cols.max(1);
        self.rows = rows.max(1);
    }

    fn run(&mut self, job: Job, p: CreatePipeline, out: &mut Vec<Step>) {
        self.running = Some(job.clone());
        self.collected.clear();
        out.push(Step::Run(job, Box::new(p)));
    }

    fn run_prompt(&mut self, out: &mut Vec<Step>) {
        let p = if self.no_scripts {
            console::prompt_pipeline(self.host_info())
        } else {
            let mut p = CreatePipeline::new(
                vec![Command::script("\"$?\"; \"$LASTEXITCODE\"; prompt")],
                self.host_info(),
            );
            p.add_to_history = false;
            p
        };
        self.run(Job::Prompt, p, out);
    }

    /// A line the user typed (without its line break).
    pub fn line(&mut self, text: &str) -> Vec<Step> {
        let mut out = Vec::new();
        if self.read.is_some() {
            self.answer(text, &mut out);
        } else if self.running.is_some() {
            self.queue.push_back(text.to_string());
        } else {
            self.submit(text, &mut out);
        }
        out
    }

    fn submit(&mut self, text: &str, out: &mut Vec<Step>) {
        let script = match self.block.take() {
            Some(mut block) => {
                block.push('\n');
                block.push_str(text);
                block
            }
            None if text.trim().is_empty() => {
                // Nothing to run: the prompt again, as the console does.
                self.show_prompt(out);
                return;
            }
            None => text.to_string(),
        };
        self.command_ran = true;
        self.line_end = None;
        self.wrote_errors = false;
        self.mark_c = true;
        let p = self.line_pipeline(&script);
        self.block = Some(script);
        self.run(Job::Line, p, out);
    }

    /// The pipeline for a typed line: the line as a script through Out-Default, or on an
    /// endpoint that refuses scripts (JEA, NoLanguage) the line split into one command and
    /// its arguments (PSRP.md 7.11).
    fn line_pipeline(&self, line: &str) -> CreatePipeline {
        let mut p = console::line_pipeline(line, self.host_info(), self.protocol);
        if self.no_scripts {
            if let Some(cmd) = command_of(line) {
                p.statements[0][0] = cmd;
            }
        }
        p
    }

    /// Ctrl+C.
    pub fn interrupt(&mut self) -> Vec<Step> {
        let mut out = Vec::new();
        self.queue.clear();
        match &self.running {
            Some(Job::Line) => {
                // A waiting host call is not answered: stopping the pipeline ends it.
                self.read = None;
                out.push(Step::Stop);
            }
            // The line discipline already moved to a new row: the prompt comes back after the
            // completion (its answer is dropped, the line is gone).
            Some(Job::Complete { .. }) => {
                self.block = None;
                self.reprompt = true;
            }
            Some(Job::Prompt) => {}
            None => {
                // At the prompt (or in a block): a fresh prompt.
                self.block = None;
                self.show_prompt(&mut out);
            }
        }
        out
    }

    /// A completion request: TabExpansion2 when nothing runs, else no matches at once
    /// (typing never waits for the pool).
    pub fn complete(&mut self, id: u64, line: &str, cursor: usize) -> Vec<Step> {
        let mut out = Vec::new();
        if self.running.is_some() || self.read.is_some() || !line.is_char_boundary(cursor) {
            out.push(Step::Completion {
                id,
                answer: Completion::default(),
            });
            return out;
        }
        let chars = line[..cursor].chars().count();
        let units = console::utf16_offset(line, chars);
        let p = console::completion_pipeline(line, units, self.host_info());
        self.run(
            Job::Complete {
                id,
                line: line.to_string(),
            },
            p,
            &mut out,
        );
        out
    }

    fn show(&mut self, mut bytes: Vec<u8>, out: &mut Vec<Step>) {
        if bytes.is_empty() {
            return;
        }
        if std::mem::take(&mut self.mark_c) {
            bytes.splice(0..0, marks::OUTPUT_START.bytes());
        }
        // Merge with the bytes just before, so one event is one write.
        if let Some(Step::Show(prev)) = out.last_mut() {
            prev.extend_from_slice(&bytes);
        } else {
            out.push(Step::Show(bytes));
        }
    }

    /// Text for the terminals during a line job: the progress line makes room first and
    /// comes back after.
    fn write(&mut self, text: &str, out: &mut Vec<Step>) {
        let mut bytes = Vec::new();
        if self.progress_shown {
            bytes.extend_from_slice(b"\r\x1b[K");
            self.progress_shown = false;
        }
        bytes.extend_from_slice(text.as_bytes());
        if !self.progress.is_empty() && text.ends_with('\n') {
            bytes.extend_from_slice(self.progress_line().as_bytes());
            self.progress_shown = true;
        }
        self.show(bytes, out);
    }

    fn progress_line(&self) -> String {
        let Some(p) = self.progress.values().next_back() else {
            return String::new();
        };
        let width = usize::from(self.cols).saturating_sub(1).max(10);
        let mut text = format!("{}: {}", p.activity, p.status_description);
        if (0..=100).contains(&p.percent_complete) {
            let bar = 20usize;
            let done = bar * p.percent_complete as usize / 100;
            text.push_str(&format!(
                " [{}{}] {}%",
                "o".repeat(done),
                " ".repeat(bar - done),
                p.percent_complete
            ));
        }
        if let Some(op) = p.current_operation.as_deref().filter(|o| !o.is_empty()) {
            text.push_str(&format!(" {op}"));
        }
        let text: String = text
            .chars()
            .filter(|c| !c.is_control())
            .take(width)
            .collect();
        // Reverse video, as the console's progress pane stands out.
        format!("\x1b[7m{text}\x1b[0m")
    }

    fn progress(&mut self, record: ProgressRecord, out: &mut Vec<Step>) {
        if record.completed {
            self.progress.remove(&record.activity_id);
        } else {
            self.progress.insert(record.activity_id, record);
        }
        let mut bytes = Vec::new();
        if self.progress_shown {
            bytes.extend_from_slice(b"\r\x1b[K");
        }
        self.progress_shown = !self.progress.is_empty();
        if self.progress_shown {
            bytes.extend_from_slice(self.progress_line().as_bytes());
        }
        self.show(bytes, out);
    }

    fn clear_progress(&mut self, out: &mut Vec<Step>) {
        self.progress.clear();
        if std::mem::take(&mut self.progress_shown) {
            self.show(b"\r\x1b[K".to_vec(), out);
        }
    }

    fn show_prompt(&mut self, out: &mut Vec<Step>) {
        let text = if self.block.is_some() {
            CONTINUATION.to_string()
        } else {
            format!(
                "{}{}{}",
                marks::PROMPT_START,
                self.prompt,
                marks::COMMAND_START
            )
        };
        self.show(text.into_bytes(), out);
    }

    /// An event of the running pipeline.
    pub fn event(&mut self, ev: PsEvent) -> Vec<Step> {
        let mut out = Vec::new();
        let line_job = self.running == Some(Job::Line);
        match ev {
            PsEvent::Output(v) if line_job => {
                self.write(&format!("{}\r\n", v.display()), &mut out);
            }
            PsEvent::Output(v) => self.collected.push(v),
            PsEvent::Error(e) if line_job => {
                self.wrote_errors = true;
                self.error(&e, &mut out);
            }
            PsEvent::Error(_) => {}
            PsEvent::Warning(m) => self.informational("WARNING", m, Source::Record, &mut out),
            PsEvent::Verbose(m) => self.informational("VERBOSE", m, Source::Record, &mut out),
            PsEvent::Debug(m) => self.informational("DEBUG", m, Source::Record, &mut out),
            PsEvent::Information(r) => {
                // Write-Host's copy (tagged PSHOST) was shown by its host call already.
                if line_job && !r.tags.iter().any(|t| t == "PSHOST") {
                    self.write(&format!("{}\r\n", r.text()), &mut out);
                }
            }
            PsEvent::Progress(r) => {
                if line_job {
                    self.progress(r, &mut out);
                }
            }
            PsEvent::HostCall(call) => self.host_call(call, &mut out),
        }
        out
    }

    /// A warning, verbose or debug message, shown once: with a UI host a Windows server may
    /// send both the record and the host call for one message (PSRP.md 5.4), in either
    /// order; the second of a pair is dropped.
    fn informational(
        &mut self,
        kind: &'static str,
        text: String,
        from: Source,
        out: &mut Vec<Step>,
    ) {
        if let Some(i) = self
            .seen
            .iter()
            .position(|(k, t, f)| *k == kind && *t == text && *f != from)
        {
            self.seen.remove(i);
            return;
        }
        if self.seen.len() == 32 {
            self.seen.pop_front();
        }
        self.write(&colored(14, &format!("{kind}: {text}")), out);
        self.seen.push_back((kind, text, from));
    }

    fn error(&mut self, e: &ErrorRecord, out: &mut Vec<Step>) {
        self.write(&colored(12, &e.console_text()), out);
    }

    fn host_call(&mut self, call: HostCall, out: &mut Vec<Step>) {
        let request = call.request();
        let name = call.method.name();
        match request {
            HostRequest::Write(w) => {
                let kind = match name {
                    "WriteWarningLine" => Some("WARNING"),
                    "WriteVerboseLine" => Some("VERBOSE"),
                    "WriteDebugLine" => Some("DEBUG"),
                    _ => None,
                };
                if let Some(kind) = kind {
                    self.informational(kind, w.text.clone(), Source::Call, out);
                } else if self.running == Some(Job::Line) {
                    if name == "WriteErrorLine" {
                        self.wrote_errors = true;
                    }
                    let text = console::render_write(name, &w);
                    self.write(&text, out);
                }
                if call.wants_reply() {
                    out.push(Step::Reply(call, Reply::Value(None)));
                }
            }
            HostRequest::ReadLine => self.wait(Read::Line(call), out),
            HostRequest::ReadLineAsSecureString => {
                out.push(Step::Hide(why::READ_HOST));
                self.wait(Read::Secret(call), out);
            }
            HostRequest::ReadKey { .. } => self.wait(Read::Key(call), out),
            HostRequest::PromptForCredential {
                caption,
                message,
                user_name,
                ..
            } => {
                let mut text = String::new();
                for part in [&caption, &message] {
                    if !part.is_empty() {
                        text.push_str(part);
                        text.push_str("\r\n");
                    }
                }
                // PowerShell's client warns that a remote computer asks (PSRP.md 5.3).
                text.push_str(&colored(
                    14,
                    "WARNING: A remote computer is requesting your credentials.",
                ));
                if user_name.is_empty() {
                    text.push_str("User: ");
                    self.write(&text, out);
                    self.wait(Read::CredentialUser { call }, out);
                } else {
                    // Hidden before the question shows: nothing typed after it is echoed.
                    out.push(Step::Hide(why::CREDENTIAL));
                    text.push_str(&format!("Password for user {user_name}: "));
                    self.write(&text, out);
                    self.wait(
                        Read::CredentialPassword {
                            call,
                            user: user_name,
                        },
                        out,
                    );
                }
            }
            HostRequest::PromptForChoice {
                caption,
                message,
                choices,
                default,
            } if !choices.is_empty() => {
                let mut text = String::new();
                for part in [&caption, &message] {
                    if !part.is_empty() {
                        text.push_str(part);
                        text.push_str("\r\n");
                    }
                }
                text.push_str(&choice_line(&choices, default));
                self.write(&text, out);
                self.wait(
                    Read::Choice {
                        call,
                        choices,
                        default,
                    },
                    out,
                );
            }
            HostRequest::PromptForChoiceMultiple { defaults, .. } => {
                // Answered with the defaults: the console's multi-select is rare and its
                // dialogue long.
                let items = defaults.into_iter().map(Value::I32).collect();
                out.push(Step::Reply(
                    call,
                    Reply::Value(Some(winrm_client::psrp::clixml::list_value(&[], items))),
                ));
            }
            HostRequest::Prompt {
                caption,
                message,
                fields,
            } => {
                let mut text = String::new();
                for part in [&caption, &message] {
                    if !part.is_empty() {
                        text.push_str(part);
                        text.push_str("\r\n");
                    }
                }
                self.write(&text, out);
                let read = Read::Fields {
                    call,
                    fields,
                    done: Vec::new(),
                    user: None,
                };
                self.next_field(read, out);
            }
            HostRequest::SetShouldExit(code) => self.exit = Some(code),
            HostRequest::Progress { record, .. } => {
                if self.running == Some(Job::Line) {
                    self.progress(record, out);
                }
            }
            _ => self.other_call(call, out),
        }
    }

    /// RawUI and the rest: answered consistently with the HostInfo sent.
    fn other_call(&mut self, call: HostCall, out: &mut Vec<Step>) {
        match call.method.name() {
            "SetWindowTitle" => {
                let title: String = call
                    .params
                    .first()
                    .map(Value::display)
                    .unwrap_or_default()
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(200)
                    .collect();
                self.write(&format!("\x1b]0;{title}\x07"), out);
            }
            // Clear-Host: Windows PowerShell 5.1 fills the whole buffer (a rectangle of -1)
            // with blanks.
            "SetBufferContents1" => {
                let whole = call
                    .params
                    .first()
                    .and_then(|r| r.get("left"))
                    .and_then(Value::as_i32)
                    == Some(-1);
                if whole {
                    self.write("\x1b[H\x1b[2J", out);
                }
            }
            "EnterNestedPrompt" => {
                if call.wants_reply() {
                    out.push(Step::Reply(
                        call,
                        Reply::Refuse(
                            "winrelay's console has no nested prompts: the command cannot suspend into one"
                                .into(),
                        ),
                    ));
                }
                self.write(
                    &colored(
                        14,
                        "WARNING: nested prompts are not supported in winrelay's console\n",
                    ),
                    out,
                );
                return;
            }
            "GetKeyAvailable" => {
                out.push(Step::Reply(call, Reply::Value(Some(Value::Bool(false)))));
                return;
            }
            _ => {}
        }
        if call.wants_reply() {
            let name = call.method.name();
            out.push(Step::Reply(
                call,
                Reply::Refuse(format!("winrelay's console host does not support {name}")),
            ));
        }
    }

    fn wait(&mut self, read: Read, out: &mut Vec<Step>) {
        self.read = Some(read);
        // Lines typed ahead answer the question.
        if let Some(line) = self.queue.pop_front() {
            self.answer(&line, out);
        }
    }

    fn next_field(&mut self, read: Read, out: &mut Vec<Step>) {
        let Read::Fields {
            call,
            fields,
            done,
            user,
        } = read
        else {
            return;
        };
        let Some(field) = fields.get(done.len()).cloned() else {
            out.push(Step::Reply(call, Reply::Fields(done)));
            return;
        };
        let label = if field.label.is_empty() {
            field.name.clone()
        } else {
            field.label.replacen('&', "", 1)
        };
        let secret = field.type_full_name.ends_with("SecureString")
            || (field.type_full_name.ends_with("PSCredential") && user.is_some());
        if secret {
            // Hidden before the question shows: nothing typed after it is echoed.
            out.push(Step::Hide(
                if field.type_full_name.ends_with("PSCredential") {
                    why::CREDENTIAL
                } else {
                    why::READ_HOST
                },
            ));
        }
        if field.type_full_name.ends_with("PSCredential") && user.is_some() {
            self.write("Password: ", out);
        } else if field.type_full_name.ends_with("PSCredential") {
            self.write(&format!("{label} (user name): "), out);
        } else {
            self.write(&format!("{label}: "), out);
        }
        self.wait(
            Read::Fields {
                call,
                fields,
                done,
                user,
            },
            out,
        );
    }

    /// A typed line answers the waiting host call.
    fn answer(&mut self, text: &str, out: &mut Vec<Step>) {
        let Some(read) = self.read.take() else {
            return;
        };
        match read {
            Read::Line(call) => out.push(Step::Reply(
                call,
                Reply::Value(Some(Value::str(text.to_string()))),
            )),
            Read::Secret(call) => out.push(Step::Reply(call, Reply::Secret(text.to_string()))),
            Read::Key(call) => {
                let c = text.encode_utf16().next().unwrap_or(13);
                let key = winrm_client::psrp::host::KeyInfo {
                    virtual_key_code: if c == 13 {
                        13
                    } else {
                        i32::from(u8::try_from(c).map_or(c, |b| u16::from(b.to_ascii_uppercase())))
                    },
                    character: c,
                    control_key_state: 0,
                    key_down: true,
                };
                let r = winrm_client::psrp::host::HostResponse::key(&call, key);
                out.push(Step::Reply(call, Reply::Value(r.result)));
            }
            Read::CredentialUser { call } => {
                let user = text.trim().to_string();
                out.push(Step::Hide(why::CREDENTIAL));
                self.write(&format!("Password for user {user}: "), out);
                self.read = Some(Read::CredentialPassword { call, user });
            }
            Read::CredentialPassword { call, user } => out.push(Step::Reply(
                call,
                Reply::Credential {
                    user,
                    password: text.to_string(),
                },
            )),
            Read::Choice {
                call,
                choices,
                default,
            } => match pick_choice(text, &choices, default) {
                Some(i) => out.push(Step::Reply(call, Reply::Value(Some(Value::I32(i))))),
                None => {
                    let mut t = String::new();
                    if text.trim() == "?" {
                        for c in &choices {
                            let key = c.hot_key().map(String::from).unwrap_or_default();
                            t.push_str(&format!("{key} - {}\r\n", c.help_message));
                        }
                    }
                    t.push_str(&choice_line(&choices, default));
                    self.write(&t, out);
                    self.read = Some(Read::Choice {
                        call,
                        choices,
                        default,
                    });
                }
            },
            Read::Fields {
                call,
                fields,
                mut done,
                user,
            } => {
                let field = &fields[done.len()];
                let mut next_user = None;
                if field.type_full_name.ends_with("SecureString") {
                    done.push((field.name.clone(), FieldAnswer::Secret(text.to_string())));
                } else if field.type_full_name.ends_with("PSCredential") {
                    match user {
                        None => next_user = Some(text.trim().to_string()),
                        Some(user) => done.push((
                            field.name.clone(),
                            FieldAnswer::Credential {
                                user,
                                password: text.to_string(),
                            },
                        )),
                    }
                } else {
                    done.push((field.name.clone(), FieldAnswer::Text(text.to_string())));
                }
                self.next_field(
                    Read::Fields {
                        call,
                        fields,
                        done,
                        user: next_user,
                    },
                    out,
                );
            }
        }
    }

    /// The running pipeline ended (`state` and the reason it failed or stopped).
    pub fn finished(&mut self, state: PipelineState, error: Option<ErrorRecord>) -> Vec<Step> {
        let mut out = Vec::new();
        let job = self.running.take();
        self.read = None;
        match job {
            Some(Job::Line) => {
                self.clear_progress(&mut out);
                if let Some(code) = self.exit {
                    out.push(Step::Exit(code));
                    return out;
                }
                let incomplete = state == PipelineState::Failed
                    && error.as_ref().is_some_and(console::is_incomplete_input);
                if incomplete {
                    // The block stays; more lines come with the continuation prompt.
                    self.command_ran = false;
                    self.mark_c = false;
                    self.show(CONTINUATION.as_bytes().to_vec(), &mut out);
                    self.after_job(&mut out);
                    return out;
                }
                let refused = state == PipelineState::Failed
                    && !self.no_scripts
                    && error
                        .as_ref()
                        .is_some_and(|e| e.fully_qualified_error_id.contains("ScriptsNotAllowed"));
                if let (true, Some(line)) = (refused, self.block.clone()) {
                    if command_of(&line).is_some() {
                        // A restricted endpoint: the same line again as a plain command.
                        self.no_scripts = true;
                        let p = self.line_pipeline(&line);
                        self.run(Job::Line, p, &mut out);
                        return out;
                    }
                }
                self.block = None;
                if let Some(e) = error.filter(|_| state == PipelineState::Failed) {
                    self.error(&e, &mut out);
                }
                if std::mem::take(&mut self.mark_c) {
                    // A command without output still marks where its output would be.
                    self.show(marks::OUTPUT_START.as_bytes().to_vec(), &mut out);
                }
                self.line_end = Some(state);
                self.seen.clear();
                self.run_prompt(&mut out);
            }
            Some(Job::Prompt) => {
                let values: Vec<String> = self.collected.drain(..).map(|v| v.display()).collect();
                if state == PipelineState::Failed && !self.no_scripts {
                    let refused = error.as_ref().is_some_and(|e| {
                        e.fully_qualified_error_id.contains("ScriptsNotAllowed")
                            || e.reason.as_deref() == Some("ParseException")
                    });
                    if refused {
                        // A NoLanguage endpoint: ask again with the plain command.
                        self.no_scripts = true;
                        self.run_prompt(&mut out);
                        return out;
                    }
                }
                let (status, prompt) = if self.no_scripts {
                    (None, values.first().cloned())
                } else if values.len() >= 3 {
                    (
                        Some((values[0].clone(), values[1].clone())),
                        values.get(2).cloned(),
                    )
                } else {
                    (None, None)
                };
                self.prompt = prompt
                    .filter(|p| !p.is_empty() && state == PipelineState::Completed)
                    .map(|p| p.chars().filter(|c| *c != '\n' && *c != '\r').collect())
                    .unwrap_or_else(|| FALLBACK_PROMPT.into());
                if std::mem::take(&mut self.command_ran) {
                    let code = exit_status(self.line_end.take(), status).map(|n| {
                        if n == 0 && self.wrote_errors {
                            1
                        } else {
                            n
                        }
                    });
                    let mark = match code {
                        Some(n) => marks::command_end(n),
                        None => marks::COMMAND_END.to_string(),
                    };
                    self.show(mark.into_bytes(), &mut out);
                }
                self.show_prompt(&mut out);
                self.after_job(&mut out);
            }
            Some(Job::Complete { id, line }) => {
                let answer = self
                    .collected
                    .drain(..)
                    .next()
                    .and_then(|v| CommandCompletion::from_value(&v))
                    .and_then(|c| completion_for(&line, &c))
                    .unwrap_or_default();
                out.push(Step::Completion { id, answer });
                if std::mem::take(&mut self.reprompt) {
                    self.show_prompt(&mut out);
                }
                self.after_job(&mut out);
            }
            None => {}
        }
        out
    }

    /// A job ended: lines typed meanwhile run now.
    fn after_job(&mut self, out: &mut Vec<Step>) {
        if self.running.is_none() {
            if let Some(line) = self.queue.pop_front() {
                self.submit(&line, out);
            }
        }
    }
}

/// What a running pipeline said, for [`PsConsole::event`].
#[derive(Debug, Clone, PartialEq)]
pub enum PsEvent {
    /// An output object.
    Output(Value),
    /// An error record.
    Error(ErrorRecord),
    /// A warning record.
    Warning(String),
    /// A verbose record.
    Verbose(String),
    /// A debug record.
    Debug(String),
    /// An information record.
    Information(InformationRecord),
    /// A progress record.
    Progress(ProgressRecord),
    /// A host call.
    HostCall(HostCall),
}

/// A typed line as one command with arguments, for endpoints without the language (JEA):
/// `Name -Param value positional -Switch`, with '…' and "…" quoting: a parameter takes the
/// next word unless that starts with `-` (without the command's metadata a switch followed by
/// a positional value reads as a parameter with a value). None for an empty line or one with
/// pipes, statements or variables (those need the language).
fn command_of(line: &str) -> Option<Command> {
    let mut words: Vec<(String, bool)> = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if matches!(c, '|' | ';' | '{' | '}' | '(' | ')' | '$' | '@') {
            return None;
        }
        let mut word = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            match c {
                '\'' | '"' => {
                    quoted = true;
                    chars.next();
                    for q in chars.by_ref() {
                        if q == c {
                            break;
                        }
                        word.push(q);
                    }
                }
                c if c.is_whitespace() => break,
                '|' | ';' => return None,
                c => {
                    word.push(c);
                    chars.next();
                }
            }
        }
        words.push((word, quoted));
    }
    let mut it = words.into_iter().peekable();
    let (name, _) = it.next()?;
    let mut cmd = Command::cmdlet(name);
    while let Some((w, quoted)) = it.next() {
        match w.strip_prefix('-').filter(|n| !quoted && !n.is_empty()) {
            Some(param) => {
                let param = param.trim_end_matches(':').to_string();
                let value = match it.peek() {
                    Some((next, q)) if *q || !next.starts_with('-') => {
                        let v = Value::str(next.clone());
                        it.next();
                        v
                    }
                    _ => Value::Nil,
                };
                cmd = cmd.arg(param, value);
            }
            None => cmd = cmd.positional(Value::str(w)),
        }
    }
    Some(cmd)
}

/// The exit status of a line: from its state, then `$?` and `$LASTEXITCODE` as the prompt
/// pipeline read them (as text).
fn exit_status(state: Option<PipelineState>, status: Option<(String, String)>) -> Option<i32> {
    match state? {
        PipelineState::Stopped => Some(130),
        PipelineState::Failed => Some(1),
        _ => {
            let (ok, last) = status?;
            if ok.eq_ignore_ascii_case("true") {
                Some(0)
            } else {
                Some(
                    last.trim()
                        .parse::<i32>()
                        .ok()
                        .filter(|n| *n != 0)
                        .unwrap_or(1),
                )
            }
        }
    }
}

/// The completion answer for the line discipline: UTF-16 indexes into byte offsets.
fn completion_for(line: &str, c: &CommandCompletion) -> Option<Completion> {
    let byte_at = |units: usize| -> usize {
        let chars = console::char_index(line, units);
        line.char_indices()
            .nth(chars)
            .map_or(line.len(), |(i, _)| i)
    };
    let start = byte_at(c.replacement_index);
    let end = byte_at(c.replacement_index.checked_add(c.replacement_length)?);
    Some(Completion {
        start,
        len: end.checked_sub(start)?,
        matches: c
            .matches
            .iter()
            .map(|m| m.completion_text.clone())
            .collect(),
    })
}

/// `[Y] Yes  [N] No  [?] Help (default is "Y"): `, as the console shows a choice.
fn choice_line(choices: &[ChoiceDescription], default: i32) -> String {
    let mut s = String::new();
    for c in choices {
        let key = c.hot_key().map(String::from).unwrap_or_else(|| c.text());
        s.push_str(&format!("[{key}] {}  ", c.text()));
    }
    s.push_str("[?] Help");
    if let Some(d) = usize::try_from(default).ok().and_then(|d| choices.get(d)) {
        let key = d.hot_key().map(String::from).unwrap_or_else(|| d.text());
        s.push_str(&format!(" (default is \"{key}\")"));
    }
    s.push_str(": ");
    s
}

/// The choice a typed answer names: empty for the default, a hot key or a label.
fn pick_choice(text: &str, choices: &[ChoiceDescription], default: i32) -> Option<i32> {
    let t = text.trim();
    if t.is_empty() {
        return (usize::try_from(default).ok()? < choices.len()).then_some(default);
    }
    choices
        .iter()
        .position(|c| {
            c.hot_key()
                .is_some_and(|k| t.len() == k.len_utf8() && t.eq_ignore_ascii_case(&k.to_string()))
                || c.text().eq_ignore_ascii_case(t)
        })
        .and_then(|i| i32::try_from(i).ok())
}

/// `text` in ConsoleColor `color`, with CR LF line ends and a final line break.
fn colored(color: i32, text: &str) -> String {
    let sgr = console::ansi_color(color).unwrap_or(39);
    let body = text
        .trim_end_matches('\n')
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    format!("\x1b[{sgr}m{body}\x1b[0m\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use winrm_client::psrp::clixml::{list_value, Object};
    use winrm_client::psrp::host::HostMethodId;

    fn shown(steps: &[Step]) -> String {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Show(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn call(method: &str, ci: i64, params: Vec<Value>) -> HostCall {
        HostCall {
            call_id: ci,
            method: HostMethodId::from_name(method).unwrap(),
            params,
        }
    }

    /// A console at its first prompt, `PS C:\> `.
    fn at_prompt() -> PsConsole {
        let mut c = PsConsole::new(80, 24, (2, 3));
        let steps = c.start();
        assert!(matches!(steps[..], [Step::Run(Job::Prompt, _)]));
        for v in ["True", "", "PS C:\\> "] {
            c.event(PsEvent::Output(Value::str(v)));
        }
        let steps = c.finished(PipelineState::Completed, None);
        assert_eq!(
            shown(&steps),
            "\x1b]133;A\x07PS C:\\> \x1b]133;B\x07",
            "no D before the first prompt"
        );
        c
    }

    fn prompt_after(c: &mut PsConsole, ok: &str, last: &str) -> String {
        for v in [ok, last, "PS C:\\> "] {
            c.event(PsEvent::Output(Value::str(v)));
        }
        shown(&c.finished(PipelineState::Completed, None))
    }

    #[test]
    fn a_line_runs_through_out_default_and_the_mark_carries_its_status() {
        let mut c = at_prompt();
        let steps = c.line("Get-Date");
        let Step::Run(Job::Line, p) = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(p.statements[0][1].cmd, "Out-Default");
        assert_eq!(p.history.as_deref(), Some("Get-Date"));
        // Output arrives as host calls; the C mark goes before the first of them.
        let steps = c.event(PsEvent::HostCall(call(
            "WriteLine2",
            -100,
            vec![Value::str("Sunday")],
        )));
        assert_eq!(shown(&steps), "\x1b]133;C\x07Sunday\r\n");
        assert!(matches!(
            c.finished(PipelineState::Completed, None)[..],
            [Step::Run(Job::Prompt, _)]
        ));
        assert!(prompt_after(&mut c, "True", "").starts_with("\x1b]133;D;0\x07"));
        // `$?` false with a native exit code: that code.
        c.line("cmd /c exit 7");
        c.finished(PipelineState::Completed, None);
        assert!(prompt_after(&mut c, "False", "7").starts_with("\x1b]133;D;7\x07"));
        // Failed: printed in red, status 1.
        c.line("throw 'x'");
        let steps = c.finished(
            PipelineState::Failed,
            Some(ErrorRecord {
                message: "x".into(),
                ..ErrorRecord::default()
            }),
        );
        assert!(shown(&steps).contains("\x1b[91mx"), "{steps:?}");
        assert!(prompt_after(&mut c, "False", "").starts_with("\x1b]133;D;1\x07"));
    }

    #[test]
    fn read_host_as_secure_string_hides_the_next_line_and_replies_a_secret() {
        let mut c = at_prompt();
        c.line("Read-Host -AsSecureString");
        let read = call("ReadLineAsSecureString", 1, vec![]);
        let steps = c.event(PsEvent::HostCall(read.clone()));
        assert_eq!(steps, vec![Step::Hide(why::READ_HOST)]);
        let steps = c.line("s3cret");
        assert_eq!(
            steps,
            vec![Step::Reply(read, Reply::Secret("s3cret".into()))]
        );
        assert!(!format!("{steps:?}").contains("s3cret"), "Debug hides it");
        assert!(shown(&steps).is_empty());
    }

    #[test]
    fn get_credential_asks_user_then_hidden_password() {
        let mut c = at_prompt();
        c.line("Get-Credential");
        let cred = call(
            "PromptForCredential2",
            2,
            ["Cap", "Msg", "", ""]
                .iter()
                .map(|s| Value::str(*s))
                .chain([Value::I32(3), Value::I32(1)])
                .collect(),
        );
        let steps = c.event(PsEvent::HostCall(cred.clone()));
        let text = shown(&steps);
        assert!(
            text.contains("Cap\r\nMsg\r\n") && text.ends_with("User: "),
            "{text:?}"
        );
        let steps = c.line("alice");
        assert!(shown(&steps).contains("Password for user alice: "));
        assert!(steps.contains(&Step::Hide(why::CREDENTIAL)));
        let steps = c.line("pw");
        assert_eq!(
            steps,
            vec![Step::Reply(
                cred,
                Reply::Credential {
                    user: "alice".into(),
                    password: "pw".into()
                }
            )]
        );
    }

    fn choice(label: &str, help: &str) -> Value {
        Object::new()
            .with_ms("label", Value::str(label))
            .with_ms("helpMessage", Value::str(help))
            .into_value()
    }

    #[test]
    fn prompt_for_choice_shows_as_the_console_does() {
        let mut c = at_prompt();
        c.line("Remove-Item x -Confirm");
        let q = call(
            "PromptForChoice",
            3,
            vec![
                Value::str("Confirm"),
                Value::str("Are you sure?"),
                list_value(&[], vec![choice("&Yes", "do it"), choice("&No", "don't")]),
                Value::I32(0),
            ],
        );
        let text = shown(&c.event(PsEvent::HostCall(q.clone())));
        assert!(
            text.ends_with("[Y] Yes  [N] No  [?] Help (default is \"Y\"): "),
            "{text:?}"
        );
        // `?` shows the help and asks again; a hot key answers.
        let text = shown(&c.line("?"));
        assert!(text.contains("Y - do it") && text.contains("[?] Help"));
        assert_eq!(
            c.line("n"),
            vec![Step::Reply(q.clone(), Reply::Value(Some(Value::I32(1))))]
        );
        assert_eq!(pick_choice("", &[], 0), None);
    }

    #[test]
    fn exit_n_ends_the_session_and_nested_prompts_are_refused() {
        let mut c = at_prompt();
        c.line("exit 3");
        let steps = c.event(PsEvent::HostCall(call("EnterNestedPrompt", 4, vec![])));
        assert!(matches!(&steps[0], Step::Reply(_, Reply::Refuse(m)) if m.contains("nested")));
        c.event(PsEvent::HostCall(call(
            "SetShouldExit",
            -100,
            vec![Value::I32(3)],
        )));
        assert_eq!(
            c.finished(PipelineState::Completed, None),
            vec![Step::Exit(3)]
        );
    }

    #[test]
    fn ctrl_c_stops_and_typed_ahead_lines_wait_their_turn() {
        let mut c = at_prompt();
        c.line("Start-Sleep 100");
        assert!(c.line("Get-Date").is_empty(), "typed ahead: queued");
        assert_eq!(c.interrupt(), vec![Step::Stop]);
        c.finished(PipelineState::Stopped, None);
        let text = prompt_after(&mut c, "False", "");
        assert!(text.contains("\x1b]133;D;130\x07"), "{text:?}");
        // Ctrl+C dropped the typed-ahead line: nothing runs after the prompt.
        assert!(!c.busy());
    }

    #[test]
    fn completion_indexes_go_from_utf16_to_bytes_and_busy_answers_at_once() {
        let mut c = at_prompt();
        let line = "\u{1F600} Get-Chi";
        let steps = c.complete(7, line, line.len());
        let Step::Run(Job::Complete { id: 7, .. }, p) = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(p.statements[0][0].args[1].value, Value::I32(10));
        let result = Object::new()
            .with_prop("CompletionText", Value::str("Get-ChildItem"))
            .into_value();
        let completion = Object::new()
            .with_prop("ReplacementIndex", Value::I32(3))
            .with_prop("ReplacementLength", Value::I32(7))
            .with_prop("CompletionMatches", list_value(&[], vec![result]))
            .into_value();
        c.event(PsEvent::Output(completion));
        let steps = c.finished(PipelineState::Completed, None);
        assert_eq!(
            steps,
            vec![Step::Completion {
                id: 7,
                answer: Completion {
                    start: 5,
                    len: 7,
                    matches: vec!["Get-ChildItem".into()]
                }
            }]
        );
        c.line("Start-Sleep 5");
        assert_eq!(
            c.complete(8, "x", 1),
            vec![Step::Completion {
                id: 8,
                answer: Completion::default()
            }]
        );
    }

    #[test]
    fn progress_stays_at_the_bottom_and_goes_at_the_end() {
        let mut c = at_prompt();
        c.line("copy");
        let rec = |pct, completed| ProgressRecord {
            activity: "Copying".into(),
            activity_id: 0,
            status_description: "Half".into(),
            current_operation: None,
            parent_activity_id: -1,
            percent_complete: pct,
            completed,
            seconds_remaining: -1,
        };
        let text = shown(&c.event(PsEvent::Progress(rec(50, false))));
        assert!(
            text.contains("Copying: Half") && text.contains("50%"),
            "{text:?}"
        );
        let text = shown(&c.event(PsEvent::HostCall(call(
            "WriteLine2",
            -100,
            vec![Value::str("out")],
        ))));
        assert!(text.starts_with("\r\x1b[Kout\r\n"), "{text:?}");
        assert!(
            text.contains("Copying: Half"),
            "drawn again below: {text:?}"
        );
        let text = shown(&c.event(PsEvent::Progress(rec(100, true))));
        assert_eq!(text, "\r\x1b[K");
    }

    #[test]
    fn the_next_pipeline_gets_the_terminal_size_after_a_resize() {
        let mut c = at_prompt();
        c.resize(132, 43);
        let steps = c.line("Get-ChildItem");
        let Step::Run(Job::Line, p) = &steps[0] else {
            panic!("{steps:?}")
        };
        let d = p.host_info.default_data.as_ref().unwrap();
        assert_eq!(
            (
                d.buffer_size.width,
                d.window_size.width,
                d.window_size.height
            ),
            (132, 132, 43)
        );
    }

    #[test]
    fn ctrl_c_during_a_completion_brings_the_prompt_back_after_it() {
        let mut c = at_prompt();
        c.complete(1, "Get-Ch", 6);
        assert!(c.interrupt().is_empty(), "nothing to stop");
        let steps = c.finished(PipelineState::Completed, None);
        assert!(matches!(steps[0], Step::Completion { id: 1, .. }));
        assert_eq!(shown(&steps), "\x1b]133;A\x07PS C:\\> \x1b]133;B\x07");
    }

    #[test]
    fn an_endpoint_without_the_language_gets_lines_as_commands() {
        let mut c = at_prompt();
        c.line("Get-Service -Name 'Win RM' x -Force -Verbose");
        let refused = ErrorRecord {
            message: "The syntax is not supported by this runspace.".into(),
            fully_qualified_error_id: "ScriptsNotAllowed".into(),
            reason: Some("ParseException".into()),
            ..ErrorRecord::default()
        };
        let steps = c.finished(PipelineState::Failed, Some(refused));
        let Step::Run(Job::Line, p) = &steps[0] else {
            panic!("{steps:?}")
        };
        let cmd = &p.statements[0][0];
        assert!(!cmd.is_script);
        assert_eq!(cmd.cmd, "Get-Service");
        let args: Vec<(Option<&str>, Value)> = cmd
            .args
            .iter()
            .map(|a| (a.name.as_deref(), a.value.clone()))
            .collect();
        assert_eq!(
            args,
            vec![
                (Some("Name"), Value::str("Win RM")),
                (None, Value::str("x")),
                (Some("Force"), Value::Nil),
                (Some("Verbose"), Value::Nil),
            ]
        );
        assert_eq!(p.statements[0][1].cmd, "Out-Default");
        assert!(command_of("a | b").is_none() && command_of("  ").is_none());
    }

    #[test]
    fn a_warning_sent_as_record_and_host_call_shows_once() {
        let mut c = at_prompt();
        c.line("Write-Warning careful");
        let first = shown(&c.event(PsEvent::Warning("careful".into())));
        assert_eq!(first, "\x1b]133;C\x07\x1b[93mWARNING: careful\x1b[0m\r\n");
        let call = call("WriteWarningLine", -100, vec![Value::str("careful")]);
        assert!(c.event(PsEvent::HostCall(call.clone())).is_empty());
        // A second, separate warning with the same text still shows.
        assert!(shown(&c.event(PsEvent::HostCall(call))).contains("WARNING: careful"));
    }
}

#[cfg(test)]
#[path = "pshost_recorded.rs"]
mod recorded;

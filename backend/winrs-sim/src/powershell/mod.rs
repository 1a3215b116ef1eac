//! A small PowerShell-flavoured evaluator behind the simulator's PSRP endpoint.
//!
//! It understands the syntax of [`parse`] and a table of commands ([`COMMANDS`]) that behave,
//! as far as a console sees, like PowerShell's: the Write-* family (output, host writes and
//! the error/warning/verbose/debug/information/progress streams), Read-Host and
//! Get-Credential as host calls, Start-Sleep (stoppable), Get-Location/Set-Location,
//! Get-ChildItem with PowerShell's table, Get-Date, Out-Default, Out-String, Out-Null,
//! `prompt`, TabExpansion2, `$PSVersionTable`, `$LASTEXITCODE`, `$?` and `exit N`. Any other
//! command runs through bash with its original text: stdout lines become output strings,
//! stderr lines error records, the exit code `$LASTEXITCODE`.

pub(crate) mod parse;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use psrp::clixml::{self, Collection, Object, Value};
use psrp::host::{HostMethodId, HostResponse};
use psrp::message::MessageType;
use psrp::messages::{Command as PsCommand, CreatePipeline};
use psrp::records::{ErrorRecord, InformationRecord, InformationalRecord, ProgressRecord};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::sync::watch;

use parse::{Arg, Cmd, Expr, Statement};

/// Commands, their aliases and parameters (TabExpansion2 completes from this table).
pub(crate) const COMMANDS: &[(&str, &[&str], &[&str])] = &[
    (
        "Get-ChildItem",
        &["dir", "ls", "gci"],
        &["Path", "Name", "Force", "Recurse"],
    ),
    (
        "Get-Credential",
        &[],
        &["UserName", "Message", "Credential"],
    ),
    ("Clear-Host", &["cls", "clear"], &[]),
    ("Get-Date", &[], &["Format", "Date"]),
    ("Get-History", &["h", "history", "ghy"], &["Id", "Count"]),
    ("Get-Location", &["pwd", "gl"], &[]),
    ("Out-Default", &[], &["InputObject"]),
    ("Out-Null", &[], &["InputObject"]),
    ("Out-String", &[], &["InputObject", "Stream", "Width"]),
    ("prompt", &[], &[]),
    ("Read-Host", &[], &["Prompt", "AsSecureString"]),
    ("Set-Location", &["cd", "sl", "chdir"], &["Path"]),
    ("Start-Sleep", &["sleep"], &["Seconds", "Milliseconds"]),
    (
        "TabExpansion2",
        &[],
        &["inputScript", "cursorColumn", "options"],
    ),
    ("Write-Debug", &[], &["Message"]),
    (
        "Write-Error",
        &[],
        &["Message", "Category", "ErrorId", "TargetObject"],
    ),
    (
        "Write-Host",
        &[],
        &["Object", "NoNewline", "ForegroundColor", "BackgroundColor"],
    ),
    ("Write-Information", &[], &["MessageData", "Tags"]),
    (
        "Write-Output",
        &["echo", "write"],
        &["InputObject", "NoEnumerate"],
    ),
    (
        "Write-Progress",
        &[],
        &[
            "Activity",
            "Status",
            "PercentComplete",
            "Id",
            "CurrentOperation",
            "Completed",
        ],
    ),
    ("Write-Verbose", &[], &["Message"]),
    ("Write-Warning", &[], &["Message"]),
];

/// The canonical name of a command or alias in [`COMMANDS`].
fn resolve(name: &str) -> Option<&'static str> {
    COMMANDS.iter().find_map(|(n, aliases, _)| {
        (n.eq_ignore_ascii_case(name) || aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
            .then_some(*n)
    })
}

/// What a runspace keeps between pipelines.
#[derive(Debug, Clone)]
pub(crate) struct Runspace {
    pub cwd: PathBuf,
    pub vars: HashMap<String, Value>,
    pub last_exit_code: Option<i32>,
    pub success: bool,
    pub user: String,
    pub version: Value,
    /// `function NAME { BODY }` definitions: lower-case name → body.
    pub functions: HashMap<String, String>,
    /// Lines run with AddToHistory, oldest first (Get-History).
    pub history: Vec<String>,
}

impl Runspace {
    pub(crate) fn new(cwd: PathBuf, user: &str) -> Runspace {
        Runspace {
            cwd,
            vars: HashMap::new(),
            last_exit_code: None,
            success: true,
            user: user.to_string(),
            version: ps_version_table(),
            functions: HashMap::new(),
            history: Vec::new(),
        }
    }
}

/// `$PSVersionTable` (Windows PowerShell 5.1 on Server 2019), as a PSPrimitiveDictionary.
pub(crate) fn ps_version_table() -> Value {
    let s = |k: &str, v: Value| (Value::str(k), v);
    Object::new()
        .with_types(&[
            "System.Management.Automation.PSPrimitiveDictionary",
            "System.Collections.Hashtable",
            "System.Object",
        ])
        .with_collection(Collection::Dictionary(vec![
            s("PSVersion", Value::Version("5.1.17763.1007".into())),
            s("PSEdition", Value::str("Desktop")),
            s(
                "PSCompatibleVersions",
                clixml::list_value(
                    &["System.Version[]", "System.Array", "System.Object"],
                    vec![
                        Value::Version("1.0".into()),
                        Value::Version("2.0".into()),
                        Value::Version("3.0".into()),
                        Value::Version("4.0".into()),
                        Value::Version("5.0".into()),
                        Value::Version("5.1.17763.1007".into()),
                    ],
                ),
            ),
            s("BuildVersion", Value::Version("10.0.17763.1007".into())),
            s("CLRVersion", Value::Version("4.0.30319.42000".into())),
            s("WSManStackVersion", Value::Version("3.0".into())),
            s("PSRemotingProtocolVersion", Value::Version("2.3".into())),
            s("SerializationVersion", Value::Version("1.1.0.1".into())),
        ]))
        .into_value()
}

/// APPLICATION_PRIVATE_DATA's `ApplicationPrivateData`: a PSPrimitiveDictionary holding
/// `PSVersionTable`.
pub(crate) fn private_data() -> Value {
    Object::new()
        .with_types(&[
            "System.Management.Automation.PSPrimitiveDictionary",
            "System.Collections.Hashtable",
            "System.Object",
        ])
        .with_collection(Collection::Dictionary(vec![(
            Value::str("PSVersionTable"),
            ps_version_table(),
        )]))
        .into_value()
}

/// What the evaluator needs from the pipeline it runs in.
pub(crate) trait Io: Send + Sync {
    /// Sends a pipeline message (output or a record).
    fn emit(&self, t: MessageType, v: &Value);
    /// Makes a host call; for non-void calls waits for the answer (None: no answer, the
    /// pipeline was stopped, or there is no host).
    fn host_call(
        &self,
        method: HostMethodId,
        params: Vec<Value>,
        void: bool,
    ) -> impl std::future::Future<Output = Option<HostResponse>> + Send;
    /// True if the pipeline's HostInfo offers a UI.
    fn has_host_ui(&self) -> bool;
    /// Waits while the pipeline has more unreceived output than it may hold (the client
    /// reads slowly), so a chatty pipeline waits instead of filling memory.
    fn wait_room(&self) -> impl std::future::Future<Output = ()> + Send;
}

/// How a pipeline ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Completed,
    Exit(i32),
    Stopped,
    Failed(Box<ErrorRecord>),
}

enum Flow {
    Next,
    Exit(i32),
    Stopped,
}

/// Where a command's output goes.
enum Sink {
    Collect(Vec<Value>),
    Emit,
}

/// Runs one pipeline for `rs` with `input` objects; stops early when `stop` turns true.
pub(crate) async fn run<I: Io>(
    io: &I,
    rs: &mut Runspace,
    create: &CreatePipeline,
    input: Vec<Value>,
    stop: watch::Receiver<bool>,
) -> Outcome {
    let mut ev = Eval {
        io,
        rs,
        stop,
        merge_errors: false,
        had_errors: false,
        downstream: Vec::new(),
    };
    let mut outcome = Outcome::Completed;
    for statement in &create.statements {
        match ev.run_stages(statement, input.clone()).await {
            Ok(Flow::Next) => {}
            Ok(Flow::Exit(n)) => {
                outcome = Outcome::Exit(n);
                break;
            }
            Ok(Flow::Stopped) => {
                outcome = Outcome::Stopped;
                break;
            }
            Err(e) => {
                outcome = Outcome::Failed(Box::new(e));
                break;
            }
        }
    }
    // AddToHistory: the line (or the pipeline's own text) goes into the runspace's history
    // once it ran; input that did not parse never ran.
    let parsed = !matches!(&outcome, Outcome::Failed(e) if e.exception_type.as_deref().is_some_and(|t| t.ends_with("ParseException")));
    if create.add_to_history && parsed {
        let text = create.history.clone().unwrap_or_else(|| {
            create
                .statements
                .first()
                .and_then(|s| s.first())
                .map(|c| c.cmd.clone())
                .unwrap_or_default()
        });
        if rs.history.len() == MAX_HISTORY {
            rs.history.remove(0);
        }
        rs.history.push(text);
    }
    outcome
}

/// Entries a runspace keeps in its history (PowerShell's `$MaximumHistoryCount`).
const MAX_HISTORY: usize = 4096;

fn error(
    message: impl Into<String>,
    id: &str,
    category: i32,
    exception: &str,
    command: Option<&str>,
) -> ErrorRecord {
    ErrorRecord {
        message: message.into(),
        exception_type: Some(exception.into()),
        fully_qualified_error_id: id.into(),
        category,
        command: command.map(str::to_string),
        ..ErrorRecord::default()
    }
}

/// A parse failure as PowerShell reports it: IncompleteParseException when more input could
/// complete the script (the console then asks for more lines), ParseException otherwise.
fn parse_error(e: parse::ParseError) -> ErrorRecord {
    let reason = match e.1 {
        parse::Incomplete::Yes => "IncompleteParseException",
        parse::Incomplete::No => "ParseException",
    };
    let mut r = error(
        e.0,
        "TerminatorExpectedAtEndOfString",
        8,
        &format!("System.Management.Automation.{reason}"),
        None,
    );
    r.reason = Some(reason.into());
    r
}

fn not_recognized(name: &str) -> ErrorRecord {
    let mut e = error(
        format!("The term '{name}' is not recognized as the name of a cmdlet, function, script file, or operable program. Check the spelling of the name, or if a path was included, verify that the path is correct and try again."),
        "CommandNotFoundException",
        13,
        "System.Management.Automation.CommandNotFoundException",
        None,
    );
    e.target_name = Some(name.into());
    e.reason = Some("CommandNotFoundException".into());
    e
}

struct Eval<'a, I: Io> {
    io: &'a I,
    rs: &'a mut Runspace,
    stop: watch::Receiver<bool>,
    merge_errors: bool,
    had_errors: bool,
    /// Commands after a script stage (`| Out-Default`, `| Out-String -Stream`): each
    /// statement's output goes through them as soon as the statement ends, so output and
    /// host writes keep their order.
    downstream: Vec<PsCommand>,
}

impl<I: Io> Eval<'_, I> {
    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn write_error(&mut self, e: ErrorRecord, sink: &mut Sink) {
        self.had_errors = true;
        if self.merge_errors {
            self.output(sink, vec![e.to_value()]);
        } else {
            self.io.emit(MessageType::ERROR_RECORD, &e.to_value());
        }
    }

    fn output(&self, sink: &mut Sink, values: Vec<Value>) {
        match sink {
            Sink::Collect(v) => v.extend(values),
            Sink::Emit => {
                for v in values {
                    self.io.emit(MessageType::PIPELINE_OUTPUT, &v);
                }
            }
        }
    }

    /// The stages of one statement of CREATE_PIPELINE (a script, then Out-Default, …).
    async fn run_stages(
        &mut self,
        stages: &[PsCommand],
        input: Vec<Value>,
    ) -> Result<Flow, ErrorRecord> {
        let mut data = input;
        for (i, stage) in stages.iter().enumerate() {
            let last = i + 1 == stages.len();
            let mut sink = if last {
                Sink::Emit
            } else {
                Sink::Collect(Vec::new())
            };
            self.merge_errors = stage.merge_my == 2 || stage.merge_streams[0] != 0;
            let flow = if stage.is_script {
                self.rs.vars.insert(
                    "input".into(),
                    clixml::list_value(&[], std::mem::take(&mut data)),
                );
                let statements = parse::parse(&stage.cmd).map_err(parse_error)?;
                if !last && stages[i + 1..].iter().all(|s| !s.is_script) {
                    self.downstream = stages[i + 1..].to_vec();
                    let flow = self.run_script(&statements, &mut Sink::Emit).await;
                    self.downstream.clear();
                    self.merge_errors = false;
                    return Ok(flow);
                }
                self.run_script(&statements, &mut sink).await
            } else {
                let args: Vec<(Option<String>, Value)> = stage
                    .args
                    .iter()
                    .map(|a| (a.name.clone(), a.value.clone()))
                    .collect();
                let input = std::mem::take(&mut data);
                self.call(&stage.cmd, args, input, &stage.cmd.clone(), &mut sink)
                    .await
            };
            self.merge_errors = false;
            match flow {
                Flow::Next => {}
                other => return Ok(other),
            }
            if let Sink::Collect(v) = sink {
                data = v;
            }
        }
        Ok(Flow::Next)
    }

    async fn run_script(&mut self, statements: &[Statement], sink: &mut Sink) -> Flow {
        for st in statements {
            if self.stopped() {
                return Flow::Stopped;
            }
            self.had_errors = false;
            let flow = match st {
                Statement::Function(name, body) => {
                    self.rs
                        .functions
                        .insert(name.to_ascii_lowercase(), body.clone());
                    Flow::Next
                }
                Statement::Exit(e) => {
                    let n = e
                        .as_ref()
                        .map(|e| self.eval(e))
                        .and_then(|v| to_i64(&v))
                        .unwrap_or(0);
                    return Flow::Exit(n as i32);
                }
                Statement::Assign(name, cmds) => {
                    let mut collect = Sink::Collect(Vec::new());
                    let flow = self.run_pipeline(cmds, &mut collect).await;
                    if let Sink::Collect(mut v) = collect {
                        let value = match v.len() {
                            0 => Value::Nil,
                            1 => v.remove(0),
                            _ => clixml::list_value(
                                &["System.Object[]", "System.Array", "System.Object"],
                                v,
                            ),
                        };
                        self.rs.vars.insert(name.to_ascii_lowercase(), value);
                    }
                    flow
                }
                Statement::Pipeline(cmds) if !self.downstream.is_empty() => {
                    let mut collect = Sink::Collect(Vec::new());
                    let flow = self.run_pipeline(cmds, &mut collect).await;
                    if let Sink::Collect(v) = collect {
                        if !v.is_empty() {
                            self.through_downstream(v).await;
                        }
                    }
                    flow
                }
                Statement::Pipeline(cmds) => self.run_pipeline(cmds, sink).await,
            };
            self.rs.success = !self.had_errors;
            self.io.wait_room().await;
            match flow {
                Flow::Next => {}
                other => return other,
            }
        }
        Flow::Next
    }

    async fn run_pipeline(&mut self, cmds: &[Cmd], sink: &mut Sink) -> Flow {
        let mut data: Vec<Value> = Vec::new();
        for (i, cmd) in cmds.iter().enumerate() {
            let last = i + 1 == cmds.len();
            let mut stage_sink = Sink::Collect(Vec::new());
            let flow = match cmd {
                Cmd::Value(e) => {
                    let v = self.eval(e);
                    self.output(&mut stage_sink, enumerate(v));
                    Flow::Next
                }
                Cmd::Call { name, args, text } => {
                    let args = args
                        .iter()
                        .map(|a: &Arg| {
                            (
                                a.name.clone(),
                                a.value
                                    .as_ref()
                                    .map(|e| self.eval(e))
                                    .unwrap_or(Value::Bool(true)),
                            )
                        })
                        .collect();
                    let input = std::mem::take(&mut data);
                    let mut s = if last {
                        std::mem::replace(sink, Sink::Emit)
                    } else {
                        Sink::Collect(Vec::new())
                    };
                    let flow = self.call(name, args, input, text, &mut s).await;
                    if last {
                        *sink = s;
                        return flow;
                    }
                    stage_sink = s;
                    flow
                }
            };
            match flow {
                Flow::Next => {}
                other => return other,
            }
            if let Sink::Collect(v) = stage_sink {
                if last {
                    self.output(sink, v);
                } else {
                    data = v;
                }
            }
        }
        Flow::Next
    }

    /// Runs `values` through the downstream commands, emitting what the last one outputs.
    async fn through_downstream(&mut self, values: Vec<Value>) {
        let stages = self.downstream.clone();
        let merge = std::mem::replace(&mut self.merge_errors, false);
        let mut data = values;
        for (i, stage) in stages.iter().enumerate() {
            let mut sink = if i + 1 == stages.len() {
                Sink::Emit
            } else {
                Sink::Collect(Vec::new())
            };
            let args = stage
                .args
                .iter()
                .map(|a| (a.name.clone(), a.value.clone()))
                .collect();
            let input = std::mem::take(&mut data);
            let _ = self
                .call(&stage.cmd, args, input, &stage.cmd, &mut sink)
                .await;
            if let Sink::Collect(v) = sink {
                data = v;
            }
        }
        self.merge_errors = merge;
    }

    fn var(&self, name: &str) -> Value {
        match name.to_ascii_lowercase().as_str() {
            "?" => Value::Bool(self.rs.success),
            "lastexitcode" => self.rs.last_exit_code.map(Value::I32).unwrap_or(Value::Nil),
            "psversiontable" => self.rs.version.clone(),
            "pwd" => Value::str(display_path(&self.rs.cwd)),
            "home" => Value::str(format!("C:\\Users\\{}", self.rs.user)),
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            "null" => Value::Nil,
            other => self.rs.vars.get(other).cloned().unwrap_or(Value::Nil),
        }
    }

    fn eval(&self, e: &Expr) -> Value {
        match e {
            Expr::Str(s) => Value::str(s.clone()),
            Expr::Num(n) => i32::try_from(*n).map(Value::I32).unwrap_or(Value::I64(*n)),
            Expr::Range(a, b) => {
                let items: Vec<Value> = if a <= b {
                    (*a..=*b).map(|n| Value::I32(n as i32)).collect()
                } else {
                    (*b..=*a).rev().map(|n| Value::I32(n as i32)).collect()
                };
                clixml::list_value(&["System.Object[]", "System.Array", "System.Object"], items)
            }
            Expr::Var(v) => self.var(v),
            Expr::Expand(s) => {
                let mut out = String::new();
                let mut chars = s.chars().peekable();
                while let Some(c) = chars.next() {
                    if c == '$'
                        && chars
                            .peek()
                            .is_some_and(|c| c.is_alphanumeric() || *c == '_' || *c == '?')
                    {
                        let mut name = String::new();
                        while let Some(c) = chars
                            .peek()
                            .copied()
                            .filter(|c| c.is_alphanumeric() || *c == '_' || *c == '?')
                        {
                            name.push(c);
                            chars.next();
                            if c == '?' {
                                break;
                            }
                        }
                        out.push_str(&format_values(&[self.var(&name)]).join(" "));
                    } else if c == '\u{1}' {
                        out.push('$');
                    } else {
                        out.push(c);
                    }
                }
                Value::str(out)
            }
        }
    }

    async fn sleep(&self, d: Duration) -> bool {
        let mut stop = self.stop.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = stop.wait_for(|s| *s) => false,
        }
    }

    async fn call(
        &mut self,
        name: &str,
        args: Vec<(Option<String>, Value)>,
        input: Vec<Value>,
        text: &str,
        sink: &mut Sink,
    ) -> Flow {
        let Some(canonical) = resolve(name) else {
            if let Some(body) = self.rs.functions.get(&name.to_ascii_lowercase()).cloned() {
                return match parse::parse(&body) {
                    Ok(statements) => Box::pin(self.run_script(&statements, sink)).await,
                    Err(e) => {
                        self.write_error(parse_error(e), sink);
                        Flow::Next
                    }
                };
            }
            return self.external(name, text, input, sink).await;
        };
        let params = COMMANDS
            .iter()
            .find(|c| c.0 == canonical)
            .map(|c| c.2)
            .unwrap_or(&[]);
        // Bind: named parameters by (prefix of) name, the rest positional in table order.
        let mut named: HashMap<&'static str, Value> = HashMap::new();
        let mut positional = Vec::new();
        let mut switches = Vec::new();
        for (n, v) in args {
            match n {
                Some(n) => {
                    let lower = n.to_ascii_lowercase();
                    if ["verbose", "debug"].contains(&lower.as_str()) {
                        switches.push(lower);
                        continue;
                    }
                    match params
                        .iter()
                        .find(|p| p.to_ascii_lowercase().starts_with(&lower))
                    {
                        Some(p) => {
                            named.insert(p, v);
                        }
                        None => {
                            let mut e = error(
                                format!("A parameter cannot be found that matches parameter name '{n}'."),
                                &format!("NamedParameterNotFound,{canonical}"),
                                5,
                                "System.Management.Automation.ParameterBindingException",
                                Some(canonical),
                            );
                            e.reason = Some("ParameterBindingException".into());
                            self.write_error(e, sink);
                            return Flow::Next;
                        }
                    }
                }
                None => positional.push(v),
            }
        }
        let mut pos = positional.into_iter();
        macro_rules! p {
            ($name:expr) => {
                named.remove($name).or_else(|| pos.next())
            };
        }
        let s = |v: Option<Value>| v.map(|v| format_values(&[v]).join(" "));
        let pref = |this: &Self, var: &str, switch: &str| {
            switches.iter().any(|s| s == switch)
                || this
                    .var(var)
                    .as_str()
                    .is_some_and(|v| !v.eq_ignore_ascii_case("SilentlyContinue"))
        };
        match canonical {
            "Write-Output" => {
                let mut out = input;
                if let Some(v) = p!("InputObject") {
                    out.extend(enumerate(v));
                }
                for v in pos_rest(&mut pos) {
                    out.extend(enumerate(v));
                }
                self.output(sink, out);
            }
            "Write-Host" => {
                let mut words: Vec<String> = Vec::new();
                if let Some(v) = p!("Object") {
                    words.push(format_values(&enumerate(v)).join(" "));
                }
                words.extend(pos_rest(&mut pos).map(|v| format_values(&[v]).join(" ")));
                words.extend(
                    input
                        .iter()
                        .map(|v| format_values(std::slice::from_ref(v)).join(" ")),
                );
                let text = words.join(" ");
                let no_newline = named.contains_key("NoNewline");
                let fg = named
                    .get("ForegroundColor")
                    .and_then(|v| v.as_str())
                    .and_then(color);
                let bg = named
                    .get("BackgroundColor")
                    .and_then(|v| v.as_str())
                    .and_then(color);
                if self.io.has_host_ui() {
                    let (method, params) = match (fg.is_some() || bg.is_some(), no_newline) {
                        (false, false) => {
                            (HostMethodId::WRITE_LINE2, vec![Value::str(text.clone())])
                        }
                        (false, true) => (HostMethodId::WRITE1, vec![Value::str(text.clone())]),
                        (true, nl) => (
                            if nl {
                                HostMethodId::WRITE2
                            } else {
                                HostMethodId::WRITE_LINE3
                            },
                            vec![
                                console_color(fg.unwrap_or(7)),
                                console_color(bg.unwrap_or(0)),
                                Value::str(text.clone()),
                            ],
                        ),
                    };
                    self.io.host_call(method, params, true).await;
                }
                let message = Object::new()
                    .with_types(&[
                        "System.Management.Automation.HostInformationMessage",
                        "System.Object",
                    ])
                    .with_to_string(text.clone())
                    .with_ms("Message", Value::str(text))
                    .with_ms("NoNewLine", Value::Bool(no_newline))
                    .with_ms(
                        "ForegroundColor",
                        fg.map(console_color).unwrap_or(Value::Nil),
                    )
                    .with_ms(
                        "BackgroundColor",
                        bg.map(console_color).unwrap_or(Value::Nil),
                    )
                    .into_value();
                self.information(message, vec!["PSHOST".into()], "Write-Host");
            }
            "Write-Error" => {
                let message = s(p!("Message")).unwrap_or_default();
                let mut e = error(
                    message,
                    "Microsoft.PowerShell.Commands.WriteErrorException",
                    0,
                    "Microsoft.PowerShell.Commands.WriteErrorException",
                    Some("Write-Error"),
                );
                if let Some(id) = named.get("ErrorId").map(|v| v.display()) {
                    e.fully_qualified_error_id = id;
                }
                e.reason = Some("WriteErrorException".into());
                e.category_message =
                    Some("NotSpecified: (:) [Write-Error], WriteErrorException".into());
                self.write_error(e, sink);
            }
            "Write-Warning" | "Write-Verbose" | "Write-Debug" => {
                let message = s(p!("Message")).unwrap_or_default();
                let (t, kind, shown) = match canonical {
                    "Write-Warning" => (
                        MessageType::WARNING_RECORD,
                        "WarningRecord",
                        !self
                            .var("WarningPreference")
                            .as_str()
                            .is_some_and(|v| v.eq_ignore_ascii_case("SilentlyContinue")),
                    ),
                    "Write-Verbose" => (
                        MessageType::VERBOSE_RECORD,
                        "VerboseRecord",
                        pref(self, "VerbosePreference", "verbose"),
                    ),
                    _ => (
                        MessageType::DEBUG_RECORD,
                        "DebugRecord",
                        pref(self, "DebugPreference", "debug"),
                    ),
                };
                if shown {
                    self.io
                        .emit(t, &InformationalRecord { message }.to_value(kind));
                }
            }
            "Write-Information" => {
                let data = p!("MessageData").unwrap_or(Value::Nil);
                let tags = named
                    .get("Tags")
                    .map(|v| enumerate(v.clone()).iter().map(Value::display).collect())
                    .unwrap_or_default();
                self.information(data, tags, "Write-Information");
            }
            "Write-Progress" => {
                let activity = s(p!("Activity")).unwrap_or_default();
                let record = ProgressRecord {
                    activity,
                    activity_id: named.get("Id").and_then(to_i64).unwrap_or(0) as i32,
                    status_description: s(p!("Status")).unwrap_or_else(|| "Processing".into()),
                    current_operation: named.get("CurrentOperation").map(Value::display),
                    parent_activity_id: -1,
                    percent_complete: named.get("PercentComplete").and_then(to_i64).unwrap_or(-1)
                        as i32,
                    completed: named.contains_key("Completed"),
                    seconds_remaining: -1,
                };
                self.io
                    .emit(MessageType::PROGRESS_RECORD, &record.to_value());
            }
            "Read-Host" => {
                let prompt = s(p!("Prompt"));
                let secure = named.contains_key("AsSecureString");
                if !self.io.has_host_ui() {
                    let e = error("Read-Host: the host does not support user interaction.", "System.Management.Automation.Host.HostException,Microsoft.PowerShell.Commands.ReadHostCommand", 2, "System.Management.Automation.Host.HostException", Some("Read-Host"));
                    self.write_error(e, sink);
                    return Flow::Next;
                }
                let answer = match &prompt {
                    Some(prompt) => {
                        let field = Object::new()
                            .with_types(&[
                                "System.Management.Automation.Host.FieldDescription",
                                "System.Object",
                            ])
                            .with_ms("name", Value::str(prompt.clone()))
                            .with_ms("label", Value::str(""))
                            .with_ms(
                                "parameterTypeName",
                                Value::str(if secure { "SecureString" } else { "String" }),
                            )
                            .with_ms(
                                "parameterTypeFullName",
                                Value::str(if secure {
                                    "System.Security.SecureString"
                                } else {
                                    "System.String"
                                }),
                            )
                            .with_ms("parameterAssemblyFullName", Value::str(""))
                            .with_ms("helpMessage", Value::str(""))
                            .with_ms("isMandatory", Value::Bool(true))
                            .with_ms("modifiedByRemotingProtocol", Value::Bool(false))
                            .with_ms("isFromRemoteHost", Value::Bool(false))
                            .with_ms("defaultValue", Value::Nil)
                            .into_value();
                        let list = clixml::list_value(&["System.Collections.ObjectModel.Collection`1[[System.Management.Automation.Host.FieldDescription, System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"], vec![field]);
                        self.io
                            .host_call(
                                HostMethodId::PROMPT,
                                vec![Value::str(""), Value::str(""), list],
                                false,
                            )
                            .await
                            .map(|r| {
                                r.result
                                    .as_ref()
                                    .and_then(|v| {
                                        v.entries().and_then(|e| e.first().map(|(_, v)| v.clone()))
                                    })
                                    .unwrap_or(Value::Nil)
                            })
                    }
                    None => {
                        let m = if secure {
                            HostMethodId::READ_LINE_AS_SECURE_STRING
                        } else {
                            HostMethodId::READ_LINE
                        };
                        self.io
                            .host_call(m, vec![], false)
                            .await
                            .map(|r| r.result.clone().unwrap_or(Value::Nil))
                    }
                };
                match answer {
                    Some(v) => self.output(sink, vec![v]),
                    None => {
                        return if self.stopped() {
                            Flow::Stopped
                        } else {
                            Flow::Next
                        }
                    }
                }
            }
            "Get-Credential" => {
                let user =
                    s(p!("UserName").or_else(|| named.remove("Credential"))).unwrap_or_default();
                let message =
                    s(named.remove("Message")).unwrap_or_else(|| "Enter your credentials.".into());
                let answer = self
                    .io
                    .host_call(
                        HostMethodId::PROMPT_FOR_CREDENTIAL2,
                        vec![
                            Value::str("Windows PowerShell credential request"),
                            Value::str(message),
                            Value::str(user),
                            Value::str(""),
                            enum_value(
                                "System.Management.Automation.PSCredentialTypes",
                                "Default",
                                3,
                            ),
                            enum_value(
                                "System.Management.Automation.PSCredentialUIOptions",
                                "Default",
                                1,
                            ),
                        ],
                        false,
                    )
                    .await;
                match answer {
                    Some(r) => self.output(sink, r.result.clone().into_iter().collect()),
                    None => {
                        return if self.stopped() {
                            Flow::Stopped
                        } else {
                            Flow::Next
                        }
                    }
                }
            }
            "Start-Sleep" => {
                let secs = p!("Seconds").and_then(|v| to_f64(&v)).unwrap_or(0.0);
                let ms = named.get("Milliseconds").and_then(to_f64).unwrap_or(0.0);
                if !self
                    .sleep(Duration::from_secs_f64(
                        secs.max(0.0) + ms.max(0.0) / 1000.0,
                    ))
                    .await
                {
                    return Flow::Stopped;
                }
            }
            "Get-Location" => {
                let v = Object::new()
                    .with_types(&["System.Management.Automation.PathInfo", "System.Object"])
                    .with_to_string(display_path(&self.rs.cwd))
                    .with_prop("Path", Value::str(display_path(&self.rs.cwd)))
                    .into_value();
                self.output(sink, vec![v]);
            }
            "Set-Location" => {
                let target = s(p!("Path")).unwrap_or_else(|| "~".into());
                let path = if target == "~" {
                    std::env::var_os("HOME")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| self.rs.cwd.clone())
                } else {
                    self.rs.cwd.join(host_path(&target))
                };
                match std::fs::canonicalize(&path) {
                    Ok(p) if p.is_dir() => self.rs.cwd = p,
                    _ => {
                        let mut e = error(
                            format!("Cannot find path '{}' because it does not exist.", target),
                            "PathNotFound,Microsoft.PowerShell.Commands.SetLocationCommand",
                            13,
                            "System.Management.Automation.ItemNotFoundException",
                            Some("Set-Location"),
                        );
                        e.target_name = Some(target);
                        e.reason = Some("ItemNotFoundException".into());
                        self.write_error(e, sink);
                    }
                }
            }
            "Get-ChildItem" => {
                let target = s(p!("Path"));
                let dir = target
                    .as_deref()
                    .map(|t| self.rs.cwd.join(host_path(t)))
                    .unwrap_or_else(|| self.rs.cwd.clone());
                match std::fs::read_dir(&dir) {
                    Ok(entries) => {
                        let mut items: Vec<(bool, String, std::fs::Metadata)> = entries
                            .flatten()
                            .filter_map(|e| {
                                Some((
                                    e.metadata().ok()?.is_dir(),
                                    e.file_name().to_string_lossy().into_owned(),
                                    e.metadata().ok()?,
                                ))
                            })
                            .filter(|(_, n, _)| named.contains_key("Force") || !n.starts_with('.'))
                            .collect();
                        items.sort_by(|a, b| {
                            b.0.cmp(&a.0)
                                .then(a.1.to_lowercase().cmp(&b.1.to_lowercase()))
                        });
                        let parent = display_path(&dir);
                        let names_only = named.contains_key("Name");
                        let out = items
                            .into_iter()
                            .map(|(is_dir, name, meta)| {
                                if names_only {
                                    Value::str(name)
                                } else {
                                    file_object(&parent, is_dir, &name, &meta)
                                }
                            })
                            .collect();
                        self.output(sink, out);
                    }
                    Err(_) => {
                        let t = target.unwrap_or_default();
                        let mut e = error(
                            format!("Cannot find path '{}' because it does not exist.", t),
                            "PathNotFound,Microsoft.PowerShell.Commands.GetChildItemCommand",
                            13,
                            "System.Management.Automation.ItemNotFoundException",
                            Some("Get-ChildItem"),
                        );
                        e.reason = Some("ItemNotFoundException".into());
                        e.target_name = Some(t);
                        self.write_error(e, sink);
                    }
                }
            }
            "Get-History" => {
                let count = p!("Count")
                    .and_then(|v| to_i64(&v))
                    .map(|n| n.max(0) as usize)
                    .unwrap_or(usize::MAX);
                let skip = self.rs.history.len().saturating_sub(count);
                let items = self
                    .rs
                    .history
                    .iter()
                    .enumerate()
                    .skip(skip)
                    .map(|(i, line)| {
                        Object::new()
                            .with_types(&[
                                "Microsoft.PowerShell.Commands.HistoryInfo",
                                "System.Object",
                            ])
                            .with_to_string(line.clone())
                            .with_prop("Id", Value::I64(i as i64 + 1))
                            .with_prop("CommandLine", Value::str(line.clone()))
                            .into_value()
                    })
                    .collect();
                self.output(sink, items);
            }
            "Clear-Host" => {
                // As Windows PowerShell 5.1's Clear-Host function does it: the whole buffer
                // (a rectangle of -1) filled with blanks, then the cursor home.
                if self.io.has_host_ui() {
                    let rect = Object::new()
                        .with_ms("left", Value::I32(-1))
                        .with_ms("top", Value::I32(-1))
                        .with_ms("right", Value::I32(-1))
                        .with_ms("bottom", Value::I32(-1))
                        .into_value();
                    let cell = Object::new()
                        .with_ms("character", Value::Char(u16::from(b' ')))
                        .with_ms("foregroundColor", Value::I32(7))
                        .with_ms("backgroundColor", Value::I32(0))
                        .with_ms("bufferCellType", Value::I32(0))
                        .into_value();
                    let home = Object::new()
                        .with_ms("x", Value::I32(0))
                        .with_ms("y", Value::I32(0))
                        .into_value();
                    let set_buffer = HostMethodId::from_name("SetBufferContents1")
                        .expect("a RemoteHostMethodId name");
                    let set_cursor = HostMethodId::from_name("SetCursorPosition")
                        .expect("a RemoteHostMethodId name");
                    self.io.host_call(set_buffer, vec![rect, cell], true).await;
                    self.io.host_call(set_cursor, vec![home], true).await;
                }
            }
            "Get-Date" => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let v = Value::DateTime(iso_time(now.as_secs() as i64, now.subsec_micros()));
                let v = match named.get("Format") {
                    Some(f) if f.display() == "o" => v,
                    _ => v,
                };
                self.output(sink, vec![v]);
            }
            "Out-Default" => {
                let mut lines = Vec::new();
                for v in &input {
                    if let Some(e) = error_of(v) {
                        self.write_lines(format_values(&std::mem::take(&mut lines)))
                            .await;
                        if self.io.has_host_ui() {
                            self.io
                                .host_call(
                                    HostMethodId::WRITE_ERROR_LINE,
                                    vec![Value::str(e.console_text())],
                                    true,
                                )
                                .await;
                        } else {
                            self.io.emit(MessageType::ERROR_RECORD, v);
                        }
                    } else {
                        lines.push(v.clone());
                    }
                }
                self.write_lines(format_values(&lines)).await;
            }
            "Out-String" => {
                let lines: Vec<String> = input
                    .iter()
                    .flat_map(|v| match error_of(v) {
                        Some(e) => e.console_text().lines().map(str::to_string).collect(),
                        None => Vec::new(),
                    })
                    .collect();
                let mut lines = if lines.is_empty() {
                    format_values(&input)
                } else {
                    lines
                };
                if named.contains_key("Stream") {
                    self.output(sink, lines.drain(..).map(Value::str).collect());
                } else {
                    let mut text = lines.join("\r\n");
                    text.push_str("\r\n");
                    self.output(sink, vec![Value::str(text)]);
                }
            }
            "Out-Null" => {}
            "prompt" => {
                self.output(
                    sink,
                    vec![Value::str(format!("PS {}> ", display_path(&self.rs.cwd)))],
                );
            }
            "TabExpansion2" => {
                let line = s(p!("inputScript")).unwrap_or_default();
                let cursor = p!("cursorColumn")
                    .and_then(|v| to_i64(&v))
                    .unwrap_or(line.encode_utf16().count() as i64)
                    .max(0) as usize;
                self.output(sink, vec![complete(&line, cursor, &self.rs.cwd)]);
            }
            _ => unreachable!("every table entry is handled"),
        }
        Flow::Next
    }

    /// Out-Default's writes: WriteLine host calls, or output strings with no host.
    async fn write_lines(&self, lines: Vec<String>) {
        for l in lines {
            if self.io.has_host_ui() {
                self.io
                    .host_call(HostMethodId::WRITE_LINE2, vec![Value::str(l)], true)
                    .await;
            } else {
                self.io.emit(MessageType::PIPELINE_OUTPUT, &Value::str(l));
            }
        }
    }

    fn information(&self, data: Value, tags: Vec<String>, source: &str) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let record = InformationRecord {
            message_data: data,
            source: Some(source.into()),
            time_generated: Some(iso_time(now.as_secs() as i64, now.subsec_micros())),
            tags,
            user: Some(self.rs.user.clone()),
            computer: Some("SIMULATOR".into()),
        };
        self.io
            .emit(MessageType::INFORMATION_RECORD, &record.to_value());
    }

    /// Runs an unknown command through bash: stdout lines are output strings, stderr lines
    /// error records, the exit code `$LASTEXITCODE`.
    async fn external(
        &mut self,
        name: &str,
        text: &str,
        input: Vec<Value>,
        sink: &mut Sink,
    ) -> Flow {
        let mut command = tokio::process::Command::new("bash");
        command
            .arg("-c")
            .arg(text)
            .current_dir(&self.rs.cwd)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(_) => {
                self.write_error(not_recognized(name), sink);
                return Flow::Next;
            }
        };
        let pgid = child.id().map(|p| p as i32);
        if let Some(mut stdin) = child.stdin.take() {
            let text: String = format_values(&input)
                .iter()
                .map(|l| format!("{l}\n"))
                .collect();
            tokio::spawn(async move {
                let _ = stdin.write_all(text.as_bytes()).await;
            });
        }
        let mut out = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
        let mut err = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
        let mut stop = self.stop.clone();
        let (mut out_open, mut err_open) = (true, true);
        let mut stopped = false;
        while out_open || err_open {
            let mut wrote = false;
            tokio::select! {
                l = out.next_line(), if out_open => match l {
                    Ok(Some(l)) => {
                        self.output(sink, vec![Value::str(l)]);
                        wrote = true;
                    }
                    _ => out_open = false,
                },
                l = err.next_line(), if err_open => match l {
                    Ok(Some(l)) => {
                        let mut e = error(l, "NativeCommandError", 0, "System.Management.Automation.RemoteException", Some(name));
                        e.reason = Some("RemoteException".into());
                        e.target_name = Some(name.to_string());
                        self.write_error(e, sink);
                    }
                    _ => err_open = false,
                },
                _ = stop.wait_for(|s| *s), if !stopped => {
                    stopped = true;
                    if let Some(pg) = pgid {
                        // SAFETY: kill(2) on the process group this pipeline started.
                        unsafe { libc::kill(-pg, libc::SIGKILL) };
                    }
                }
            }
            if wrote {
                self.io.wait_room().await;
            }
        }
        let code = child.wait().await.ok().and_then(|s| s.code()).unwrap_or(-1);
        if stopped {
            return Flow::Stopped;
        }
        self.rs.last_exit_code = Some(code);
        if code != 0 {
            self.had_errors = true;
        }
        Flow::Next
    }
}

fn pos_rest(pos: &mut impl Iterator<Item = Value>) -> impl Iterator<Item = Value> + '_ {
    pos
}

fn error_of(v: &Value) -> Option<ErrorRecord> {
    v.as_object()
        .filter(|o| o.is_type("System.Management.Automation.ErrorRecord"))
        .and_then(|_| ErrorRecord::from_value(v).ok())
}

fn enumerate(v: Value) -> Vec<Value> {
    match v
        .as_object()
        .and_then(|o| o.collection.as_ref())
        .and_then(Collection::items)
    {
        Some(items)
            if !matches!(
                v.as_object().and_then(|o| o.collection.as_ref()),
                Some(Collection::Dictionary(_))
            ) =>
        {
            items.to_vec()
        }
        _ => vec![v],
    }
}

fn to_i64(v: &Value) -> Option<i64> {
    v.as_i64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn to_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Double(d) => Some(*d),
        _ => to_i64(v)
            .map(|n| n as f64)
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok())),
    }
}

const COLORS: [&str; 16] = [
    "Black",
    "DarkBlue",
    "DarkGreen",
    "DarkCyan",
    "DarkRed",
    "DarkMagenta",
    "DarkYellow",
    "Gray",
    "DarkGray",
    "Blue",
    "Green",
    "Cyan",
    "Red",
    "Magenta",
    "Yellow",
    "White",
];

fn color(name: &str) -> Option<i32> {
    COLORS
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| i as i32)
}

fn console_color(i: i32) -> Value {
    enum_value("System.ConsoleColor", COLORS[i.clamp(0, 15) as usize], i)
}

fn enum_value(t: &str, s: &str, v: i32) -> Value {
    clixml::enum_value(t, s, v)
}

/// The Windows-looking form of a path of this machine (`C:\Users\x` for the home directory).
pub(crate) fn display_path(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

/// A path as typed (with `\` separators) for this machine.
fn host_path(p: &str) -> PathBuf {
    PathBuf::from(p.replace('\\', "/"))
}

fn civil(days: i64) -> (i64, u32, u32) {
    // Howard Hinnant's days-from-civil inverse.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn iso_time(secs: i64, micros: u32) -> String {
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let t = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+00:00",
        t / 3600,
        t / 60 % 60,
        t % 60
    )
}

/// `M/D/YYYY h:mm AM` from ISO text.
fn short_date(iso: &str) -> Option<(String, String, String)> {
    let y: i64 = iso.get(0..4)?.parse().ok()?;
    let m: u32 = iso.get(5..7)?.parse().ok()?;
    let d: u32 = iso.get(8..10)?.parse().ok()?;
    let h: u32 = iso.get(11..13)?.parse().ok()?;
    let min: u32 = iso.get(14..16)?.parse().ok()?;
    let sec: u32 = iso.get(17..19)?.parse().ok()?;
    let (h12, ampm) = match h {
        0 => (12, "AM"),
        1..=11 => (h, "AM"),
        12 => (12, "PM"),
        _ => (h - 12, "PM"),
    };
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    const DAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    // Day of week from days since 1970-01-01 (a Thursday).
    let days = days_from_civil(y, m, d);
    let long = format!(
        "{}, {} {d}, {y} {h12}:{min:02}:{sec:02} {ampm}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(m as usize).saturating_sub(1).min(11)]
    );
    Some((
        format!("{m}/{d}/{y}"),
        format!("{h12}:{min:02} {ampm}"),
        long,
    ))
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 } as i64;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn file_object(parent: &str, is_dir: bool, name: &str, meta: &std::fs::Metadata) -> Value {
    use std::os::unix::fs::MetadataExt;
    let mode = if is_dir { "d-----" } else { "-a----" };
    let t = iso_time(meta.mtime(), 0);
    let full = format!("{}/{name}", parent.trim_end_matches('/'));
    let mut o = Object::new()
        .with_types(&[
            if is_dir {
                "System.IO.DirectoryInfo"
            } else {
                "System.IO.FileInfo"
            },
            "System.IO.FileSystemInfo",
            "System.Object",
        ])
        .with_to_string(name)
        .with_ms(
            "PSParentPath",
            Value::str(format!("Microsoft.PowerShell.Core\\FileSystem::{parent}")),
        )
        .with_ms("PSChildName", Value::str(name))
        .with_ms("PSIsContainer", Value::Bool(is_dir))
        .with_ms("Mode", Value::str(mode))
        .with_prop("Name", Value::str(name))
        .with_prop("FullName", Value::str(full))
        .with_prop("LastWriteTime", Value::DateTime(t));
    if !is_dir {
        o = o.with_prop("Length", Value::I64(meta.len() as i64));
    }
    o.into_value()
}

/// How Out-Default / Out-String show objects: strings as they are, file system items as
/// PowerShell's table (one block per directory), hashtables as Name/Value tables, dates in
/// the long form, errors as the console prints them, anything else by its ToString.
pub(crate) fn format_values(values: &[Value]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut i = 0;
    while i < values.len() {
        let v = &values[i];
        let obj = v.as_object();
        if obj.is_some_and(|o| o.is_type("Microsoft.PowerShell.Commands.HistoryInfo")) {
            lines.push(String::new());
            lines.push(format!("{:>4} {}", "Id", "CommandLine"));
            lines.push(format!("{:>4} {}", "--", "-----------"));
            while let Some(o) = values
                .get(i)
                .and_then(Value::as_object)
                .filter(|o| o.is_type("Microsoft.PowerShell.Commands.HistoryInfo"))
            {
                let id = o.get("Id").map(Value::display).unwrap_or_default();
                let line = o.get("CommandLine").map(Value::display).unwrap_or_default();
                lines.push(format!("{id:>4} {line}"));
                i += 1;
            }
            lines.push(String::new());
            continue;
        }
        if obj.is_some_and(|o| o.is_type("System.IO.FileSystemInfo")) {
            let parent = obj
                .and_then(|o| o.get("PSParentPath"))
                .map(Value::display)
                .unwrap_or_default();
            let dir = parent.rsplit("::").next().unwrap_or_default().to_string();
            lines.push(String::new());
            lines.push(format!("    Directory: {dir}"));
            lines.push(String::new());
            lines.push(String::new());
            lines.push(format!(
                "{:<6}{:>27}{:>15} {}",
                "Mode", "LastWriteTime", "Length", "Name"
            ));
            lines.push(format!(
                "{:<6}{:>27}{:>15} {}",
                "----", "-------------", "------", "----"
            ));
            while i < values.len() {
                let Some(o) = values[i]
                    .as_object()
                    .filter(|o| o.is_type("System.IO.FileSystemInfo"))
                else {
                    break;
                };
                if o.get("PSParentPath")
                    .map(Value::display)
                    .unwrap_or_default()
                    != parent
                {
                    break;
                }
                let (date, time, _) = o
                    .get("LastWriteTime")
                    .and_then(|t| short_date(&t.display()))
                    .unwrap_or_default();
                let len = o.get("Length").map(Value::display).unwrap_or_default();
                let mode = o.get("Mode").map(Value::display).unwrap_or_default();
                let name = o.get("Name").map(Value::display).unwrap_or_default();
                lines.push(format!(
                    "{mode:<6}{:>27}{len:>15} {name}",
                    format!("{date} {time:>8}")
                ));
                i += 1;
            }
            lines.push(String::new());
            lines.push(String::new());
            continue;
        }
        if let Some(e) = error_of(v) {
            lines.extend(e.console_text().lines().map(str::to_string));
        } else if let Some(entries) = v.entries() {
            let width = entries
                .iter()
                .map(|(k, _)| k.display().len())
                .max()
                .unwrap_or(4)
                .max(4);
            lines.push(String::new());
            lines.push(format!("{:<width$} Value", "Name"));
            lines.push(format!("{:<width$} -----", "----"));
            for (k, val) in entries {
                let shown = match val.items() {
                    Some(items) => format!(
                        "{{{}}}",
                        items
                            .iter()
                            .map(Value::display)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    None => val.display(),
                };
                lines.push(format!("{:<width$} {shown}", k.display()));
            }
            lines.push(String::new());
            lines.push(String::new());
        } else if let Value::DateTime(t) = v {
            let long = short_date(t).map(|d| d.2).unwrap_or_else(|| t.clone());
            lines.push(String::new());
            lines.push(long);
            lines.push(String::new());
            lines.push(String::new());
        } else if let Some(items) = v.items() {
            lines.extend(format_values(items));
        } else if let Some(p) = obj.filter(|o| o.is_type("System.Management.Automation.PathInfo")) {
            let path = p.get("Path").map(Value::display).unwrap_or_default();
            lines.push(String::new());
            lines.push("Path".into());
            lines.push("----".into());
            lines.push(path);
            lines.push(String::new());
            lines.push(String::new());
        } else {
            lines.extend(
                v.display()
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r').to_string()),
            );
        }
        i += 1;
    }
    lines
}

/// TabExpansion2 for `line` with the cursor at UTF-16 offset `cursor`: command names (from
/// [`COMMANDS`] and their aliases), parameters of the command being typed, or paths.
pub(crate) fn complete(line: &str, cursor: usize, cwd: &std::path::Path) -> Value {
    let chars = psrp::console::char_index(line, cursor);
    let before: String = line.chars().take(chars).collect();
    let start_char = before
        .rfind([' ', '|', ';', '('])
        .map(|i| before[..=i].chars().count())
        .unwrap_or(0);
    let word: String = before.chars().skip(start_char).collect();
    let head = before[..before
        .char_indices()
        .nth(start_char)
        .map(|c| c.0)
        .unwrap_or(before.len())]
        .to_string();
    let segment = head.rsplit(['|', ';']).next().unwrap_or_default();
    let first_word = segment.split_whitespace().next();
    let mut matches: Vec<(String, String, i32, String)> = Vec::new();
    let lower = word.to_ascii_lowercase();
    if let Some(p) = word.strip_prefix('-') {
        if let Some(cmd) = first_word.and_then(resolve) {
            let params = COMMANDS
                .iter()
                .find(|c| c.0 == cmd)
                .map(|c| c.2)
                .unwrap_or(&[]);
            for name in params.iter().chain(["Verbose", "Debug"].iter()) {
                if name
                    .to_ascii_lowercase()
                    .starts_with(&p.to_ascii_lowercase())
                {
                    matches.push((format!("-{name}"), name.to_string(), 7, format!("[{name}]")));
                }
            }
        }
    } else if first_word.is_none() {
        for (name, aliases, _) in COMMANDS {
            if name.to_ascii_lowercase().starts_with(&lower) && !lower.is_empty() {
                matches.push((name.to_string(), name.to_string(), 2, name.to_string()));
            }
            for a in aliases.iter() {
                if a.starts_with(&lower) && !lower.is_empty() {
                    matches.push((a.to_string(), a.to_string(), 2, name.to_string()));
                }
            }
        }
        matches.sort_by_key(|m| m.0.to_ascii_lowercase());
    }
    if matches.is_empty() && !word.starts_with('-') {
        let typed = word.trim_matches(['\'', '"']).replace('\\', "/");
        let (dir_part, prefix) = match typed.rfind('/') {
            Some(i) => (typed[..=i].to_string(), typed[i + 1..].to_string()),
            None => (String::new(), typed.clone()),
        };
        if let Ok(entries) =
            std::fs::read_dir(cwd.join(if dir_part.is_empty() { "." } else { &dir_part }))
        {
            let mut found: Vec<(bool, String)> = entries
                .flatten()
                .map(|e| {
                    (
                        e.path().is_dir(),
                        e.file_name().to_string_lossy().into_owned(),
                    )
                })
                .filter(|(_, n)| {
                    n.to_lowercase().starts_with(&prefix.to_lowercase())
                        && (!n.starts_with('.') || prefix.starts_with('.'))
                })
                .collect();
            found.sort_by_key(|f| f.1.to_lowercase());
            for (is_dir, name) in found {
                let mut text = format!(
                    "{}{}",
                    if dir_part.is_empty() {
                        ".\\".to_string()
                    } else {
                        dir_part.replace('/', "\\")
                    },
                    name
                );
                if text.contains(' ') {
                    text = format!("'{text}'");
                }
                matches.push((
                    text,
                    name.clone(),
                    if is_dir { 4 } else { 3 },
                    cwd.join(&dir_part)
                        .join(&name)
                        .to_string_lossy()
                        .into_owned(),
                ));
            }
        }
    }
    let index = psrp::console::utf16_offset(line, start_char);
    let length = word.encode_utf16().count();
    let results: Vec<Value> = matches
        .into_iter()
        .map(|(c, l, t, tip)| {
            Object::new()
                .with_types(&[
                    "System.Management.Automation.CompletionResult",
                    "System.Object",
                ])
                .with_to_string(c.clone())
                .with_prop("CompletionText", Value::str(c))
                .with_prop("ListItemText", Value::str(l))
                .with_prop(
                    "ResultType",
                    enum_value(
                        "System.Management.Automation.CompletionResultType",
                        "Text",
                        t,
                    ),
                )
                .with_prop("ToolTip", Value::str(tip))
                .into_value()
        })
        .collect();
    Object::new()
        .with_types(&["System.Management.Automation.CommandCompletion", "System.Object"])
        .with_to_string("System.Management.Automation.CommandCompletion")
        .with_prop("CurrentMatchIndex", Value::I32(-1))
        .with_prop("ReplacementIndex", Value::I32(index as i32))
        .with_prop("ReplacementLength", Value::I32(length as i32))
        .with_prop(
            "CompletionMatches",
            clixml::list_value(&["System.Collections.ObjectModel.Collection`1[[System.Management.Automation.CompletionResult, System.Management.Automation, Version=3.0.0.0, Culture=neutral, PublicKeyToken=31bf3856ad364e35]]", "System.Object"], results),
        )
        .into_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_of_commands_parameters_and_paths() {
        let dir = std::env::temp_dir();
        let c =
            psrp::console::CommandCompletion::from_value(&complete("Get-Chi", 7, &dir)).unwrap();
        assert_eq!(c.matches[0].completion_text, "Get-ChildItem");
        assert_eq!((c.replacement_index, c.replacement_length), (0, 7));
        let c = psrp::console::CommandCompletion::from_value(&complete("Read-Host -As", 13, &dir))
            .unwrap();
        assert_eq!(c.matches[0].completion_text, "-AsSecureString");
        assert_eq!(c.replacement_index, 10);
    }

    #[test]
    fn dates_and_tables() {
        assert_eq!(iso_time(0, 0), "1970-01-01T00:00:00.000000+00:00");
        let (d, t, long) = short_date("2026-11-29T13:05:09.000000+00:00").unwrap();
        assert_eq!((d.as_str(), t.as_str()), ("11/29/2026", "1:05 PM"));
        assert_eq!(long, "Sunday, November 29, 2026 1:05:09 PM");
        let lines = format_values(&[ps_version_table()]);
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("PSVersion ") && l.ends_with("5.1.17763.1007")),
            "{lines:?}"
        );
    }
}

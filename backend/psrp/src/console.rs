//! What an interactive console host (Enter-PSSession in a browser terminal) builds and reads,
//! as plain functions: the pipeline for a typed line, the prompt, tab completion, incomplete
//! input, and the ANSI rendering of write host calls (PSRP.md section 7).
//!
//! Marked **(console convention)** where the choice is the PowerShell console's, not the
//! protocol's.

use crate::clixml::Value;
use crate::host::{HostRequest, WriteText};
use crate::messages::{Command, CreatePipeline};
use crate::records::{ErrorRecord, HostInfo};

/// PipelineResultTypes Output|Error: what Out-Default takes from the commands before it.
const OUTPUT_AND_ERROR: i32 = 3;

/// The pipeline for one typed line (or a block of lines joined with `\n`): the line as a
/// script with its errors merged into its output, then `Out-Default` so the server formats
/// everything for the host described in `host` (send the current terminal size). Added to
/// history with the line as its text. `protocol` is the server's version: Merge fields it does
/// not know are not sent.
pub fn line_pipeline(line: &str, host: HostInfo, protocol: (u32, u32)) -> CreatePipeline {
    let mut script = Command::script(line);
    script.merge_my = 2;
    script.merge_to = 1;
    if protocol >= (2, 2) {
        script.merge_streams[0] = 1;
    }
    let mut out_default = Command::cmdlet("Out-Default");
    out_default.use_local_scope = Some(true);
    out_default.merge_previous = OUTPUT_AND_ERROR;
    let mut p = CreatePipeline::new(vec![script, out_default], host);
    p.add_to_history = true;
    p.history = Some(line.to_string());
    p
}

/// The pipeline a console runs for its prompt: the command `prompt`, not in history, no
/// Out-Default; print the first output object's string (or `PS>` when it fails or returns
/// nothing, **console convention**).
pub fn prompt_pipeline(host: HostInfo) -> CreatePipeline {
    let mut p = CreatePipeline::new(vec![Command::cmdlet("prompt")], host);
    p.add_to_history = false;
    p
}

/// The pipeline for tab completion: `TabExpansion2 <line> <cursor> $null` (positional), not
/// in history. `cursor` is a UTF-16 offset into `line` ([`utf16_offset`] converts from a char
/// index). The answer is one [`CommandCompletion`] object. Not on protocol 2.1 servers
/// (PowerShell 2.0 has no TabExpansion2).
pub fn completion_pipeline(line: &str, cursor: usize, host: HostInfo) -> CreatePipeline {
    let cmd = Command::cmdlet("TabExpansion2")
        .positional(Value::str(line))
        .positional(Value::I32(i32::try_from(cursor).unwrap_or(i32::MAX)))
        .positional(Value::Nil);
    let mut p = CreatePipeline::new(vec![cmd], host);
    p.add_to_history = false;
    p
}

/// The UTF-16 offset of char index `chars` in `s` (characters outside the BMP count two).
pub fn utf16_offset(s: &str, chars: usize) -> usize {
    s.chars().take(chars).map(char::len_utf16).sum()
}

/// The char index of UTF-16 offset `units` in `s` (rounded down inside a surrogate pair).
pub fn char_index(s: &str, units: usize) -> usize {
    let mut n = 0;
    let mut count = 0;
    for c in s.chars() {
        if n + c.len_utf16() > units {
            break;
        }
        n += c.len_utf16();
        count += 1;
    }
    count
}

/// One match of a completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionResult {
    /// What replaces the completed text.
    pub completion_text: String,
    /// What a menu shows.
    pub list_item_text: String,
    /// CompletionResultType: 0 Text, 1 History, 2 Command, 3 ProviderItem,
    /// 4 ProviderContainer, 5 Property, 6 Method, 7 ParameterName, 8 ParameterValue,
    /// 9 Variable, 10 Namespace, 11 Type, 12 Keyword, 13 DynamicKeyword.
    pub result_type: i32,
    /// Detail (a command's syntax, an item's path).
    pub tool_tip: String,
}

/// The answer of TabExpansion2 (System.Management.Automation.CommandCompletion).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandCompletion {
    /// UTF-16 offset in the line where the replacement starts.
    pub replacement_index: usize,
    /// UTF-16 units replaced.
    pub replacement_length: usize,
    /// The matches, best first.
    pub matches: Vec<CompletionResult>,
}

impl CommandCompletion {
    /// Reads the output object; None if it is not a CommandCompletion.
    pub fn from_value(v: &Value) -> Option<CommandCompletion> {
        let idx = |n: &str| {
            v.get(n)
                .and_then(Value::as_i64)
                .and_then(|x| usize::try_from(x).ok())
        };
        let matches = v
            .get("CompletionMatches")
            .and_then(Value::items)
            .unwrap_or_default()
            .iter()
            .map(|m| {
                let s = |n: &str| m.get(n).map(Value::display).unwrap_or_default();
                CompletionResult {
                    completion_text: s("CompletionText"),
                    list_item_text: s("ListItemText"),
                    result_type: m.get("ResultType").and_then(Value::as_i32).unwrap_or(0),
                    tool_tip: s("ToolTip"),
                }
            })
            .collect();
        Some(CommandCompletion {
            replacement_index: idx("ReplacementIndex")?,
            replacement_length: idx("ReplacementLength")?,
            matches,
        })
    }

    /// The line with match `i` applied, and the cursor (a char index) after it. None if `i`
    /// is out of range or the indexes do not fit the line.
    pub fn apply(&self, line: &str, i: usize) -> Option<(String, usize)> {
        let m = self.matches.get(i)?;
        let units: Vec<u16> = line.encode_utf16().collect();
        let end = self
            .replacement_index
            .checked_add(self.replacement_length)?;
        if end > units.len() {
            return None;
        }
        let before = String::from_utf16(&units[..self.replacement_index]).ok()?;
        let after = String::from_utf16(&units[end..]).ok()?;
        let cursor = before.chars().count() + m.completion_text.chars().count();
        Some((format!("{before}{}{after}", m.completion_text), cursor))
    }
}

/// True if a failed pipeline failed only because the input is unfinished (an open brace,
/// quote or trailing pipe): the console then reads more lines with the `>> ` prompt and
/// sends the whole block (**console convention**).
pub fn is_incomplete_input(error: &ErrorRecord) -> bool {
    error.reason.as_deref() == Some("IncompleteParseException")
        || error
            .exception_type
            .as_deref()
            .is_some_and(|t| t.ends_with("IncompleteParseException"))
}

/// The ANSI SGR code of a ConsoleColor as a foreground (`+10` for background).
pub fn ansi_color(console_color: i32) -> Option<u8> {
    // ConsoleColor: Black, DarkBlue, DarkGreen, DarkCyan, DarkRed, DarkMagenta, DarkYellow,
    // Gray, DarkGray, Blue, Green, Cyan, Red, Magenta, Yellow, White.
    const SGR: [u8; 16] = [
        30, 34, 32, 36, 31, 35, 33, 37, 90, 94, 92, 96, 91, 95, 93, 97,
    ];
    usize::try_from(console_color)
        .ok()
        .and_then(|i| SGR.get(i))
        .copied()
}

/// Terminal bytes for a write host call, as the console shows it (**console
/// convention**): text with CR LF line ends, colours of Write2/WriteLine3 as ANSI, errors in
/// red, `WARNING: ` / `VERBOSE: ` / `DEBUG: ` prefixes in yellow.
pub fn render_write(method_name: &str, w: &WriteText) -> String {
    let (prefix, fg) = match method_name {
        "WriteErrorLine" => ("", Some(12)),
        "WriteWarningLine" => ("WARNING: ", Some(14)),
        "WriteVerboseLine" => ("VERBOSE: ", Some(14)),
        "WriteDebugLine" => ("DEBUG: ", Some(14)),
        _ => ("", w.foreground),
    };
    let mut sgr: Vec<String> = Vec::new();
    if let Some(c) = fg.and_then(ansi_color) {
        sgr.push(c.to_string());
    }
    if let Some(c) = w.background.and_then(ansi_color) {
        sgr.push((c + 10).to_string());
    }
    let text = format!("{prefix}{}", w.text)
        .replace("\r\n", "\n")
        .replace('\n', "\r\n");
    let mut out = String::new();
    if sgr.is_empty() {
        out.push_str(&text);
    } else {
        out.push_str(&format!("\x1b[{}m{text}\x1b[0m", sgr.join(";")));
    }
    if w.newline {
        out.push_str("\r\n");
    }
    out
}

/// [`render_write`] for a host request, if it is a write.
pub fn render_request(method_name: &str, r: &HostRequest) -> Option<String> {
    match r {
        HostRequest::Write(w) => Some(render_write(method_name, w)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clixml::{self, enum_value, list_value, Object};
    use crate::messages::Data;

    #[test]
    fn a_line_runs_with_out_default_and_merged_errors() {
        let p = line_pipeline("Get-Date", HostInfo::console(100, 30), (2, 3));
        let v = p.to_value((2, 3));
        let back = CreatePipeline::from_value(&v).unwrap();
        let cmds = &back.statements[0];
        assert_eq!(cmds.len(), 2);
        assert!(cmds[0].is_script);
        assert_eq!(
            (cmds[0].merge_my, cmds[0].merge_to, cmds[0].merge_streams[0]),
            (2, 1, 1)
        );
        assert_eq!(cmds[1].cmd, "Out-Default");
        assert!(!cmds[1].is_script);
        assert_eq!(cmds[1].use_local_scope, Some(true));
        assert_eq!(cmds[1].merge_previous, 3);
        assert_eq!(back.history.as_deref(), Some("Get-Date"));
        assert!(back.add_to_history);
        // The HostInfo carries the terminal size.
        let d = back.host_info.default_data.unwrap();
        assert_eq!(
            (
                d.window_size.width,
                d.window_size.height,
                d.buffer_size.width
            ),
            (100, 30, 100)
        );
        // A 2.1 server gets no MergeError field at all.
        let old = line_pipeline("x", HostInfo::null(), (2, 1)).to_value((2, 1));
        assert!(!clixml::write(&old).contains("MergeError"));
    }

    #[test]
    fn prompt_and_completion_pipelines() {
        let p = prompt_pipeline(HostInfo::console(80, 24));
        assert_eq!(p.statements[0][0].cmd, "prompt");
        assert!(!p.add_to_history);
        let c = completion_pipeline("Get-Chi", 7, HostInfo::null());
        let cmd = &c.statements[0][0];
        assert_eq!(cmd.cmd, "TabExpansion2");
        assert!(cmd.args.iter().all(|a| a.name.is_none()));
        assert_eq!(
            cmd.args.iter().map(|a| a.value.clone()).collect::<Vec<_>>(),
            vec![Value::str("Get-Chi"), Value::I32(7), Value::Nil]
        );
        // Through the message codec and back.
        let data = crate::messages::encode(
            crate::message::MessageType::CREATE_PIPELINE,
            &Data::CreatePipeline(Box::new(c.clone())),
            (2, 3),
        );
        let Data::CreatePipeline(again) =
            crate::messages::decode(crate::message::MessageType::CREATE_PIPELINE, &data).unwrap()
        else {
            panic!()
        };
        assert_eq!(again.statements, c.statements);
    }

    fn completion(index: i32, length: i32, texts: &[&str]) -> Value {
        let matches = texts
            .iter()
            .map(|t| {
                Object::new()
                    .with_types(&[
                        "System.Management.Automation.CompletionResult",
                        "System.Object",
                    ])
                    .with_to_string(*t)
                    .with_prop("CompletionText", Value::str(*t))
                    .with_prop("ListItemText", Value::str(*t))
                    .with_prop(
                        "ResultType",
                        enum_value(
                            "System.Management.Automation.CompletionResultType",
                            "Command",
                            2,
                        ),
                    )
                    .with_prop("ToolTip", Value::str(format!("{t} [[-Path] <string[]>]")))
                    .into_value()
            })
            .collect();
        Object::new()
            .with_types(&[
                "System.Management.Automation.CommandCompletion",
                "System.Object",
            ])
            .with_prop("CurrentMatchIndex", Value::I32(-1))
            .with_prop("ReplacementIndex", Value::I32(index))
            .with_prop("ReplacementLength", Value::I32(length))
            .with_prop("CompletionMatches", list_value(&[], matches))
            .into_value()
    }

    #[test]
    fn completions_apply_with_utf16_indexes() {
        let v = completion(0, 7, &["Get-ChildItem", "Get-Children"]);
        let v = clixml::parse(clixml::write(&v).as_bytes()).unwrap();
        let c = CommandCompletion::from_value(&v).unwrap();
        assert_eq!(c.matches.len(), 2);
        assert_eq!(c.matches[0].result_type, 2);
        assert_eq!(
            c.apply("Get-Chi", 0),
            Some(("Get-ChildItem".to_string(), 13))
        );
        assert_eq!(c.apply("Get-Chi", 1).unwrap().0, "Get-Children");
        assert_eq!(c.apply("Get-Chi", 2), None);
        // "😀 Get-Chi": the emoji is two UTF-16 units; the replacement starts at unit 3.
        let line = "\u{1F600} Get-Chi | x";
        assert_eq!(utf16_offset(line, 2), 3);
        assert_eq!(char_index(line, 3), 2);
        assert_eq!(
            char_index(line, 1),
            0,
            "inside the surrogate pair rounds down"
        );
        let c = CommandCompletion::from_value(&completion(3, 7, &["Get-ChildItem"])).unwrap();
        assert_eq!(
            c.apply(line, 0),
            Some(("\u{1F600} Get-ChildItem | x".to_string(), 15))
        );
        // Indexes past the line are refused, not a panic.
        let c = CommandCompletion::from_value(&completion(30, 7, &["x"])).unwrap();
        assert_eq!(c.apply(line, 0), None);
        assert_eq!(CommandCompletion::from_value(&Value::str("nope")), None);
    }

    #[test]
    fn incomplete_input_is_recognised() {
        let e = ErrorRecord {
            reason: Some("IncompleteParseException".into()),
            ..ErrorRecord::default()
        };
        assert!(is_incomplete_input(&e));
        let e = ErrorRecord {
            reason: Some("ParseException".into()),
            exception_type: Some("System.Management.Automation.ParseException".into()),
            ..ErrorRecord::default()
        };
        assert!(!is_incomplete_input(&e));
    }

    #[test]
    fn writes_render_as_the_console_shows_them() {
        let w = |text: &str, fg, bg, newline| WriteText {
            text: text.into(),
            foreground: fg,
            background: bg,
            newline,
        };
        assert_eq!(
            render_write("WriteLine2", &w("a\nb", None, None, true)),
            "a\r\nb\r\n"
        );
        assert_eq!(
            render_write("WriteLine3", &w("hi", Some(10), Some(4), true)),
            "\x1b[92;41mhi\x1b[0m\r\n"
        );
        assert_eq!(render_write("Write1", &w("x", None, None, false)), "x");
        assert_eq!(
            render_write("WriteWarningLine", &w("careful", None, None, true)),
            "\x1b[93mWARNING: careful\x1b[0m\r\n"
        );
        assert_eq!(
            render_write("WriteErrorLine", &w("bad", None, None, true)),
            "\x1b[91mbad\x1b[0m\r\n"
        );
        assert_eq!(ansi_color(16), None);
        assert_eq!(ansi_color(-1), None);
    }
}

//! The small PowerShell syntax the simulator understands: statements separated by `;` or
//! newlines, pipelines of commands separated by `|`, `'literal'` and `"expandable"` strings,
//! `$variables`, numbers, `A..B` ranges, `-Name value` parameters, `$x = ...` assignments,
//! `function NAME { BODY }` and `exit N`. Unfinished input (an open brace or quote, a
//! trailing pipe) is an *incomplete* parse error, which a console answers with `>> `. Anything else in a command's words is kept as text, so unknown commands can run
//! through bash with their original text.

/// A value written in the script.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    /// `'literal'` or a bare word.
    Str(String),
    /// `"expandable $var"`.
    Expand(String),
    /// `$name`.
    Var(String),
    /// An integer.
    Num(i64),
    /// `A..B`.
    Range(i64, i64),
}

/// One argument of a command: `-Name value`, `-Switch`, or a positional value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Arg {
    pub name: Option<String>,
    pub value: Option<Expr>,
}

/// One command of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Cmd {
    /// A command name with arguments; `text` is its source (for bash).
    Call {
        name: String,
        args: Vec<Arg>,
        text: String,
    },
    /// An expression at the head of a pipeline (`'x' | ...`, `$PSVersionTable`, `1..3`).
    Value(Expr),
}

/// One statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Statement {
    Pipeline(Vec<Cmd>),
    Assign(String, Vec<Cmd>),
    Exit(Option<Expr>),
    /// `function NAME { BODY }`: the body's source text.
    Function(String, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Lit(String),
    Expand(String),
    Var(String),
    Param(String),
    Pipe,
    Sep,
    Assign,
    Open,
    Close,
}

/// Parameters that take no value.
const SWITCHES: &[&str] = &[
    "assecurestring",
    "nonewline",
    "completed",
    "recurse",
    "force",
    "stream",
    "verbose",
    "debug",
];

/// Why a script could not be parsed (the text PowerShell would say, roughly).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ParseError(pub String, pub Incomplete);

/// Whether more input could complete the script (PowerShell's IncompleteParseException).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Incomplete {
    No,
    Yes,
}

fn incomplete(message: &str) -> ParseError {
    ParseError(message.into(), Incomplete::Yes)
}

fn invalid(message: impl Into<String>) -> ParseError {
    ParseError(message.into(), Incomplete::No)
}

fn tokenize(src: &str) -> Result<Vec<(Tok, usize, usize)>, ParseError> {
    let chars: Vec<(usize, char)> = src.char_indices().collect();
    let at = |i: usize| chars.get(i).map(|c| c.1);
    let pos = |i: usize| chars.get(i).map(|c| c.0).unwrap_or(src.len());
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(c) = at(i) {
        let start = pos(i);
        match c {
            ' ' | '\t' | '\r' => i += 1,
            '\n' | ';' => {
                out.push((Tok::Sep, start, start + 1));
                i += 1;
            }
            '#' => {
                while at(i).is_some_and(|c| c != '\n') {
                    i += 1;
                }
            }
            '|' => {
                out.push((Tok::Pipe, start, start + 1));
                i += 1;
            }
            '=' => {
                out.push((Tok::Assign, start, start + 1));
                i += 1;
            }
            '{' => {
                out.push((Tok::Open, start, start + 1));
                i += 1;
            }
            '}' => {
                out.push((Tok::Close, start, start + 1));
                i += 1;
            }
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => return Err(incomplete("The string is missing the terminator: '.")),
                        Some('\'') if at(i + 1) == Some('\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Lit(s), start, pos(i)));
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match at(i) {
                        None => {
                            return Err(incomplete("The string is missing the terminator: \"."))
                        }
                        Some('`') => {
                            match at(i + 1) {
                                Some('n') => s.push('\n'),
                                Some('t') => s.push('\t'),
                                Some('r') => s.push('\r'),
                                Some('$') => s.push('\u{1}'),
                                Some(c) => s.push(c),
                                None => {}
                            }
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(c);
                            i += 1;
                        }
                    }
                }
                out.push((Tok::Expand(s), start, pos(i)));
            }
            '$' => {
                let mut s = String::new();
                i += 1;
                while let Some(c) = at(i).filter(|c| c.is_alphanumeric() || *c == '_' || *c == '?')
                {
                    s.push(c);
                    i += 1;
                    if c == '?' {
                        break;
                    }
                }
                out.push((Tok::Var(s), start, pos(i)));
            }
            _ => {
                let mut s = String::new();
                while let Some(c) =
                    at(i).filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n' | ';' | '|' | '{' | '}'))
                {
                    if c == '=' && s.is_empty() {
                        break;
                    }
                    s.push(c);
                    i += 1;
                }
                let tok = if s.len() > 1
                    && s.starts_with('-')
                    && s[1..].chars().next().is_some_and(char::is_alphabetic)
                {
                    Tok::Param(s[1..].trim_end_matches(':').to_string())
                } else {
                    Tok::Word(s)
                };
                out.push((tok, start, pos(i)));
            }
        }
    }
    Ok(out)
}

fn word_expr(w: &str) -> Expr {
    if let Ok(n) = w.parse::<i64>() {
        return Expr::Num(n);
    }
    if let Some((a, b)) = w.split_once("..") {
        if let (Ok(a), Ok(b)) = (a.parse::<i64>(), b.parse::<i64>()) {
            return Expr::Range(a, b);
        }
    }
    Expr::Str(w.to_string())
}

fn tok_expr(t: &Tok) -> Option<Expr> {
    Some(match t {
        Tok::Word(w) => word_expr(w),
        Tok::Lit(s) => Expr::Str(s.clone()),
        Tok::Expand(s) => Expr::Expand(s.clone()),
        Tok::Var(v) => Expr::Var(v.clone()),
        _ => return None,
    })
}

/// A token and where it is in the source (start, end).
type Spanned = (Tok, usize, usize);

/// Statements of `toks`: split at separators outside braces; an open brace without its
/// close is incomplete input, a close without an open an error.
fn split_statements(toks: &[Spanned]) -> Result<Vec<&[Spanned]>, ParseError> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, t) in toks.iter().enumerate() {
        match t.0 {
            Tok::Open => depth += 1,
            Tok::Close => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| invalid("Unexpected token '}' in expression or statement."))?;
            }
            Tok::Sep if depth == 0 => {
                out.push(&toks[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(incomplete(
            "Missing closing '}' in statement block or type definition.",
        ));
    }
    out.push(&toks[start..]);
    Ok(out)
}

/// Parses a script into statements.
pub(crate) fn parse(src: &str) -> Result<Vec<Statement>, ParseError> {
    let toks = tokenize(src)?;
    let mut statements = Vec::new();
    for stmt in split_statements(&toks)? {
        if stmt.is_empty() {
            continue;
        }
        if stmt.last().is_some_and(|t| t.0 == Tok::Pipe) {
            return Err(incomplete("An empty pipe element is not allowed."));
        }
        if let [(Tok::Word(f), ..), (Tok::Word(name), ..), (Tok::Open, open, _), .., (Tok::Close, close, _)] =
            stmt
        {
            if f.eq_ignore_ascii_case("function") {
                statements.push(Statement::Function(
                    name.clone(),
                    src[open + 1..*close].to_string(),
                ));
                continue;
            }
        }
        if stmt.iter().any(|t| matches!(t.0, Tok::Open | Tok::Close)) {
            return Err(invalid(
                "Script blocks are not supported by this simulator except in function definitions.",
            ));
        }
        if let (Tok::Word(w), rest) = (&stmt[0].0, &stmt[1..]) {
            if w.eq_ignore_ascii_case("exit") {
                statements.push(Statement::Exit(rest.first().and_then(|t| tok_expr(&t.0))));
                continue;
            }
        }
        if let (Some((Tok::Var(v), _, _)), Some((Tok::Assign, _, _))) = (stmt.first(), stmt.get(1))
        {
            statements.push(Statement::Assign(v.clone(), pipeline(src, &stmt[2..])?));
            continue;
        }
        statements.push(Statement::Pipeline(pipeline(src, stmt)?));
    }
    Ok(statements)
}

fn pipeline(src: &str, toks: &[(Tok, usize, usize)]) -> Result<Vec<Cmd>, ParseError> {
    let mut cmds = Vec::new();
    for part in toks.split(|t| t.0 == Tok::Pipe) {
        let Some(first) = part.first() else {
            return Err(invalid("An empty pipe element is not allowed."));
        };
        let name = match &first.0 {
            Tok::Word(w) if !matches!(word_expr(w), Expr::Num(_) | Expr::Range(..)) => w.clone(),
            Tok::Lit(_) | Tok::Expand(_) | Tok::Var(_) | Tok::Word(_) if part.len() == 1 => {
                cmds.push(Cmd::Value(
                    tok_expr(&first.0).unwrap_or(Expr::Str(String::new())),
                ));
                continue;
            }
            Tok::Word(w) => w.clone(),
            _ => {
                return Err(invalid(format!(
                    "Unexpected token '{}' in expression or statement.",
                    &src[first.1..first.2]
                )))
            }
        };
        let mut args = Vec::new();
        let mut i = 1;
        while i < part.len() {
            match &part[i].0 {
                Tok::Param(p) => {
                    let switch = SWITCHES.contains(&p.to_ascii_lowercase().as_str());
                    let value = if switch {
                        None
                    } else {
                        part.get(i + 1).and_then(|t| tok_expr(&t.0))
                    };
                    if value.is_some() {
                        i += 1;
                    }
                    args.push(Arg {
                        name: Some(p.clone()),
                        value,
                    });
                }
                t => args.push(Arg {
                    name: None,
                    value: tok_expr(t),
                }),
            }
            i += 1;
        }
        let text = src[first.1..part.last().map(|t| t.2).unwrap_or(first.2)].to_string();
        cmds.push(Cmd::Call { name, args, text });
    }
    Ok(cmds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_pipes_strings_and_parameters() {
        let s = parse("Write-Output 'a b' \"c\" -NoEnumerate x | Out-String; exit 3\n$x = 1..3")
            .unwrap();
        assert_eq!(s.len(), 3);
        let Statement::Pipeline(p) = &s[0] else {
            panic!()
        };
        assert_eq!(p.len(), 2);
        let Cmd::Call { name, args, text } = &p[0] else {
            panic!()
        };
        assert_eq!(name, "Write-Output");
        assert_eq!(args[0].value, Some(Expr::Str("a b".into())));
        assert_eq!(args[1].value, Some(Expr::Expand("c".into())));
        assert_eq!(args[2].name.as_deref(), Some("NoEnumerate"));
        assert_eq!(args[2].value, Some(Expr::Str("x".into())));
        assert_eq!(text, "Write-Output 'a b' \"c\" -NoEnumerate x");
        assert_eq!(s[1], Statement::Exit(Some(Expr::Num(3))));
        assert_eq!(
            s[2],
            Statement::Assign("x".into(), vec![Cmd::Value(Expr::Range(1, 3))])
        );
    }

    #[test]
    fn switches_take_no_value_and_quotes_must_close() {
        let s = parse("Read-Host -AsSecureString -Prompt 'Pw'").unwrap();
        let Statement::Pipeline(p) = &s[0] else {
            panic!()
        };
        let Cmd::Call { args, .. } = &p[0] else {
            panic!()
        };
        assert_eq!(args[0].value, None);
        assert_eq!(args[1].value, Some(Expr::Str("Pw".into())));
        assert_eq!(parse("'open").unwrap_err().1, Incomplete::Yes);
    }

    #[test]
    fn functions_and_incomplete_input() {
        let s = parse("function Greet {\n  Write-Output \"hi $x\"; Write-Output two\n}; Greet")
            .unwrap();
        assert_eq!(s.len(), 2);
        let Statement::Function(name, body) = &s[0] else {
            panic!("{s:?}")
        };
        assert_eq!(name, "Greet");
        assert_eq!(parse(body).unwrap().len(), 2);
        for open in [
            "function f {",
            "function f {\n Write-Output 'x",
            "Get-Date |",
            "\"abc",
        ] {
            assert_eq!(parse(open).unwrap_err().1, Incomplete::Yes, "{open}");
        }
        assert_eq!(parse("}").unwrap_err().1, Incomplete::No);
        assert_eq!(parse("| x").unwrap_err().1, Incomplete::No);
    }
}

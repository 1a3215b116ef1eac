//! Writing CLIXML.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use base64::Engine as _;

use super::escape;
use super::{Collection, Object, Value};

/// Writes one value as the data of a message (RefIds start at 0).
pub fn write(v: &Value) -> String {
    let mut w = W::default();
    w.value(None, v);
    w.out
}

/// Writes one value with an `N` attribute (a property of an enclosing object).
pub fn write_named(name: &str, v: &Value) -> String {
    let mut w = W::default();
    w.value(Some(name), v);
    w.out
}

/// Writes an `<Objs>` document (the form `Export-Clixml` writes).
pub fn write_objs(values: &[Value]) -> String {
    let mut w = W::default();
    w.out.push_str(
        "<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\">",
    );
    for v in values {
        w.value(None, v);
    }
    w.out.push_str("</Objs>");
    w.out
}

#[derive(Default)]
struct W {
    out: String,
    objs: HashMap<*const Object, u32>,
    /// Keeps written objects alive so their addresses cannot be reused while writing.
    keep: Vec<Arc<Object>>,
    tns: HashMap<Arc<[String]>, u32>,
}

fn xml_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
}

fn xml_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// Text of a CLIXML string (`_x` escapes, then XML escapes).
fn encoded_text(out: &mut String, s: &str) {
    xml_text(out, &escape::encode(s));
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "INF" } else { "-INF" }.into()
    } else if v == 0.0 || (1e-5..1e15).contains(&v.abs()) {
        format!("{v}")
    } else {
        format!("{v:E}")
    }
}

impl W {
    fn start(&mut self, tag: &str, name: Option<&str>) {
        self.out.push('<');
        self.out.push_str(tag);
        if let Some(n) = name {
            self.out.push_str(" N=\"");
            xml_attr(&mut self.out, &escape::encode(n));
            self.out.push('"');
        }
    }

    fn leaf(&mut self, tag: &str, name: Option<&str>, text: &str) {
        self.start(tag, name);
        self.out.push('>');
        self.out.push_str(text);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    fn string_leaf(&mut self, tag: &str, name: Option<&str>, s: &str) {
        self.start(tag, name);
        self.out.push('>');
        encoded_text(&mut self.out, s);
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    fn value(&mut self, name: Option<&str>, v: &Value) {
        let b64 = &base64::engine::general_purpose::STANDARD;
        match v {
            Value::Nil => {
                self.start("Nil", name);
                self.out.push_str(" />");
            }
            Value::String(s) => self.string_leaf("S", name, s),
            Value::Char(c) => self.leaf("C", name, &c.to_string()),
            Value::Bool(b) => self.leaf("B", name, if *b { "true" } else { "false" }),
            Value::DateTime(s) => self.string_leaf("DT", name, s),
            Value::Duration(s) => self.string_leaf("TS", name, s),
            Value::U8(x) => self.leaf("By", name, &x.to_string()),
            Value::I8(x) => self.leaf("SB", name, &x.to_string()),
            Value::U16(x) => self.leaf("U16", name, &x.to_string()),
            Value::I16(x) => self.leaf("I16", name, &x.to_string()),
            Value::U32(x) => self.leaf("U32", name, &x.to_string()),
            Value::I32(x) => self.leaf("I32", name, &x.to_string()),
            Value::U64(x) => self.leaf("U64", name, &x.to_string()),
            Value::I64(x) => self.leaf("I64", name, &x.to_string()),
            Value::Single(x) => self.leaf("Sg", name, &float(f64::from(*x))),
            Value::Double(x) => self.leaf("Db", name, &float(*x)),
            Value::Decimal(s) => self.string_leaf("D", name, s),
            Value::Bytes(b) => self.leaf("BA", name, &b64.encode(b)),
            Value::Guid(s) => self.string_leaf("G", name, s),
            Value::Uri(s) => self.string_leaf("URI", name, s),
            Value::Version(s) => self.string_leaf("Version", name, s),
            Value::XmlDocument(s) => self.string_leaf("XD", name, s),
            Value::ScriptBlock(s) => self.string_leaf("SBK", name, s),
            Value::SecureString(b) => self.leaf("SS", name, &b64.encode(b)),
            Value::Object(o) => self.object(name, o),
        }
    }

    fn object(&mut self, name: Option<&str>, o: &Arc<Object>) {
        let ptr = Arc::as_ptr(o);
        if let Some(id) = self.objs.get(&ptr) {
            let id = *id;
            self.start("Ref", name);
            let _ = write!(self.out, " RefId=\"{id}\" />");
            return;
        }
        let id = self.objs.len() as u32;
        self.objs.insert(ptr, id);
        self.keep.push(o.clone());
        self.start("Obj", name);
        let _ = write!(self.out, " RefId=\"{id}\">");
        if let Some(tn) = &o.type_names {
            if let Some(tid) = self.tns.get(tn) {
                let _ = write!(self.out, "<TNRef RefId=\"{tid}\" />");
            } else {
                let tid = self.tns.len() as u32;
                self.tns.insert(tn.clone(), tid);
                let _ = write!(self.out, "<TN RefId=\"{tid}\">");
                for t in tn.iter() {
                    self.string_leaf("T", None, t);
                }
                self.out.push_str("</TN>");
            }
        }
        if let Some(s) = &o.to_string {
            self.string_leaf("ToString", None, s);
        }
        if let Some(v) = &o.value {
            self.value(None, v);
        }
        if let Some(c) = &o.collection {
            let (tag, items) = match c {
                Collection::List(i) => ("LST", i),
                Collection::Enumerable(i) => ("IE", i),
                Collection::Stack(i) => ("STK", i),
                Collection::Queue(i) => ("QUE", i),
                Collection::Dictionary(entries) => {
                    self.out.push_str("<DCT>");
                    for (k, v) in entries {
                        self.out.push_str("<En>");
                        self.value(Some("Key"), k);
                        self.value(Some("Value"), v);
                        self.out.push_str("</En>");
                    }
                    self.out.push_str("</DCT>");
                    ("", &Vec::new())
                }
            };
            if !tag.is_empty() {
                let _ = write!(self.out, "<{tag}>");
                for i in items {
                    self.value(None, i);
                }
                let _ = write!(self.out, "</{tag}>");
            }
        }
        for (tag, props) in [("Props", &o.adapted), ("MS", &o.extended)] {
            if props.is_empty() {
                continue;
            }
            let _ = write!(self.out, "<{tag}>");
            for (n, v) in props {
                self.value(Some(n), v);
            }
            let _ = write!(self.out, "</{tag}>");
        }
        self.out.push_str("</Obj>");
    }
}

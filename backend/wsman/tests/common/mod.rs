//! Test helpers: a structural XML comparison and the recorded fixtures.
//!
//! Two documents have the same structure when they have the same elements in the same order
//! (namespace URI + local name, prefixes ignored), the same attributes (namespace URI + local
//! name + value, in any order, namespace declarations ignored) and the same text (trimmed:
//! Windows pads fault messages with trailing spaces). The parser here is independent of the
//! crate's own so that a bug there cannot hide itself.
#![allow(dead_code)]

use std::path::PathBuf;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// One element of a document, for comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub ns: String,
    pub name: String,
    /// (namespace, local name, value), sorted.
    pub attrs: Vec<(String, String, String)>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, l, _)| n.is_empty() && l == name)
            .map(|(_, _, v)| v.as_str())
    }

    pub fn set_attr(&mut self, name: &str, value: &str) {
        for a in &mut self.attrs {
            if a.0.is_empty() && a.1 == name {
                a.2 = value.to_string();
            }
        }
    }

    /// Every descendant (and self), depth first, in document order.
    pub fn walk<'a>(&'a self, out: &mut Vec<&'a Node>) {
        out.push(self);
        for c in &self.children {
            c.walk(out);
        }
    }

    pub fn find_all(&self, ns: &str, name: &str) -> Vec<&Node> {
        let mut all = Vec::new();
        self.walk(&mut all);
        all.into_iter().filter(|n| n.is(ns, name)).collect()
    }

    pub fn find(&self, ns: &str, name: &str) -> Option<&Node> {
        self.find_all(ns, name).into_iter().next()
    }

    /// Applies `f` to self and every descendant.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(&mut Node)) {
        f(self);
        for c in &mut self.children {
            c.visit_mut(f);
        }
    }

    /// Removes every descendant element for which `drop` is true.
    pub fn remove(&mut self, drop: &dyn Fn(&Node) -> bool) {
        self.children.retain(|c| !drop(c));
        for c in &mut self.children {
            c.remove(drop);
        }
    }

    pub fn deep_text(&self) -> String {
        let mut s = self.text.clone();
        for c in &self.children {
            s.push_str(&c.deep_text());
        }
        s
    }

    /// One line per element, indented by depth: the form compared and printed on failure.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.push_lines(0, &mut out);
        out
    }

    fn push_lines(&self, depth: usize, out: &mut Vec<String>) {
        let attrs: Vec<String> = self
            .attrs
            .iter()
            .map(|(n, l, v)| {
                if n.is_empty() {
                    format!("{l}={v:?}")
                } else {
                    format!("{{{n}}}{l}={v:?}")
                }
            })
            .collect();
        out.push(format!(
            "{}{{{}}}{} [{}] {:?}",
            "  ".repeat(depth),
            self.ns,
            self.name,
            attrs.join(" "),
            self.text
        ));
        for c in &self.children {
            c.push_lines(depth + 1, out);
        }
    }
}

fn resolved(r: ResolveResult) -> String {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8(ns.as_ref().to_vec()).unwrap(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) => panic!("unknown prefix {:?}", String::from_utf8_lossy(&p)),
    }
}

/// Parses a document into a [`Node`] tree (panics on malformed input: test data only).
pub fn tree(xml: &str) -> Node {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    loop {
        let (r, ev) = reader.read_resolved_event().expect("well-formed XML");
        let ns = resolved(r);
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let mut attrs = Vec::new();
                for a in e.attributes() {
                    let a = a.unwrap();
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (an, local) = reader.resolve_attribute(a.key);
                    attrs.push((
                        resolved(an),
                        String::from_utf8(local.as_ref().to_vec()).unwrap(),
                        a.unescape_value().unwrap().into_owned(),
                    ));
                }
                attrs.sort();
                let node = Node {
                    ns,
                    name: String::from_utf8(e.local_name().as_ref().to_vec()).unwrap(),
                    attrs,
                    text: String::new(),
                    children: Vec::new(),
                };
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(p) => p.children.push(node),
                        None => return node,
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let mut node = stack.pop().unwrap();
                node.text = node.text.trim().to_string();
                match stack.last_mut() {
                    Some(p) => p.children.push(node),
                    None => return node,
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content().unwrap());
                }
            }
            Event::GeneralRef(r) => {
                let top = stack.last_mut().unwrap();
                match r.resolve_char_ref().unwrap() {
                    Some(c) => top.text.push(c),
                    None => top.text.push_str(
                        quick_xml::escape::resolve_predefined_entity(&r.decode().unwrap()).unwrap(),
                    ),
                }
            }
            Event::Eof => panic!("document ended early"),
            _ => {}
        }
    }
}

/// Asserts two trees are structurally equal, printing both and the first difference if not.
#[track_caller]
pub fn assert_same_structure(got: &Node, want: &Node, context: &str) {
    let g = got.lines();
    let w = want.lines();
    if g != w {
        let first = g
            .iter()
            .zip(&w)
            .position(|(a, b)| a != b)
            .unwrap_or(g.len().min(w.len()));
        panic!(
            "{context}: structures differ at line {first}\n got: {}\nwant: {}\n--- got ---\n{}\n--- want ---\n{}",
            g.get(first).map(String::as_str).unwrap_or("<end>"),
            w.get(first).map(String::as_str).unwrap_or("<end>"),
            g.join("\n"),
            w.join("\n")
        );
    }
}

/// One recorded request/response pair.
#[derive(Debug, serde::Deserialize)]
pub struct Exchange {
    pub request: String,
    pub response: String,
}

#[derive(Debug, serde::Deserialize)]
struct Recording {
    messages: Vec<Exchange>,
}

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/winrm-recorded")
}

/// Every recorded file: (file name, exchanges), sorted by name.
pub fn recordings() -> Vec<(String, Vec<Exchange>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(fixture_dir()).expect("fixture directory") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let rec: Recording = serde_yaml::from_str(&text).unwrap();
        out.push((
            path.file_name().unwrap().to_string_lossy().into_owned(),
            rec.messages,
        ));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

//! Reading CLIXML: a bounded element tree first, then values from it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use base64::Engine as _;
use quick_xml::events::Event;
use quick_xml::Reader;

use super::escape;
use super::{ClixmlError, Collection, Limits, Object, Value};

/// One element: local name, the two attributes CLIXML uses, direct text, children.
#[derive(Debug, Default)]
struct Node {
    name: String,
    n: Option<String>,
    ref_id: Option<String>,
    text: String,
    children: Vec<Node>,
}

fn xml_err(reader: &Reader<&[u8]>, e: impl std::fmt::Display) -> ClixmlError {
    ClixmlError::Xml(format!("{e} (at byte {})", reader.buffer_position()))
}

/// Parses a document into its root elements (one for message data, several inside `<Objs>`
/// when `allow_many`).
fn tree(input: &[u8], limits: &Limits) -> Result<Vec<Node>, ClixmlError> {
    if input.len() > limits.max_input {
        return Err(ClixmlError::Limit("input size"));
    }
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let mut reader = Reader::from_reader(input);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Node> = Vec::new();
    let mut roots: Vec<Node> = Vec::new();
    let mut count = 0usize;
    loop {
        let event = reader.read_event().map_err(|e| xml_err(&reader, e))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > limits.max_elements {
                    return Err(ClixmlError::Limit("element count"));
                }
                if stack.len() >= limits.max_depth {
                    return Err(ClixmlError::Limit("nesting depth"));
                }
                let name = std::str::from_utf8(e.local_name().as_ref())
                    .map_err(|err| xml_err(&reader, err))?
                    .to_string();
                let mut node = Node {
                    name,
                    ..Node::default()
                };
                for attr in e.attributes() {
                    let attr = attr.map_err(|err| xml_err(&reader, err))?;
                    let key = attr.key.local_name();
                    let slot = match key.as_ref() {
                        b"N" => &mut node.n,
                        b"RefId" => &mut node.ref_id,
                        _ => continue,
                    };
                    let v = attr
                        .decode_and_unescape_value(reader.decoder())
                        .map_err(|err| xml_err(&reader, err))?;
                    *slot = Some(v.into_owned());
                }
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut roots, node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| xml_err(&reader, "end tag without start tag"))?;
                attach(&mut stack, &mut roots, node);
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| xml_err(&reader, e))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(xml_err(&reader, "text outside an element")),
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| xml_err(&reader, e))?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None => return Err(xml_err(&reader, "CDATA outside an element")),
                }
            }
            Event::GeneralRef(r) => {
                let Some(top) = stack.last_mut() else {
                    return Err(xml_err(&reader, "reference outside an element"));
                };
                if let Some(ch) = r.resolve_char_ref().map_err(|e| xml_err(&reader, e))? {
                    top.text.push(ch);
                } else {
                    let name = r.decode().map_err(|e| xml_err(&reader, e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => top.text.push_str(s),
                        None => {
                            return Err(xml_err(
                                &reader,
                                format!("undeclared entity &{name}; (only the XML predefined entities are allowed)"),
                            ))
                        }
                    }
                }
            }
            Event::DocType(_) => {
                return Err(xml_err(&reader, "DOCTYPE is not allowed in CLIXML"));
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ClixmlError::Xml(format!(
            "truncated document: {} element(s) not closed",
            stack.len()
        )));
    }
    Ok(roots)
}

fn attach(stack: &mut [Node], roots: &mut Vec<Node>, node: Node) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => roots.push(node),
    }
}

/// Parses the data of one message: a single element, with the default [`Limits`]. Empty
/// data (or only whitespace) is an error: check for it first where it is legal.
pub fn parse(input: &[u8]) -> Result<Value, ClixmlError> {
    parse_with(input, &Limits::default())
}

/// [`parse`] with explicit limits.
pub fn parse_with(input: &[u8], limits: &Limits) -> Result<Value, ClixmlError> {
    let mut roots = tree(input, limits)?;
    if roots.len() != 1 {
        return Err(ClixmlError::Xml(format!(
            "expected one root element, found {}",
            roots.len()
        )));
    }
    let root = roots.pop().expect("one root");
    let mut ctx = Ctx::new(limits);
    let (v, _) = ctx.value(&root)?;
    Ok(v)
}

/// Parses an `<Objs>` document (what `Export-Clixml` writes and psrpcore's tests use): every
/// child is a value; RefIds are shared across the whole document.
pub fn parse_objs(input: &[u8], limits: &Limits) -> Result<Vec<Value>, ClixmlError> {
    let mut roots = tree(input, limits)?;
    if roots.len() != 1 || roots[0].name != "Objs" {
        return Err(ClixmlError::Missing("<Objs> root element"));
    }
    let root = roots.pop().expect("one root");
    let mut ctx = Ctx::new(limits);
    root.children
        .iter()
        .map(|c| ctx.value(c).map(|(v, _)| v))
        .collect()
}

struct Ctx<'l> {
    limits: &'l Limits,
    /// Completed objects with their expanded weight.
    objs: HashMap<String, (Arc<Object>, u64)>,
    /// Objects being read (a Ref to one of these is a cycle).
    open: HashSet<String>,
    tns: HashMap<String, Arc<[String]>>,
    /// Expanded nodes so far in the document.
    expanded: u64,
}

impl<'l> Ctx<'l> {
    fn new(limits: &'l Limits) -> Self {
        Ctx {
            limits,
            objs: HashMap::new(),
            open: HashSet::new(),
            tns: HashMap::new(),
            expanded: 0,
        }
    }

    fn charge(&mut self, w: u64) -> Result<(), ClixmlError> {
        self.expanded = self.expanded.saturating_add(w);
        if self.expanded > self.limits.max_expanded {
            return Err(ClixmlError::Limit("expanded size (references)"));
        }
        Ok(())
    }

    /// A value and its expanded weight (nodes a walk following references would visit).
    fn value(&mut self, node: &Node) -> Result<(Value, u64), ClixmlError> {
        match node.name.as_str() {
            "Obj" => {
                let (o, w) = self.object(node)?;
                Ok((Value::Object(o), w))
            }
            "Ref" => {
                let id = node
                    .ref_id
                    .as_deref()
                    .ok_or(ClixmlError::Missing("RefId of <Ref>"))?;
                if self.open.contains(id) {
                    return Err(ClixmlError::Cycle(id.to_string()));
                }
                let (o, w) = self.objs.get(id).ok_or_else(|| ClixmlError::UnknownRef {
                    kind: "Obj",
                    id: id.to_string(),
                })?;
                let (o, w) = (o.clone(), *w);
                self.charge(w)?;
                Ok((Value::Object(o), w))
            }
            _ => {
                self.charge(1)?;
                Ok((primitive(node)?, 1))
            }
        }
    }

    fn object(&mut self, node: &Node) -> Result<(Arc<Object>, u64), ClixmlError> {
        let id = node.ref_id.clone();
        if let Some(id) = &id {
            if self.objs.contains_key(id) || self.open.contains(id) {
                return Err(ClixmlError::DuplicateRef {
                    kind: "Obj",
                    id: id.clone(),
                });
            }
            self.open.insert(id.clone());
        }
        self.charge(1)?;
        let mut weight = 1u64;
        let mut obj = Object::default();
        for c in &node.children {
            match c.name.as_str() {
                "TN" => {
                    let names: Arc<[String]> = c
                        .children
                        .iter()
                        .map(|t| {
                            if t.name == "T" {
                                Ok(escape::decode(&t.text))
                            } else {
                                Err(ClixmlError::Unexpected {
                                    element: t.name.clone(),
                                    context: "<TN>",
                                })
                            }
                        })
                        .collect::<Result<_, _>>()?;
                    if let Some(tid) = &c.ref_id {
                        if self.tns.insert(tid.clone(), names.clone()).is_some() {
                            return Err(ClixmlError::DuplicateRef {
                                kind: "TN",
                                id: tid.clone(),
                            });
                        }
                    }
                    obj.type_names = Some(names);
                }
                "TNRef" => {
                    let tid = c
                        .ref_id
                        .as_deref()
                        .ok_or(ClixmlError::Missing("RefId of <TNRef>"))?;
                    let names = self.tns.get(tid).ok_or_else(|| ClixmlError::UnknownRef {
                        kind: "TN",
                        id: tid.to_string(),
                    })?;
                    obj.type_names = Some(names.clone());
                }
                "ToString" => obj.to_string = Some(escape::decode(&c.text)),
                "Props" | "MS" => {
                    let mut props = Vec::with_capacity(c.children.len());
                    for p in &c.children {
                        let name = p.n.as_deref().map(escape::decode).unwrap_or_default();
                        let (v, w) = self.value(p)?;
                        weight = weight.saturating_add(w);
                        props.push((name, v));
                    }
                    if c.name == "Props" {
                        obj.adapted = props;
                    } else {
                        obj.extended = props;
                    }
                }
                "LST" | "IE" | "STK" | "QUE" => {
                    let mut items = Vec::with_capacity(c.children.len());
                    for i in &c.children {
                        let (v, w) = self.value(i)?;
                        weight = weight.saturating_add(w);
                        items.push(v);
                    }
                    obj.collection = Some(match c.name.as_str() {
                        "LST" => Collection::List(items),
                        "IE" => Collection::Enumerable(items),
                        "STK" => Collection::Stack(items),
                        _ => Collection::Queue(items),
                    });
                }
                "DCT" => {
                    let mut entries = Vec::with_capacity(c.children.len());
                    for en in &c.children {
                        if en.name != "En" {
                            return Err(ClixmlError::Unexpected {
                                element: en.name.clone(),
                                context: "<DCT>",
                            });
                        }
                        let find = |n: &str| en.children.iter().find(|k| k.n.as_deref() == Some(n));
                        let k = find("Key").ok_or(ClixmlError::Missing("Key of a <DCT> entry"))?;
                        let v =
                            find("Value").ok_or(ClixmlError::Missing("Value of a <DCT> entry"))?;
                        let (kv, kw) = self.value(k)?;
                        let (vv, vw) = self.value(v)?;
                        weight = weight.saturating_add(kw).saturating_add(vw);
                        entries.push((kv, vv));
                    }
                    obj.collection = Some(Collection::Dictionary(entries));
                }
                "En" | "T" | "Key" | "Value" => {
                    return Err(ClixmlError::Unexpected {
                        element: c.name.clone(),
                        context: "<Obj>",
                    })
                }
                _ => {
                    let (v, w) = self.value(c)?;
                    weight = weight.saturating_add(w);
                    obj.value = Some(Box::new(v));
                }
            }
        }
        let rc = Arc::new(obj);
        if let Some(id) = id {
            self.open.remove(&id);
            self.objs.insert(id, (rc.clone(), weight));
        }
        Ok((rc, weight))
    }
}

fn short(s: &str) -> String {
    let mut end = s.len().min(80);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn bad(element: &'static str, text: &str) -> ClixmlError {
    ClixmlError::BadValue {
        element,
        value: short(text),
    }
}

fn num<T: std::str::FromStr>(element: &'static str, text: &str) -> Result<T, ClixmlError> {
    text.trim().parse().map_err(|_| bad(element, text))
}

fn float(element: &'static str, text: &str) -> Result<f64, ClixmlError> {
    match text.trim() {
        "INF" | "Infinity" | "∞" => Ok(f64::INFINITY),
        "-INF" | "-Infinity" | "-∞" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        t => t.parse().map_err(|_| bad(element, text)),
    }
}

fn base64(element: &'static str, text: &str) -> Result<Vec<u8>, ClixmlError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| bad(element, text))
}

fn primitive(node: &Node) -> Result<Value, ClixmlError> {
    if !node.children.is_empty() {
        return Err(ClixmlError::Unexpected {
            element: node.children[0].name.clone(),
            context: "a primitive value",
        });
    }
    let t = node.text.as_str();
    Ok(match node.name.as_str() {
        "Nil" => Value::Nil,
        "S" => Value::String(escape::decode(t)),
        "C" => Value::Char(num("C", t)?),
        "B" => Value::Bool(match t.trim() {
            "true" | "True" | "1" => true,
            "false" | "False" | "0" => false,
            _ => return Err(bad("B", t)),
        }),
        "DT" => Value::DateTime(t.trim().to_string()),
        "TS" => Value::Duration(t.trim().to_string()),
        "By" => Value::U8(num("By", t)?),
        "SB" => Value::I8(num("SB", t)?),
        "U16" => Value::U16(num("U16", t)?),
        "I16" => Value::I16(num("I16", t)?),
        "U32" => Value::U32(num("U32", t)?),
        "I32" => Value::I32(num("I32", t)?),
        "U64" => Value::U64(num("U64", t)?),
        "I64" => Value::I64(num("I64", t)?),
        "Sg" => Value::Single(float("Sg", t)? as f32),
        "Db" => Value::Double(float("Db", t)?),
        "D" => {
            let d = t.trim();
            let ok = !d.is_empty()
                && d.trim_start_matches(['-', '+']).chars().all(|c| {
                    c.is_ascii_digit() || c == '.' || c == 'E' || c == 'e' || c == '-' || c == '+'
                });
            if !ok {
                return Err(bad("D", t));
            }
            Value::Decimal(d.to_string())
        }
        "BA" => Value::Bytes(base64("BA", t)?),
        "SS" => Value::SecureString(base64("SS", t)?),
        "G" => {
            let g = t.trim();
            crate::message::Guid::parse(g).ok_or_else(|| bad("G", t))?;
            Value::Guid(g.trim_matches(['{', '}']).to_ascii_lowercase())
        }
        "URI" => Value::Uri(escape::decode(t)),
        "Version" => {
            let v = t.trim();
            let parts: Vec<&str> = v.split('.').collect();
            if !(2..=4).contains(&parts.len())
                || parts
                    .iter()
                    .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad("Version", t));
            }
            Value::Version(v.to_string())
        }
        "XD" => Value::XmlDocument(escape::decode(t)),
        "SBK" => Value::ScriptBlock(escape::decode(t)),
        other => {
            return Err(ClixmlError::Unexpected {
                element: other.to_string(),
                context: "a value position",
            })
        }
    })
}

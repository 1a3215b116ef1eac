//! A small, bounded XML tree on top of quick-xml, and a string writer with escaping.
//!
//! SOAP envelopes are small and shallow, so the parsers build a tree first and pick values out
//! of it afterwards: that keeps element order and optional elements easy to handle. The tree
//! builder is where hostile input is stopped: no DTD (so no entity declarations and no entity
//! expansion), only the five predefined entities and character references, and caps on depth,
//! element count and attribute size.

use std::borrow::Cow;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use crate::types::ParseError;

/// Deepest element nesting accepted. Real envelopes are 7 levels deep.
pub(crate) const MAX_DEPTH: usize = 64;
/// Most elements accepted in one envelope (a Receive with hundreds of streams is far below).
pub(crate) const MAX_ELEMENTS: usize = 20_000;
/// Most attributes accepted on one element.
pub(crate) const MAX_ATTRIBUTES: usize = 32;
/// Longest attribute value accepted, in bytes: ids and URIs are short.
pub(crate) const MAX_ATTRIBUTE_LEN: usize = 16 * 1024;

/// The `xml` prefix's namespace (for `xml:lang`).
pub(crate) const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";

/// Namespace URIs and names that occur in WinRS envelopes: interned so that building the
/// tree allocates little (a Receive response can hold thousands of elements).
const KNOWN: &[&str] = &[
    "",
    crate::ns::SOAP,
    crate::ns::ADDRESSING,
    crate::ns::WSMAN,
    crate::ns::WSMV,
    crate::ns::SHELL,
    crate::ns::TRANSFER,
    crate::ns::WSMAN_FAULT,
    XML_NS,
    "Stream",
    "Name",
    "CommandId",
    "End",
    "stdout",
    "stderr",
    "stdin",
    "State",
    "CommandState",
    "ExitCode",
    "Envelope",
    "Header",
    "Body",
    "Action",
    "MessageID",
    "RelatesTo",
    "To",
    "Option",
    "Selector",
    "ShellId",
    "mustUnderstand",
    "lang",
];

fn intern(s: &str) -> Cow<'static, str> {
    match KNOWN.iter().find(|k| **k == s) {
        Some(k) => Cow::Borrowed(k),
        None => Cow::Owned(s.to_owned()),
    }
}

fn intern_bytes(b: &[u8]) -> Result<Cow<'static, str>, std::str::Utf8Error> {
    std::str::from_utf8(b).map(intern)
}

/// One element: namespace URI (empty if none), local name, attributes, direct text, children.
/// Text borrows from the input where it can (stream data is most of a big envelope).
#[derive(Debug, Default)]
pub(crate) struct Element<'a> {
    pub ns: Cow<'static, str>,
    pub name: Cow<'static, str>,
    /// (namespace URI, local name, value); namespace declarations are not kept.
    pub attrs: Vec<(Cow<'static, str>, Cow<'static, str>, Cow<'static, str>)>,
    /// All character data directly inside this element, concatenated.
    pub text: Cow<'a, str>,
    pub children: Vec<Element<'a>>,
}

impl<'a> Element<'a> {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.name.as_ref() == name && self.ns.as_ref() == ns
    }

    pub fn child(&self, ns: &str, name: &str) -> Option<&Element<'a>> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    pub fn children<'s>(
        &'s self,
        ns: &'s str,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Element<'a>> + 's {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// An attribute without a namespace prefix (`Name="..."`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attr_ns("", name)
    }

    pub fn attr_ns(&self, ns: &str, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, l, _)| n.as_ref() == ns && l.as_ref() == name)
            .map(|(_, _, v)| v.as_ref())
    }

    /// Text of this element and all its descendants, in document order.
    pub fn deep_text(&self) -> String {
        let mut out = String::new();
        self.push_deep_text(&mut out);
        out
    }

    fn push_deep_text(&self, out: &mut String) {
        // Direct text is concatenated per element, so interleaving with children is lost;
        // fault messages (the only mixed content seen) have text in one place or the other.
        out.push_str(&self.text);
        for c in &self.children {
            c.push_deep_text(out);
        }
    }
}

fn append_text<'a>(text: &mut Cow<'a, str>, more: Cow<'a, str>) {
    if text.is_empty() {
        *text = more;
    } else {
        text.to_mut().push_str(&more);
    }
}

fn xml_error(reader: &NsReader<&[u8]>, e: impl std::fmt::Display) -> ParseError {
    ParseError::Xml(format!("{e} (at byte {})", reader.buffer_position()))
}

/// Parses a whole document into its root element.
pub(crate) fn parse(xml: &[u8]) -> Result<Element<'_>, ParseError> {
    let mut reader = NsReader::from_reader(xml);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let (resolved, event) = reader
            .read_resolved_event()
            .map_err(|e| ParseError::Xml(format!("{e}")))?;
        let ns = match &resolved {
            ResolveResult::Bound(ns) => intern_bytes(ns.as_ref())
                .map_err(|e| ParseError::Xml(format!("namespace is not UTF-8: {e}")))?,
            ResolveResult::Unbound => Cow::Borrowed(""),
            ResolveResult::Unknown(p) => {
                return Err(xml_error(
                    &reader,
                    format!(
                        "undeclared namespace prefix {:?}",
                        String::from_utf8_lossy(p)
                    ),
                ))
            }
        };
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                if root.is_some() {
                    return Err(xml_error(&reader, "content after the root element"));
                }
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(ParseError::TooLarge);
                }
                let name =
                    intern_bytes(e.local_name().as_ref()).map_err(|err| xml_error(&reader, err))?;
                let mut el = Element {
                    ns,
                    name,
                    ..Element::default()
                };
                for attr in e.attributes() {
                    let attr = attr.map_err(|err| xml_error(&reader, err))?;
                    if attr.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    if el.attrs.len() >= MAX_ATTRIBUTES || attr.value.len() > MAX_ATTRIBUTE_LEN {
                        return Err(ParseError::TooLarge);
                    }
                    let (ans, local) = reader.resolve_attribute(attr.key);
                    let ans = match ans {
                        ResolveResult::Bound(n) => {
                            intern_bytes(n.as_ref()).map_err(|err| xml_error(&reader, err))?
                        }
                        ResolveResult::Unbound => Cow::Borrowed(""),
                        ResolveResult::Unknown(p) => {
                            return Err(xml_error(
                                &reader,
                                format!(
                                    "undeclared attribute prefix {:?}",
                                    String::from_utf8_lossy(&p)
                                ),
                            ))
                        }
                    };
                    let local =
                        intern_bytes(local.as_ref()).map_err(|err| xml_error(&reader, err))?;
                    // Only the predefined entities resolve; anything else is an error.
                    let value = attr
                        .decode_and_unescape_value(reader.decoder())
                        .map_err(|err| xml_error(&reader, err))?;
                    el.attrs.push((ans, local, intern(&value)));
                }
                if empty {
                    attach(&mut stack, &mut root, el);
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| xml_error(&reader, "end tag without start tag"))?;
                attach(&mut stack, &mut root, el);
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| xml_error(&reader, e))?;
                match stack.last_mut() {
                    Some(top) => append_text(&mut top.text, text),
                    None if text.trim().is_empty() => {}
                    None => return Err(xml_error(&reader, "text outside the root element")),
                }
            }
            Event::CData(t) => {
                let text = t.decode().map_err(|e| xml_error(&reader, e))?;
                match stack.last_mut() {
                    Some(top) => append_text(&mut top.text, text),
                    None => return Err(xml_error(&reader, "CDATA outside the root element")),
                }
            }
            Event::GeneralRef(r) => {
                let top = match stack.last_mut() {
                    Some(top) => top,
                    None => return Err(xml_error(&reader, "reference outside the root element")),
                };
                if let Some(ch) = r.resolve_char_ref().map_err(|e| xml_error(&reader, e))? {
                    top.text.to_mut().push(ch);
                } else {
                    let name = r.decode().map_err(|e| xml_error(&reader, e))?;
                    match quick_xml::escape::resolve_predefined_entity(&name) {
                        Some(s) => top.text.to_mut().push_str(s),
                        None => {
                            return Err(xml_error(
                                &reader,
                                format!("undeclared entity &{name}; (only the XML predefined entities are allowed)"),
                            ))
                        }
                    }
                }
            }
            Event::DocType(_) => {
                return Err(xml_error(
                    &reader,
                    "DOCTYPE is not allowed in a SOAP message (no DTDs or entity declarations)",
                ))
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ParseError::Xml(format!(
            "truncated document: {} element(s) not closed",
            stack.len()
        )));
    }
    root.ok_or_else(|| ParseError::Xml("no root element".into()))
}

fn attach<'a>(stack: &mut [Element<'a>], root: &mut Option<Element<'a>>, el: Element<'a>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => *root = Some(el),
    }
}

/// Appends `s` escaped for element content. `\r` becomes a character reference because
/// parsers turn a raw CR LF into LF.
pub(crate) fn push_text(out: &mut String, s: &str) {
    push_escaped(out, s, false);
}

/// Appends `s` escaped for a double-quoted attribute value; whitespace other than spaces
/// becomes character references, which attribute-value normalization would otherwise eat.
pub(crate) fn push_attr(out: &mut String, s: &str) {
    push_escaped(out, s, true);
}

fn push_escaped(out: &mut String, s: &str, attr: bool) {
    let mut last = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            b'"' if attr => "&quot;",
            b'\n' if attr => "&#10;",
            b'\t' if attr => "&#9;",
            _ => continue,
        };
        out.push_str(&s[last..i]);
        out.push_str(rep);
        last = i + 1;
    }
    out.push_str(&s[last..]);
}

/// A tiny envelope writer: tags are written with the prefixes the caller chose.
pub(crate) struct Writer {
    pub out: String,
}

impl Writer {
    pub fn with_capacity(n: usize) -> Writer {
        Writer {
            out: String::with_capacity(n),
        }
    }

    fn start_tag(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(tag);
        for (k, v) in attrs {
            self.out.push(' ');
            self.out.push_str(k);
            self.out.push_str("=\"");
            push_attr(&mut self.out, v);
            self.out.push('"');
        }
    }

    /// `<tag a="v">`
    pub fn open(&mut self, tag: &str, attrs: &[(&str, &str)]) {
        self.start_tag(tag, attrs);
        self.out.push('>');
    }

    /// `</tag>`
    pub fn close(&mut self, tag: &str) {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
    }

    /// `<tag a="v" />` (`space` chooses between `<x />` and `<x/>`, as the peers differ).
    pub fn empty(&mut self, tag: &str, attrs: &[(&str, &str)], space: bool) {
        self.start_tag(tag, attrs);
        self.out.push_str(if space { " />" } else { "/>" });
    }

    /// `<tag a="v">text</tag>`
    pub fn leaf(&mut self, tag: &str, attrs: &[(&str, &str)], text: &str) {
        self.open(tag, attrs);
        push_text(&mut self.out, text);
        self.close(tag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_round_trips_through_the_parser() {
        let tricky = "a&b<c>d\"e'f\r\ng\th";
        let mut w = Writer::with_capacity(64);
        w.leaf("x", &[("v", tricky)], tricky);
        let root = parse(w.out.as_bytes()).unwrap();
        assert_eq!(root.text, tricky);
        assert_eq!(root.attr("v"), Some(tricky));
    }

    #[test]
    fn namespaces_resolve_to_uris() {
        let root = parse(br#"<a:x xmlns:a="urn:a" xmlns="urn:d" xml:lang="en"><y a:k="1"/></a:x>"#)
            .unwrap();
        assert!(root.is("urn:a", "x"));
        assert_eq!(root.attr_ns(XML_NS, "lang"), Some("en"));
        let y = root.child("urn:d", "y").unwrap();
        assert_eq!(y.attr_ns("urn:a", "k"), Some("1"));
    }
}

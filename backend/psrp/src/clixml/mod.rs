//! CLIXML (MS-PSRP 2.2.5): the serialization of PowerShell objects in PSRP messages.
//!
//! [`Value`] is the model: the primitive types PowerShell serializes, and [`Object`] for
//! `<Obj>` (type names, ToString, a bare value such as an enum's number, a collection, and
//! the adapted (`Props`) and extended (`MS`) properties). [`parse`] reads the data of one
//! message, [`write()`] writes it back.
//!
//! References: a `<Ref RefId=…>` to an earlier object becomes the *same* `Arc<Object>`, and
//! the writer turns a repeated `Arc` back into a `Ref`, so shared objects stay shared and a
//! document that references one object many times stays small in memory. RefIds (objects and
//! type names) restart at 0 in every message, as MS-PSRP requires.
//!
//! Hostile input is bounded ([`Limits`]): input size, element nesting, element count, and
//! the "expanded" size (how many nodes a naive walk that follows every reference would
//! visit), so a billion-laughs document of nested references is refused rather than
//! shared into something that code walking it could never finish. A `Ref` to an object that
//! is not complete yet (a cycle) is an error.

pub mod escape;
pub mod random;
mod read;
mod write;

use std::sync::Arc;

pub use read::{parse, parse_objs, parse_with};
pub use write::{write, write_named, write_objs};

/// Limits for [`parse_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input, in bytes.
    pub max_input: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most elements in one document.
    pub max_elements: usize,
    /// Most nodes a walk that follows every `Ref` would visit.
    pub max_expanded: u64,
}

impl Default for Limits {
    /// 16 MiB of input (Windows itself refuses objects over 10 MiB), 100 levels, 500 000
    /// elements, 2 000 000 expanded nodes.
    fn default() -> Self {
        Limits {
            max_input: 16 * 1024 * 1024,
            max_depth: 100,
            max_elements: 500_000,
            max_expanded: 2_000_000,
        }
    }
}

/// Why CLIXML could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClixmlError {
    /// Not well-formed XML, or a forbidden construct (DTD, unknown entity).
    #[error("malformed CLIXML: {0}")]
    Xml(String),
    /// Over one of the [`Limits`].
    #[error("CLIXML over the limit: {0}")]
    Limit(&'static str),
    /// An element CLIXML does not have, or one in a place it cannot be.
    #[error("unexpected element <{element}> in {context}")]
    Unexpected {
        /// The element's name.
        element: String,
        /// Where it was found.
        context: &'static str,
    },
    /// A primitive whose text is not a value of its type.
    #[error("invalid <{element}> value {value:?}")]
    BadValue {
        /// The element's name.
        element: &'static str,
        /// Its text (shortened).
        value: String,
    },
    /// A `Ref` or `TNRef` to an id that was not defined before it in the same message.
    #[error("reference to undefined {kind} RefId {id:?}")]
    UnknownRef {
        /// `Obj` or `TN`.
        kind: &'static str,
        /// The RefId.
        id: String,
    },
    /// A `Ref` to an object that contains the reference itself.
    #[error("reference cycle through Obj RefId {0:?}")]
    Cycle(String),
    /// The same RefId defined twice.
    #[error("duplicate {kind} RefId {id:?}")]
    DuplicateRef {
        /// `Obj` or `TN`.
        kind: &'static str,
        /// The RefId.
        id: String,
    },
    /// A required part is missing (e.g. a dictionary entry without a Key).
    #[error("missing {0}")]
    Missing(&'static str),
}

/// One CLIXML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `<Nil/>`: null.
    Nil,
    /// `<S>`: a string.
    String(String),
    /// `<C>`: a UTF-16 code unit.
    Char(u16),
    /// `<B>`.
    Bool(bool),
    /// `<DT>`: a DateTime, kept as its ISO 8601 text (`2018-06-13T23:46:28.00516+00:00`).
    DateTime(String),
    /// `<TS>`: a TimeSpan, kept as its xs:duration text (`PT9.26S`).
    Duration(String),
    /// `<By>`.
    U8(u8),
    /// `<SB>`.
    I8(i8),
    /// `<U16>`.
    U16(u16),
    /// `<I16>`.
    I16(i16),
    /// `<U32>`.
    U32(u32),
    /// `<I32>`.
    I32(i32),
    /// `<U64>`.
    U64(u64),
    /// `<I64>`.
    I64(i64),
    /// `<Sg>`.
    Single(f32),
    /// `<Db>`.
    Double(f64),
    /// `<D>`: a Decimal, kept as its text (`1.5`): it has more precision than f64.
    Decimal(String),
    /// `<BA>`: bytes.
    Bytes(Vec<u8>),
    /// `<G>`: a GUID, as its text in lower case.
    Guid(String),
    /// `<URI>`.
    Uri(String),
    /// `<Version>`: 2 to 4 dotted numbers, kept as text.
    Version(String),
    /// `<XD>`: an XML document, as text.
    XmlDocument(String),
    /// `<SBK>`: a script block's text.
    ScriptBlock(String),
    /// `<SS>`: a SecureString, still encrypted with the session key (see [`crate::crypto`]).
    SecureString(Vec<u8>),
    /// `<Obj>` (or a `<Ref>` to one, which shares it).
    Object(Arc<Object>),
}

/// A collection inside an `<Obj>`.
#[derive(Debug, Clone, PartialEq)]
pub enum Collection {
    /// `<LST>`: a list, array or ArrayList.
    List(Vec<Value>),
    /// `<IE>`: another enumerable.
    Enumerable(Vec<Value>),
    /// `<STK>`: a stack (top first).
    Stack(Vec<Value>),
    /// `<QUE>`: a queue.
    Queue(Vec<Value>),
    /// `<DCT>`: a dictionary, entries in document order.
    Dictionary(Vec<(Value, Value)>),
}

impl Collection {
    /// The items of a list-like collection (not a dictionary).
    pub fn items(&self) -> Option<&[Value]> {
        match self {
            Collection::List(v)
            | Collection::Enumerable(v)
            | Collection::Stack(v)
            | Collection::Queue(v) => Some(v),
            Collection::Dictionary(_) => None,
        }
    }
}

/// An `<Obj>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    /// `<TN>`: type names, most derived first (shared between objects that use `TNRef`).
    pub type_names: Option<Arc<[String]>>,
    /// `<ToString>`.
    pub to_string: Option<String>,
    /// A bare value inside the object: an enum's number, a wrapped string, or (seen from
    /// Windows) another object that this one wraps.
    pub value: Option<Box<Value>>,
    /// A collection.
    pub collection: Option<Collection>,
    /// `<Props>`: adapted properties, in order.
    pub adapted: Vec<(String, Value)>,
    /// `<MS>`: extended (note) properties, in order.
    pub extended: Vec<(String, Value)>,
}

impl Object {
    /// An empty object.
    pub fn new() -> Object {
        Object::default()
    }

    /// Sets the type names.
    pub fn with_types<S: AsRef<str>>(mut self, names: &[S]) -> Object {
        self.type_names = Some(names.iter().map(|s| s.as_ref().to_string()).collect());
        self
    }

    /// Sets ToString.
    pub fn with_to_string(mut self, s: impl Into<String>) -> Object {
        self.to_string = Some(s.into());
        self
    }

    /// Sets the bare value.
    pub fn with_value(mut self, v: Value) -> Object {
        self.value = Some(Box::new(v));
        self
    }

    /// Sets the collection.
    pub fn with_collection(mut self, c: Collection) -> Object {
        self.collection = Some(c);
        self
    }

    /// Adds an extended (`MS`) property.
    pub fn with_ms(mut self, name: impl Into<String>, v: Value) -> Object {
        self.extended.push((name.into(), v));
        self
    }

    /// Adds an adapted (`Props`) property.
    pub fn with_prop(mut self, name: impl Into<String>, v: Value) -> Object {
        self.adapted.push((name.into(), v));
        self
    }

    /// Wraps the object in a [`Value`].
    pub fn into_value(self) -> Value {
        Value::Object(Arc::new(self))
    }

    /// A property by name: extended (`MS`) first, then adapted (`Props`).
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.extended
            .iter()
            .chain(self.adapted.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// The first type name, if any.
    pub fn type_name(&self) -> Option<&str> {
        self.type_names
            .as_ref()
            .and_then(|t| t.first())
            .map(String::as_str)
    }

    /// True if `name` is one of the type names (with or without a `Deserialized.` prefix).
    pub fn is_type(&self, name: &str) -> bool {
        self.type_names.as_ref().is_some_and(|t| {
            t.iter()
                .any(|n| n == name || n.strip_prefix("Deserialized.") == Some(name))
        })
    }
}

impl Value {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    /// The string of an `S` (or of the bare string inside an object).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Object(o) => o.value.as_deref().and_then(Value::as_str),
            _ => None,
        }
    }

    /// A signed integer value of any width (also inside an object: enums).
    pub fn as_i64(&self) -> Option<i64> {
        Some(match self {
            Value::I8(v) => i64::from(*v),
            Value::U8(v) => i64::from(*v),
            Value::I16(v) => i64::from(*v),
            Value::U16(v) => i64::from(*v),
            Value::I32(v) => i64::from(*v),
            Value::U32(v) => i64::from(*v),
            Value::I64(v) => *v,
            Value::U64(v) => i64::try_from(*v).ok()?,
            Value::Object(o) => return o.value.as_deref().and_then(Value::as_i64),
            _ => return None,
        })
    }

    /// An integer that fits an i32.
    pub fn as_i32(&self) -> Option<i32> {
        self.as_i64().and_then(|v| i32::try_from(v).ok())
    }

    /// A Boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Object(o) => o.value.as_deref().and_then(Value::as_bool),
            _ => None,
        }
    }

    /// The object, if this is one.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// A property of the object, if this is one and has it.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.as_object().and_then(|o| o.get(name))
    }

    /// True for `Nil`.
    pub fn is_nil(&self) -> bool {
        matches!(self, Value::Nil)
    }

    /// The items of a list-like collection inside this object.
    pub fn items(&self) -> Option<&[Value]> {
        self.as_object()
            .and_then(|o| o.collection.as_ref())
            .and_then(Collection::items)
    }

    /// The entries of a dictionary inside this object.
    pub fn entries(&self) -> Option<&[(Value, Value)]> {
        match self.as_object().and_then(|o| o.collection.as_ref()) {
            Some(Collection::Dictionary(e)) => Some(e),
            _ => None,
        }
    }

    /// A text form for display: strings as they are, numbers in decimal, objects by their
    /// ToString (or type name), Nil as empty.
    pub fn display(&self) -> String {
        match self {
            Value::Nil => String::new(),
            Value::String(s)
            | Value::DateTime(s)
            | Value::Duration(s)
            | Value::Decimal(s)
            | Value::Guid(s)
            | Value::Uri(s)
            | Value::Version(s)
            | Value::XmlDocument(s)
            | Value::ScriptBlock(s) => s.clone(),
            Value::Char(c) => char::from_u32(u32::from(*c))
                .unwrap_or('\u{FFFD}')
                .to_string(),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Value::U8(v) => v.to_string(),
            Value::I8(v) => v.to_string(),
            Value::U16(v) => v.to_string(),
            Value::I16(v) => v.to_string(),
            Value::U32(v) => v.to_string(),
            Value::I32(v) => v.to_string(),
            Value::U64(v) => v.to_string(),
            Value::I64(v) => v.to_string(),
            Value::Single(v) => v.to_string(),
            Value::Double(v) => v.to_string(),
            Value::Bytes(b) => format!("byte[{}]", b.len()),
            Value::SecureString(_) => "System.Security.SecureString".to_string(),
            Value::Object(o) => match (&o.to_string, &o.value) {
                (Some(s), _) => s.clone(),
                (None, Some(v)) => v.display(),
                (None, None) => o.type_name().unwrap_or_default().to_string(),
            },
        }
    }
}

/// The standard type names of an enum: `[name, System.Enum, System.ValueType, System.Object]`.
pub fn enum_types(name: &str) -> Arc<[String]> {
    [name, "System.Enum", "System.ValueType", "System.Object"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// An enum value as PowerShell serializes it: the enum's type names, ToString and the I32.
pub fn enum_value(type_name: &str, to_string: &str, value: i32) -> Value {
    Object {
        type_names: Some(enum_types(type_name)),
        to_string: Some(to_string.to_string()),
        value: Some(Box::new(Value::I32(value))),
        ..Object::default()
    }
    .into_value()
}

/// A list object (`System.Collections.ArrayList` unless other type names are given).
pub fn list_value(type_names: &[&str], items: Vec<Value>) -> Value {
    let names: &[&str] = if type_names.is_empty() {
        &["System.Collections.ArrayList", "System.Object"]
    } else {
        type_names
    };
    Object::new()
        .with_types(names)
        .with_collection(Collection::List(items))
        .into_value()
}

/// A `System.Collections.Hashtable` with the given entries.
pub fn hashtable_value(entries: Vec<(Value, Value)>) -> Value {
    Object::new()
        .with_types(&["System.Collections.Hashtable", "System.Object"])
        .with_collection(Collection::Dictionary(entries))
        .into_value()
}

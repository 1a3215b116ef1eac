//! CLIXML: recorded shapes, round trips of random values, hostile input.

use std::sync::Arc;

use psrp::clixml::{self, random, ClixmlError, Collection, Limits, Object, Value};

#[test]
fn recorded_enum_with_tnref_and_refs() {
    let xml = r#"<Obj RefId="0"><MS>
      <Obj N="MergeMyResult" RefId="7"><TN RefId="3"><T>System.Management.Automation.Runspaces.PipelineResultTypes</T><T>System.Enum</T><T>System.ValueType</T><T>System.Object</T></TN><ToString>None</ToString><I32>0</I32></Obj>
      <Obj N="MergeToResult" RefId="8"><TNRef RefId="3" /><ToString>None</ToString><I32>0</I32></Obj>
      <Ref N="Again" RefId="7" />
      <S N="Cmd">actual_x005F_x000A_string_x000D__x000A_</S>
      <Nil N="UseLocalScope" />
      <C N="character">97</C>
      <DT N="When">2018-06-13T23:46:28.00516+00:00</DT>
      <Version N="protocolversion">2.3</Version>
      <BA N="b">AQI=</BA>
      <G N="g">{76056A84-51DC-4F24-9262-CA2A55464B2B}</G>
    </MS></Obj>"#;
    let v = clixml::parse(xml.as_bytes()).unwrap();
    let o = v.as_object().unwrap();
    let my = v.get("MergeMyResult").unwrap();
    let to = v.get("MergeToResult").unwrap();
    assert_eq!(my.as_i32(), Some(0));
    assert_eq!(my.display(), "None");
    assert!(my.as_object().unwrap().is_type("System.Enum"));
    // TNRef shares the list; Ref shares the object.
    assert!(Arc::ptr_eq(
        my.as_object().unwrap().type_names.as_ref().unwrap(),
        to.as_object().unwrap().type_names.as_ref().unwrap()
    ));
    match (my, v.get("Again").unwrap()) {
        (Value::Object(a), Value::Object(b)) => assert!(Arc::ptr_eq(a, b)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        v.get("Cmd").unwrap().as_str(),
        Some("actual_x000A_string\r\n")
    );
    assert!(v.get("UseLocalScope").unwrap().is_nil());
    assert_eq!(v.get("character"), Some(&Value::Char(97)));
    assert_eq!(v.get("b"), Some(&Value::Bytes(vec![1, 2])));
    assert_eq!(
        v.get("g"),
        Some(&Value::Guid("76056a84-51dc-4f24-9262-ca2a55464b2b".into()))
    );
    assert_eq!(o.extended.len(), 10);
    // Written again: the shared object becomes a Ref, the type list a TNRef.
    let out = clixml::write(&v);
    assert!(out.contains(r#"<Ref N="Again" RefId="1" />"#), "{out}");
    assert!(out.contains(r#"<TNRef RefId="0" />"#), "{out}");
    assert!(
        out.contains("actual_x005F_x000A_string_x000D__x000A_"),
        "{out}"
    );
    assert_eq!(clixml::parse(out.as_bytes()).unwrap(), v);
}

#[test]
fn bare_primitives_and_bom() {
    assert_eq!(
        clixml::parse(b"\xEF\xBB\xBF<I32 N=\"RunspaceState\">2</I32>").unwrap(),
        Value::I32(2)
    );
    assert_eq!(
        clixml::parse(b"<S />").unwrap(),
        Value::String(String::new())
    );
    assert_eq!(clixml::parse(b"<S>  a  </S>").unwrap(), Value::str("  a  "));
    assert_eq!(
        clixml::parse(b"<S>a&amp;b&#x41;</S>").unwrap(),
        Value::str("a&bA")
    );
    assert_eq!(
        clixml::parse(b"<Db>INF</Db>").unwrap(),
        Value::Double(f64::INFINITY)
    );
    assert_eq!(
        clixml::parse(b"<Db>1E+20</Db>").unwrap(),
        Value::Double(1e20)
    );
    assert_eq!(clixml::parse(b"<B>true</B>").unwrap(), Value::Bool(true));
    assert_eq!(clixml::write(&Value::Double(1e20)), "<Db>1E20</Db>");
    assert_eq!(clixml::write(&Value::Double(2.5)), "<Db>2.5</Db>");
    assert_eq!(clixml::write(&Value::Nil), "<Nil />");
}

#[test]
fn bad_values_are_clear_errors() {
    for (xml, want) in [
        ("<I32>x</I32>", "I32"),
        ("<I32>99999999999</I32>", "I32"),
        ("<By>256</By>", "By"),
        ("<B>yes</B>", "B"),
        ("<G>nope</G>", "G"),
        ("<Version>1</Version>", "Version"),
        ("<BA>!!!</BA>", "BA"),
        ("<D>1,5</D>", "D"),
    ] {
        match clixml::parse(xml.as_bytes()) {
            Err(ClixmlError::BadValue { element, .. }) => assert_eq!(element, want, "{xml}"),
            other => panic!("{xml}: {other:?}"),
        }
    }
    for xml in [
        "",
        "<S>",
        "<S></T>",
        "<Obj><Bogus/></Obj>",
        "<Obj RefId=\"0\"><DCT><En><S N=\"Key\">k</S></En></DCT></Obj>",
        "<Obj><TNRef RefId=\"9\"/></Obj>",
        "<Ref RefId=\"0\" />",
        "<S>&ent;</S>",
        "<!DOCTYPE x [<!ENTITY a \"b\">]><S>&a;</S>",
        "<S>a</S><S>b</S>",
        "<I32><I32>1</I32></I32>",
        "<Obj RefId=\"0\"><MS><Obj N=\"a\" RefId=\"0\"/></MS></Obj>",
    ] {
        assert!(clixml::parse(xml.as_bytes()).is_err(), "{xml}");
    }
}

#[test]
fn reference_cycles_are_refused() {
    let xml = r#"<Obj RefId="0"><MS><Obj N="child" RefId="1"><MS><Ref N="parent" RefId="0" /></MS></Obj></MS></Obj>"#;
    assert_eq!(
        clixml::parse(xml.as_bytes()),
        Err(ClixmlError::Cycle("0".into()))
    );
    let self_ref = r#"<Obj RefId="5"><LST><Ref RefId="5" /></LST></Obj>"#;
    assert_eq!(
        clixml::parse(self_ref.as_bytes()),
        Err(ClixmlError::Cycle("5".into()))
    );
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let n = 100_000;
    let xml = format!("{}{}", "<Obj><LST>".repeat(n), "</LST></Obj>".repeat(n));
    assert_eq!(
        clixml::parse(xml.as_bytes()),
        Err(ClixmlError::Limit("nesting depth"))
    );
    // Just under the limit works.
    let ok = 49;
    let xml = format!(
        "{}<S>x</S>{}",
        "<Obj><LST>".repeat(ok),
        "</LST></Obj>".repeat(ok)
    );
    let mut v = clixml::parse(xml.as_bytes()).unwrap();
    for _ in 0..ok {
        v = v.items().unwrap()[0].clone();
    }
    assert_eq!(v, Value::str("x"));
}

#[test]
fn huge_counts_are_refused() {
    let limits = Limits {
        max_elements: 1000,
        ..Limits::default()
    };
    let xml = format!("<Obj><LST>{}</LST></Obj>", "<I32>1</I32>".repeat(1000));
    assert_eq!(
        clixml::parse_with(xml.as_bytes(), &limits),
        Err(ClixmlError::Limit("element count"))
    );
    let small = Limits {
        max_input: 10,
        ..Limits::default()
    };
    assert_eq!(
        clixml::parse_with(b"<S>0123456789</S>", &small),
        Err(ClixmlError::Limit("input size"))
    );
}

#[test]
fn billion_laughs_by_references_is_refused() {
    // Each level is a list holding the previous level twice: 2^40 nodes if expanded.
    let mut xml = String::from("<Obj RefId=\"0\"><LST><S>lol</S><S>lol</S></LST></Obj>");
    for i in 1..=40 {
        xml = format!(
            "<Obj RefId=\"w{i}\"><LST>{xml}<Ref RefId=\"{}\" /></LST></Obj>",
            if i == 1 {
                "0".to_string()
            } else {
                format!("w{}", i - 1)
            }
        );
    }
    // Nested definitions make the innermost level the first defined.
    let err = clixml::parse(xml.as_bytes()).unwrap_err();
    assert_eq!(err, ClixmlError::Limit("expanded size (references)"));
    // A modest amount of sharing is fine and stays shared.
    let shared = format!(
        "<Obj RefId=\"a\"><LST><Obj RefId=\"0\"><S>x</S></Obj>{}</LST></Obj>",
        "<Ref RefId=\"0\" />".repeat(1000)
    );
    let v = clixml::parse(shared.as_bytes()).unwrap();
    assert_eq!(v.items().unwrap().len(), 1001);
}

#[test]
fn random_values_round_trip() {
    let mut rng = random::SplitMix(42);
    for i in 0..2000 {
        let v = random::value(&mut rng, 4);
        let xml = clixml::write(&v);
        let back = clixml::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("#{i}: {e}\n{xml}"));
        assert_eq!(back, v, "#{i}\n{xml}");
        // Writing what was read gives the same text (RefIds restart at 0 each time).
        assert_eq!(clixml::write(&back), xml, "#{i}");
    }
}

#[test]
fn objs_documents() {
    let vals = vec![
        Value::I32(1),
        Object::new()
            .with_types(&["A", "System.Object"])
            .with_collection(Collection::Dictionary(vec![(Value::str("k"), Value::Nil)]))
            .into_value(),
    ];
    let doc = clixml::write_objs(&vals);
    assert!(doc.starts_with("<Objs Version=\"1.1.0.1\""));
    assert_eq!(
        clixml::parse_objs(doc.as_bytes(), &Limits::default()).unwrap(),
        vals
    );
    assert!(clixml::parse_objs(b"<S>x</S>", &Limits::default()).is_err());
}

#[test]
fn property_names_are_escaped() {
    let v = Object::new()
        .with_ms("a\nb_x", Value::I32(1))
        .with_prop("q\"<", Value::I32(2))
        .into_value();
    let xml = clixml::write(&v);
    assert!(xml.contains(r#"N="a_x000A_b_x005F_x""#), "{xml}");
    assert!(xml.contains(r#"N="q&quot;&lt;""#), "{xml}");
    assert_eq!(clixml::parse(xml.as_bytes()).unwrap(), v);
}

//! The relay crate's folders form layers: each uses only the ones below it, so there is no
//! import circle (ARCHITECTURE.md names the layers and why).

use std::collections::BTreeSet;
use std::path::Path;

/// Lowest first.
const LAYERS: &[&str] = &[
    "config",
    "access",
    "discovery",
    "session",
    "targets",
    "ops",
    "cluster",
    "http",
    "commands",
];

fn sources(path: &Path, out: &mut Vec<String>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            sources(&entry.unwrap().path(), out);
        }
    } else if path.is_file() && path.extension().is_some_and(|e| e == "rs") {
        out.push(std::fs::read_to_string(path).unwrap());
    }
}

/// The top-level modules a layer's code names as `crate::X` (comments aside).
fn uses(layer: &str) -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join(layer), &mut files);
    sources(&src.join(format!("{layer}.rs")), &mut files);
    let mut used = BTreeSet::new();
    for file in files {
        for line in file.lines() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let name: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name != layer {
                    used.insert(name);
                }
            }
        }
    }
    used
}

#[test]
fn each_layer_uses_only_the_layers_below() {
    let mut wrong = Vec::new();
    for (i, layer) in LAYERS.iter().enumerate() {
        let below = &LAYERS[..i];
        for used in uses(layer) {
            if !below.contains(&used.as_str()) {
                wrong.push(format!("{layer} uses crate::{used}"));
            }
        }
    }
    assert!(wrong.is_empty(), "layering broken: {wrong:?}");
}

#[test]
fn the_layers_are_every_module() {
    let lib =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs")).unwrap();
    let mods: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let mut layers = LAYERS.to_vec();
    layers.sort();
    assert_eq!(mods, layers);
}

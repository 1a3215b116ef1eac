//! The workspace's `rust-version` is true: no dependency declares a newer one.

use std::process::Command;

/// `1.89` and `1.89.0` are the same version.
fn version(v: &str) -> [u32; 3] {
    let mut out = [0; 3];
    for (slot, part) in out.iter_mut().zip(v.split('.')) {
        *slot = part.parse().unwrap_or(0);
    }
    out
}

#[test]
fn no_dependency_needs_a_newer_rust_than_the_workspace_states() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let members: Vec<&str> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    let packages = meta["packages"].as_array().unwrap();
    let ours = packages
        .iter()
        .find(|p| p["name"] == "winrelay")
        .and_then(|p| p["rust_version"].as_str())
        .expect("the workspace states a rust-version");
    let mut newer = Vec::new();
    for p in packages {
        if members.contains(&p["id"].as_str().unwrap_or("")) {
            continue;
        }
        if let Some(v) = p["rust_version"].as_str() {
            if version(v) > version(ours) {
                newer.push(format!("{} {} needs {v}", p["name"], p["version"]));
            }
        }
    }
    assert!(
        newer.is_empty(),
        "raise rust-version (now {ours}) in Cargo.toml: {newer:?}"
    );
}

// The relay embeds the browser app from ../dist (rust-embed). Rebuild when any file there
// changes, including files that did not exist at the last build.
fn main() {
    println!("cargo:rerun-if-changed=../dist");
    println!("cargo:rerun-if-changed=build.rs");
}

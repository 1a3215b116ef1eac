//! The configuration loader: any text as relay.toml. Either an error or a configuration whose
//! targets can be listed; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use winrelay::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(config) = Config::parse(text) {
        let targets = config.targets().expect("a parsed configuration has usable targets");
        for t in &targets {
            assert!(winrelay::config::valid_name(&t.name));
            assert!(t.endpoint.starts_with("https://") || t.allow_http);
        }
    }
});

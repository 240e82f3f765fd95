//! `domain/` stays pure: no async runtime, no I/O, no clock, no RNG, no UI or HTTP crates.
//! This reads the sources, so a new import fails here before review.

use std::path::Path;

const FORBIDDEN: &[&str] = &[
    "tokio",
    "async ",
    "await",
    "axum",
    "sqlx",
    "reqwest",
    "ratatui",
    "crossterm",
    "arboard",
    "std::fs",
    "std::net",
    "std::io",
    "std::process",
    "std::env",
    "std::thread",
    "SystemTime",
    "Instant",
    "Utc::now",
    "Local::now",
    "getrandom",
    "rand::",
    "tracing",
    "println!",
    "eprintln!",
];

#[test]
fn domain_imports_nothing_async_and_does_no_io() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("src/domain exists") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        // Unit tests inside the module may use anything; check only the code above them.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let l = line.trim_start();
            if l.starts_with("//") {
                continue;
            }
            for bad in FORBIDDEN {
                assert!(
                    !l.contains(bad),
                    "{}:{}: domain code must not use `{bad}`: {line}",
                    path.display(),
                    n + 1
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 5, "expected the domain modules, found {checked}");
}

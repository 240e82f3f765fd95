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

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let p = entry.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn the_console_never_touches_storage_or_the_server() {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui"),
        &mut files,
    );
    assert!(files.len() > 10);
    for f in files {
        let text = std::fs::read_to_string(&f).expect("read");
        for bad in ["crate::storage", "crate::server", "sqlx", "axum"] {
            assert!(
                !text.contains(bad),
                "{}: the console must talk HTTP only, found `{bad}`",
                f.display()
            );
        }
    }
}

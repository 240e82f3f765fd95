//! Entry point: error reporting, logging, command-line parsing and dispatch. Everything
//! else lives in the library (see `lib.rs` for the map).

use std::process::ExitCode;

// mimalloc: the request path allocates small, short-lived objects on two threads, where
// glibc's malloc showed as a sixth of the server's time under load (README "Speed").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // color-eyre's panic hook; the console adds ratatui's terminal restore in front of it.
    let _ = color_eyre::install();
    let cli = match keyconsole::cli::parse() {
        Ok(c) => c,
        Err(code) => return code,
    };
    // `serve` logs through a writer thread: this writes what is queued before exit.
    let log = keyconsole::cli::init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("keyconsole: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(keyconsole::cli::run(cli));
    // Don't wait for lingering blocking tasks (e.g. a terminal input thread).
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    // Every queued log line before the last word below.
    drop(log);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            keyconsole::cli::say(&format!("keyconsole: {e}"));
            e.exit_code()
        }
    }
}

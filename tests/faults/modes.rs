//! Database files hold org data, client addresses and secret hashes: the database and its
//! `-wal` and `-shm` files are created 0600, the console's data directory 0700.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use keyconsole::client::Client;
use keyconsole::console::start_embedded;

use crate::builders::new_key;
use crate::support::serve::{Served, org_create};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn assert_db_modes(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let p = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
}

/// The umask does not already make every file private (the test would then prove nothing).
fn umask_lets_others_read(dir: &Path) -> bool {
    let probe = dir.join("umask-probe");
    std::fs::write(&probe, b"").expect("probe");
    let open = mode(&probe) & 0o077 != 0;
    let _ = std::fs::remove_file(probe);
    if !open {
        eprintln!("note: the umask already hides new files from others; modes are checked anyway");
    }
    open
}

async fn write_once(url: &str, token: &keyconsole::domain::key::Secret) {
    let c = Client::new(url, Some(token.clone())).expect("client");
    c.create_key(&new_key("a write")).await.expect("create");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn org_create_and_serve_create_make_private_database_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    umask_lets_others_read(dir.path());
    // `org create` makes the database; `serve` writes to it (creating -wal and -shm).
    let db = dir.path().join("org.db");
    let url = format!("sqlite://{}", db.display());
    let owner = org_create(&url);
    assert_eq!(mode(&db), 0o600);
    let mut s = Served::start(&["--database", &url]);
    write_once(&s.url, &owner.secret).await;
    assert_db_modes(&db);
    assert_eq!(s.term(), 0);

    // `serve --create` makes an empty one.
    let db = dir.path().join("serve.db");
    let url = format!("sqlite://{}", db.display());
    let mut s = Served::start(&["--database", &url, "--create"]);
    assert_eq!(mode(&db), 0o600);
    // A write while `serve` holds the database open: SQLite keeps `-wal` and `-shm` (which
    // it may drop and recreate between connections) as long as a connection is open.
    let owner = org_create(&url);
    write_once(&s.url, &owner.secret).await;
    assert_db_modes(&db);
    assert_eq!(s.term(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_creates_its_data_directory_0700_and_its_database_0600() {
    let parent = tempfile::tempdir().expect("tempdir");
    umask_lets_others_read(parent.path());
    let data = parent.path().join("data");
    let e = start_embedded(&data, false)
        .await
        .expect("embedded service");
    assert_eq!(mode(&data), 0o700);
    let db = e.db_path.clone();
    assert_db_modes(&db);
    e.stop().await;
}

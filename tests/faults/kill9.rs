//! `kill -9` of a real `keyconsole serve` while clients create keys, several times over one
//! database; then a restart checks every acknowledged key: each created key's secret still
//! verifies.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyconsole::client::Client;
use keyconsole::domain::key::Secret;
use tokio::task::JoinSet;

use crate::builders::new_key;
use crate::support::serve::{Served, org_create};

const ROUNDS: usize = 3;
const WRITERS: usize = 4;
/// Acknowledged creates to wait for before each kill.
const PER_ROUND: usize = 60;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_creates_loses_no_acknowledged_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("k.db").display());
    let owner = org_create(&url);
    let acknowledged: Arc<Mutex<Vec<(String, Secret)>>> = Arc::default();
    for round in 0..ROUNDS {
        let mut s = Served::start(&["--database", &url]);
        let c = Client::new(&s.url, Some(owner.secret.clone())).expect("client");
        let start = acknowledged.lock().expect("lock").len();
        let mut writers = JoinSet::new();
        for w in 0..WRITERS {
            let (c, acked) = (c.clone(), Arc::clone(&acknowledged));
            writers.spawn(async move {
                for i in 0.. {
                    let req = new_key(&format!("r{round} w{w} #{i}"));
                    // Once the server is killed every request fails: the writer stops.
                    match c.create_key(&req).await {
                        Ok(created) => acked
                            .lock()
                            .expect("lock")
                            .push((created.key.id, created.secret)),
                        Err(_) => break,
                    }
                }
            });
        }
        for _ in 0..600 {
            if acknowledged.lock().expect("lock").len() >= start + PER_ROUND {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Mid-create: writers are still sending.
        s.kill9();
        while writers.join_next().await.is_some() {}
        let made = acknowledged.lock().expect("lock").len() - start;
        assert!(
            made >= PER_ROUND,
            "round {round}: only {made} creates acknowledged"
        );
    }

    let mut s = Served::start(&["--database", &url]);
    let keys = acknowledged.lock().expect("lock").clone();
    for (id, secret) in &keys {
        let c = Client::new(&s.url, Some(secret.clone())).expect("client");
        let me = c
            .me()
            .await
            .unwrap_or_else(|e| panic!("acknowledged key {id} lost after kill -9: {e}"));
        assert_eq!(&me.key.expect("a key").id, id);
    }
    assert_eq!(s.term(), 0, "{}", s.log());
}

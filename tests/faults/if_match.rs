//! `If-Match` under contention: 20 keep-alive clients send `PATCH` with one version at the
//! same moment. Exactly one may win; every other must get 412, and the stored key must be
//! what the winner was told.

use std::sync::Arc;

use keyconsole::api::{AuditQuery, KeyObject, UpdateKeyRequest};
use keyconsole::client::Client;
use keyconsole::domain::decision::ErrorCode;
use tokio::sync::Barrier;

use crate::common::TestServer;

const WRITERS: usize = 20;
const TRIALS: usize = 60;

/// What writer `i` of a trial asks for. Every fourth writer asks for what the key already
/// holds (its name and scopes, or its `enabled`): a conditional PATCH that changes nothing
/// must not succeed beside one that changes the key. The others ask for a distinct name and
/// scope set, or flip `enabled`.
fn edit(trial: usize, i: usize, current: &KeyObject, enabled_edit: bool) -> UpdateKeyRequest {
    let same = i.is_multiple_of(4);
    if enabled_edit {
        UpdateKeyRequest {
            enabled: Some(if same {
                current.enabled
            } else {
                !current.enabled
            }),
            ..Default::default()
        }
    } else if same {
        UpdateKeyRequest {
            name: Some(current.name.clone()),
            scopes: Some(current.scopes.clone()),
            ..Default::default()
        }
    } else {
        let scopes = ["runs:read", "runs:write", "webhooks:read", "credits:read"];
        UpdateKeyRequest {
            name: Some(format!("t{trial} w{i}")),
            scopes: Some(vec![scopes[i % scopes.len()].to_owned()]),
            ..Default::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_if_match_writers_exactly_one_wins() {
    let s = TestServer::start().await;
    let k = s.create("Contended", &["runs:read"]).await;
    let id = k.key.id.clone();
    let clients: Vec<Client> = (0..WRITERS)
        .map(|_| Client::new(&s.url, Some(s.owner.secret.clone())).expect("client"))
        .collect();
    // Each client opens its own keep-alive connection before the race.
    for c in &clients {
        c.get_key(&id).await.expect("warm up");
    }
    let mut changed = 0;
    for trial in 0..TRIALS {
        let enabled_edit = trial % 2 == 1;
        let current = s.client.get_key(&id).await.expect("current");
        let barrier = Arc::new(Barrier::new(WRITERS));
        let mut tasks = Vec::new();
        for (i, c) in clients.iter().enumerate() {
            let (c, id, barrier) = (c.clone(), id.clone(), Arc::clone(&barrier));
            let req = edit(trial, i, &current, enabled_edit);
            let version = current.version;
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                (i, c.update_key(&id, &req, Some(version)).await)
            }));
        }
        let mut won: Vec<(usize, KeyObject)> = Vec::new();
        for t in tasks {
            match t.await.expect("join") {
                (i, Ok(k)) => won.push((i, k)),
                (i, Err(e)) => assert_eq!(
                    (e.code(), e.status()),
                    (Some(ErrorCode::VersionMismatch), Some(412)),
                    "trial {trial}, writer {i}: {e}"
                ),
            }
        }
        let kind = if enabled_edit {
            "enabled"
        } else {
            "name/scopes"
        };
        assert_eq!(
            won.len(),
            1,
            "trial {trial} ({kind} edits): {} writers got 200 with If-Match {}: {:?}",
            won.len(),
            current.version,
            won.iter()
                .map(|(i, k)| (i, k.version, &k.name, k.enabled))
                .collect::<Vec<_>>()
        );
        let (winner, told) = &won[0];
        assert_eq!(told.version, current.version + 1, "trial {trial}");
        let stored = s.client.get_key(&id).await.expect("stored");
        assert_eq!(
            (&stored.name, &stored.scopes, stored.enabled, stored.version),
            (&told.name, &told.scopes, told.enabled, told.version),
            "trial {trial}: the stored key is not what writer {winner} was told"
        );
        if (&told.name, &told.scopes, told.enabled)
            != (&current.name, &current.scopes, current.enabled)
        {
            changed += 1;
        }
    }
    // One audit entry per acknowledged change, plus the creation.
    let audit = s
        .client
        .audit(&AuditQuery {
            limit: Some(500),
            key_id: Some(id.clone()),
            ..AuditQuery::default()
        })
        .await
        .expect("audit");
    assert_eq!(audit.data.len(), changed + 1, "audit entries of the key");
}

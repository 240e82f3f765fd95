//! Two instances, one database: the same `If-Match` version sent to both, one wins and the
//! other gets 412; two rotations of one key, one 201 and one 409.

use reqwest::Method;
use serde_json::json;

use crate::http::call;
use crate::support::pg::TestDb;
use crate::support::serve::{Served, org_create};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn same_if_match_on_two_instances_one_200_one_412_and_rotations_one_201_one_409() {
    let Some(db) = TestDb::fresh("races").await else {
        return;
    };
    let owner = org_create(&db.url);
    let token = owner.secret.expose().to_owned();
    let a = Served::start(&["--database", &db.url]);
    let b = Served::start(&["--database", &db.url]);
    let (ha, hb) = (reqwest::Client::new(), reqwest::Client::new());
    for round in 0..6 {
        let created = call(
            &ha,
            &a.url,
            &token,
            Method::POST,
            "/v1/keys",
            Some(json!({"name": format!("k{round}"), "scopes": ["runs:read"]})),
            &[],
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text);
        let id = created.body["key"]["id"].as_str().expect("id").to_owned();
        let version = created.body["key"]["version"]
            .as_i64()
            .expect("version")
            .to_string();
        let path = format!("/v1/keys/{id}");
        let if_match = format!("\"{version}\"");
        let headers = [("if-match", if_match.as_str())];
        let (ra, rb) = tokio::join!(
            call(
                &ha,
                &a.url,
                &token,
                Method::PATCH,
                &path,
                Some(json!({"name": "from A"})),
                &headers
            ),
            call(
                &hb,
                &b.url,
                &token,
                Method::PATCH,
                &path,
                Some(json!({"name": "from B"})),
                &headers
            )
        );
        let mut st = [ra.status, rb.status];
        st.sort();
        assert_eq!(st, [200, 412], "round {round}: {} / {}", ra.text, rb.text);
        let loser = if ra.status == 412 { &ra } else { &rb };
        assert_eq!(loser.body["error"]["code"], "version_mismatch");
        let winner = if ra.status == 200 { "from A" } else { "from B" };
        // Both instances read what the winner was told.
        for (h, url) in [(&ha, &a.url), (&hb, &b.url)] {
            let got = call(h, url, &token, Method::GET, &path, None, &[]).await;
            assert_eq!(got.body["name"], winner);
        }
        let rotate = format!("/v1/keys/{id}/rotate");
        let (ra, rb) = tokio::join!(
            call(
                &ha,
                &a.url,
                &token,
                Method::POST,
                &rotate,
                Some(json!({"grace_period_seconds": 60})),
                &[]
            ),
            call(
                &hb,
                &b.url,
                &token,
                Method::POST,
                &rotate,
                Some(json!({"grace_period_seconds": 60})),
                &[]
            )
        );
        let mut st = [ra.status, rb.status];
        st.sort();
        assert_eq!(st, [201, 409], "round {round}: {} / {}", ra.text, rb.text);
        let won = if ra.status == 201 { &ra } else { &rb };
        let new_id = won.body["key"]["id"].as_str().expect("new id");
        let old = call(&hb, &b.url, &token, Method::GET, &path, None, &[]).await;
        assert_eq!(
            old.body["rotated_to"], new_id,
            "the old key names the one winner"
        );
    }
    // The audit log has exactly one update and one rotation per round.
    let audit = call(
        &ha,
        &a.url,
        &token,
        Method::GET,
        "/v1/audit?limit=500",
        None,
        &[],
    )
    .await;
    let actions: Vec<&str> = audit.body["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions.iter().filter(|a| **a == "key.updated").count(),
        6,
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "key.rotated").count(),
        6,
        "{actions:?}"
    );
}

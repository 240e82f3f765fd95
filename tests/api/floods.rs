//! Floods and the failed-auth limiter: a public key alone from a wrong Origin counts toward
//! the limit, auth events are bounded per (org, code, client) and minute, a valid key gets
//! through a blocked address, and the client address comes from a forwarding header only
//! behind a trusted proxy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keyconsole::api::{AuthEvent, AuthEventsQuery};
use keyconsole::server::ServerConfig;
use keyconsole::server::client_addr::{Cidr, ForwardedHeader, TrustedProxies};
use keyconsole::server::events::EVENTS_PER_MINUTE;
use keyconsole::storage::Retention;
use reqwest::Method;

use crate::common::{TestServer, code, raw, request_id, test_config, unknown_secret};

const ME: &str = "/v1/me";

/// Every auth event of the owner's org (all pages).
async fn all_events(s: &TestServer) -> Vec<AuthEvent> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = s
            .client
            .auth_events(&AuthEventsQuery {
                limit: Some(500),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .expect("events");
        out.extend(page.data);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_key_flood_from_a_wrong_origin_is_limited_and_evicts_nothing() {
    let config = ServerConfig {
        failed_auth_limit: 100,
        // The flood must see the widget's key in the cache throughout, however slow the
        // machine, so that every 429 is attributed to its org.
        cache_ttl: Duration::from_secs(3600),
        ..test_config()
    };
    // Retention far below the flood: without the bound the flood would push everything out.
    let retention = Retention {
        auth_events_per_org: 1_000,
        ..Retention::default()
    };
    let s = TestServer::start_with(config, None, retention).await;
    let widget = s.widget().await;
    // A genuine denial before the flood, from the same address.
    let reader = s.create("Reader", &["runs:read"]).await;
    let (st, h, _) = raw(
        &s.url,
        Method::GET,
        "/v1/keys",
        &[(
            "authorization",
            &format!("Bearer {}", reader.secret.expose()),
        )],
        None,
    )
    .await;
    assert_eq!(st, 403);
    let genuine = request_id(&h);
    s.flush().await;
    let before = crate::common::database_bytes(&s).await;

    const FLOOD: usize = 20_500;
    const WORKERS: usize = 32;
    let http = reqwest::Client::new();
    let next = Arc::new(AtomicUsize::new(0));
    let counts = Arc::new([(); 3].map(|()| AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for _ in 0..WORKERS {
        let (http, next, counts) = (http.clone(), next.clone(), counts.clone());
        let url = format!("{}{ME}", s.url);
        let auth = format!("Bearer {}", widget.key.id);
        workers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::Relaxed) < FLOOD {
                let st = http
                    .get(&url)
                    .header("authorization", &auth)
                    .header("origin", "https://evil.example")
                    .send()
                    .await
                    .expect("send")
                    .status()
                    .as_u16();
                let i = match st {
                    403 => 0,
                    429 => 1,
                    _ => {
                        eprintln!("flood: unexpected status {st}");
                        2
                    }
                };
                counts[i].fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
    let [forbidden, limited, other] = counts
        .as_ref()
        .each_ref()
        .map(|c| c.load(Ordering::Relaxed));
    // Wrong-origin public keys count toward the limit: the first 100 are 403, then 429.
    assert_eq!(other, 0);
    // A failure is counted once its answer is ready, so requests already past the check
    // when the 100th failure lands still get their 403: at most one per worker.
    assert!(
        (100..=100 + WORKERS).contains(&forbidden),
        "{forbidden} answered 403"
    );
    assert_eq!(limited, FLOOD - forbidden);

    // The minute ends; everything is written.
    s.clock.advance(chrono::Duration::seconds(61));
    s.flush().await;
    let events = all_events(&s).await;
    assert!(
        events.iter().any(|e| e.request_id == genuine),
        "the genuine event survived the flood"
    );
    // Per code: EVENTS_PER_MINUTE single events and one aggregate, counting every request.
    for (code_name, total) in [("origin_not_allowed", forbidden), ("rate_limited", limited)] {
        let of: Vec<&AuthEvent> = events.iter().filter(|e| e.code == code_name).collect();
        let singles = of.iter().filter(|e| e.count == 1).count();
        let aggregates: Vec<&&AuthEvent> = of.iter().filter(|e| e.count > 1).collect();
        assert_eq!(singles, EVENTS_PER_MINUTE as usize, "{code_name}");
        assert_eq!(aggregates.len(), 1, "{code_name}");
        let sum: u64 = of.iter().map(|e| e.count).sum();
        assert_eq!(
            sum, total as u64,
            "{code_name}: every request is accounted for"
        );
        let agg = aggregates[0];
        assert_eq!(agg.ip, "127.0.0.1");
        assert_eq!(agg.key_id.as_deref(), Some(widget.key.id.as_str()));
        assert_eq!(agg.origin.as_deref(), Some("https://evil.example"));
    }
    assert_eq!(events.len(), 2 * (EVENTS_PER_MINUTE as usize + 1) + 1);
    // The database grew by a few dozen rows, not twenty thousand (about 4 MB unbounded).
    let grown = crate::common::database_bytes(&s)
        .await
        .saturating_sub(before);
    assert!(grown < 256 * 1024, "database grew by {grown} bytes");

    // The limit is per minute: in the next one the address may try again.
    assert_eq!(
        public_key_from(&s, &widget.key.id, "https://shop.example.com").await,
        200
    );
}

/// `GET /v1/me` with a public key alone from `origin`: the status.
async fn public_key_from(s: &TestServer, pk: &str, origin: &str) -> u16 {
    let auth = format!("Bearer {pk}");
    let headers = [("authorization", auth.as_str()), ("origin", origin)];
    raw(&s.url, Method::GET, ME, &headers, None).await.0
}

async fn fail(s: &TestServer, extra: &[(&str, &str)]) -> (u16, String) {
    let mut headers = vec![("authorization", "Bearer sk_live_nope")];
    headers.extend_from_slice(extra);
    let (st, h, _) = raw(&s.url, Method::GET, ME, &headers, None).await;
    (st, request_id(&h))
}

async fn blocked_server(proxies: TrustedProxies) -> TestServer {
    let config = ServerConfig {
        failed_auth_limit: 3,
        trusted_proxies: proxies,
        ..test_config()
    };
    TestServer::start_with(config, None, Retention::default()).await
}

#[tokio::test]
async fn a_valid_key_gets_through_a_blocked_address_and_a_bad_one_does_not() {
    let s = blocked_server(TrustedProxies::default()).await;
    let worker = s.create("Worker", &["runs:read"]).await;
    let wc = s.client_with(&worker.secret);
    s.client.me().await.expect("owner, now cached");
    wc.me().await.expect("worker, now cached");
    let widget = s.widget().await;
    for _ in 0..3 {
        assert_eq!(fail(&s, &[]).await.0, 401);
    }
    // Blocked: bad credentials get 429.
    let (st, _, body) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", "Bearer sk_live_nope")],
        None,
    )
    .await;
    assert_eq!((st, code(&body)), (429, "rate_limited"));
    // Valid keys get through, secret alone or in its pair, on any endpoint, with their
    // ordinary answers (a 403 stays a 403).
    s.client.me().await.expect("owner through the block");
    s.client
        .list_keys(&Default::default())
        .await
        .expect("owner lists keys");
    let pair = keyconsole::domain::key::Secret::new(format!(
        "{}:{}",
        worker.key.id,
        worker.secret.expose()
    ));
    s.client_with(&pair)
        .me()
        .await
        .expect("pair through the block");
    let e = wc
        .list_keys(&Default::default())
        .await
        .expect_err("no keys:read");
    assert_eq!(e.status(), Some(403));
    // A pair whose public key is not the secret's is not a valid key.
    let wrong_pair = format!("Bearer {}:{}", widget.key.id, worker.secret.expose());
    let (st, _, _) = raw(
        &s.url,
        Method::GET,
        ME,
        &[("authorization", &wrong_pair)],
        None,
    )
    .await;
    assert_eq!(st, 429);
    // A public key alone proves nothing (it is public), even from its allowed Origin.
    assert_eq!(
        public_key_from(&s, &widget.key.id, "https://shop.example.com").await,
        429
    );
    // A key disabled meanwhile is not valid any more.
    s.set_enabled(&worker.key.id, false).await;
    let e = wc.me().await.expect_err("disabled");
    assert_eq!(e.status(), Some(429));
    // A valid key this instance has never looked up waits out the window: finding out
    // would need a database read.
    let unseen = s.create("Unseen", &["runs:read"]).await;
    let e = s
        .client_with(&unseen.secret)
        .me()
        .await
        .expect_err("unknown to the cache");
    assert_eq!(e.status(), Some(429));
    s.clock.advance(chrono::Duration::seconds(61));
    s.client_with(&unseen.secret)
        .me()
        .await
        .expect("next window");
}

#[tokio::test]
async fn an_aged_cache_entry_still_lets_its_valid_key_through() {
    let config = ServerConfig {
        failed_auth_limit: 2,
        // Every entry is older than the TTL at once: the key is re-read, never trusted stale.
        cache_ttl: Duration::ZERO,
        ..test_config()
    };
    let s = TestServer::start_with(config, None, Retention::default()).await;
    let k = s.create("Later disabled", &["runs:read"]).await;
    let kc = s.client_with(&k.secret);
    s.client.me().await.expect("looked up once");
    kc.me().await.expect("looked up once");
    for _ in 0..2 {
        assert_eq!(fail(&s, &[]).await.0, 401);
    }
    assert_eq!(fail(&s, &[]).await.0, 429);
    s.client
        .me()
        .await
        .expect("known key, re-read, gets through");
    kc.me().await.expect("known key, re-read, gets through");
    // Disabled since (the change also drops it from the cache): 429.
    s.set_enabled(&k.key.id, false).await;
    assert_eq!(kc.me().await.expect_err("disabled").status(), Some(429));
}

fn proxies(nets: &[&str], header: ForwardedHeader) -> TrustedProxies {
    TrustedProxies::new(
        nets.iter()
            .map(|n| n.parse::<Cidr>().expect("cidr"))
            .collect(),
        header,
    )
}

async fn event_ip(s: &TestServer, rid: &str) -> String {
    let ev = s.events_of(rid).await;
    assert_eq!(ev.len(), 1, "{rid}");
    ev[0].ip.clone()
}

#[tokio::test]
async fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    // Trusts a network the test's loopback peer is not in.
    for p in [
        TrustedProxies::default(),
        proxies(&["10.0.0.0/8"], ForwardedHeader::XForwardedFor),
    ] {
        let s = blocked_server(p).await;
        s.client.me().await.expect("owner cached");
        // A new spoofed address every time does not escape the limit.
        for i in 0..3 {
            let xff = format!("203.0.113.{i}");
            let fwd = format!("for=198.51.100.{i}");
            let (st, _) = fail(&s, &[("x-forwarded-for", &xff), ("forwarded", &fwd)]).await;
            assert_eq!(st, 401);
        }
        let (st, _) = fail(&s, &[("x-forwarded-for", "203.0.113.99")]).await;
        assert_eq!(st, 429, "the spoofed header was ignored");
        // Auth events name the peer: a denial the owner's org sees (a pair naming its key).
        let pair = format!("Bearer {}:{}", s.owner.key.id, unknown_secret().expose());
        let (_, h, _) = raw(
            &s.url,
            Method::GET,
            ME,
            &[("authorization", &pair), ("x-forwarded-for", "203.0.113.7")],
            None,
        )
        .await;
        assert_eq!(event_ip(&s, &request_id(&h)).await, "127.0.0.1");
    }
}

#[tokio::test]
async fn behind_a_trusted_proxy_its_forwarding_header_names_the_client() {
    for (header, name, value) in [
        (
            ForwardedHeader::XForwardedFor,
            "x-forwarded-for",
            "1.1.1.1, 203.0.113.7",
        ),
        (
            ForwardedHeader::Forwarded,
            "forwarded",
            "for=1.1.1.1, for=\"203.0.113.7:4711\"",
        ),
    ] {
        let s = blocked_server(proxies(&["127.0.0.0/8"], header)).await;
        let other = if name == "forwarded" {
            "for=198.51.100.9"
        } else {
            "198.51.100.9"
        };
        for _ in 0..3 {
            assert_eq!(fail(&s, &[(name, value)]).await.0, 401);
        }
        // That client is blocked; another client behind the same proxy is not, nor is the
        // proxy itself.
        assert_eq!(fail(&s, &[(name, value)]).await.0, 429);
        // The spoofable left part does not matter: the same right-most client is blocked.
        let right_only = if name == "forwarded" {
            "for=203.0.113.7"
        } else {
            "203.0.113.7"
        };
        assert_eq!(fail(&s, &[(name, right_only)]).await.0, 429);
        assert_eq!(fail(&s, &[(name, other)]).await.0, 401);
        assert_eq!(fail(&s, &[]).await.0, 401);
        // Auth events name the client.
        let pair = format!("Bearer {}:{}", s.owner.key.id, unknown_secret().expose());
        let (_, h, _) = raw(
            &s.url,
            Method::GET,
            ME,
            &[("authorization", &pair), (name, other)],
            None,
        )
        .await;
        assert_eq!(
            event_ip(&s, &request_id(&h)).await,
            "198.51.100.9",
            "{name}"
        );
    }
}

//! The HTTP layer over raw TCP: heads the parser would refuse get the error body and a request
//! id, `Host` follows RFC 9112 §3.2, and the connection layer's timeouts, cap and graceful
//! shutdown. Every wait is bounded by [`HANG`], which only catches a hang: nothing here
//! asserts how long anything took.

use std::time::Duration;

use keyconsole::server::ServerConfig;
use keyconsole::storage::Retention;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{TestServer, test_config};

const HANG: Duration = Duration::from_secs(20);

/// One parsed response.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: serde_json::Value,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error body's code, checking that it has the §4 shape and the request id matches
    /// the `x-request-id` header.
    fn error_code(&self) -> String {
        let id = self.header("x-request-id").expect("x-request-id header");
        assert!(id.starts_with("req_") && id.len() == 24, "{id}");
        let e = &self.body["error"];
        assert_eq!(e["request_id"], id, "{:?}", self.body);
        assert!(
            e["type"].is_string() && e["message"].is_string(),
            "{:?}",
            self.body
        );
        e["code"].as_str().expect("code").to_owned()
    }
}

fn addr(s: &TestServer) -> String {
    s.url.trim_start_matches("http://").to_owned()
}

async fn connect(s: &TestServer) -> TcpStream {
    TcpStream::connect(addr(s)).await.expect("connect")
}

/// Read one response (head and a `content-length` body) from `stream`, keeping what follows
/// in `buf`. `None` when the server closed the connection first.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Resp> {
    let fut = async {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                let mut lines = head.split("\r\n");
                let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
                let headers: Vec<(String, String)> = lines
                    .filter_map(|l| l.split_once(':'))
                    .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                    .collect();
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                while buf.len() < end + 4 + len {
                    let mut chunk = [0u8; 8192];
                    let n = stream.read(&mut chunk).await.ok()?;
                    if n == 0 {
                        return None;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = serde_json::from_slice(&buf[end + 4..end + 4 + len])
                    .unwrap_or(serde_json::Value::Null);
                buf.drain(..end + 4 + len);
                return Some(Resp {
                    status,
                    headers,
                    body,
                });
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
    };
    tokio::time::timeout(HANG, fut).await.expect("no hang")
}

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n";

/// Send `request` on `stream` and read the answer's status.
async fn status_on(stream: &mut TcpStream, buf: &mut Vec<u8>, request: &[u8]) -> u16 {
    stream.write_all(request).await.expect("write");
    read_response(stream, buf).await.expect("answer").status
}

/// Send `request` on a new connection and read the answer.
async fn exchange(s: &TestServer, request: &[u8]) -> Resp {
    let mut stream = connect(s).await;
    stream.write_all(request).await.expect("write");
    read_response(&mut stream, &mut Vec::new())
        .await
        .expect("an answer before the server closed")
}

/// Whether the server closes `stream` (without answering) before [`HANG`].
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut chunk = [0u8; 1024];
    matches!(
        tokio::time::timeout(HANG, stream.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn a_nul_byte_in_a_header_gets_400_with_a_request_id() {
    let s = TestServer::start().await;
    let r = exchange(&s, b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: a\0b\r\n\r\n").await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_request")
    );
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("control character")),
        "{:?}",
        r.body
    );
    // Other control characters too.
    let r = exchange(
        &s,
        b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-a: a\x01b\r\n\r\n",
    )
    .await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_request")
    );
}

#[tokio::test]
async fn a_1_mib_header_gets_431_with_a_request_id() {
    let s = TestServer::start().await;
    let mut req = b"GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: ".to_vec();
    req.extend(std::iter::repeat_n(b'a', 1 << 20));
    req.extend_from_slice(b"\r\n\r\n");
    let r = exchange(&s, &req).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (431, "headers_too_large")
    );
    assert_eq!(r.header("connection"), Some("close"));
}

#[tokio::test]
async fn two_hundred_headers_get_431_with_a_request_id() {
    let s = TestServer::start().await;
    let mut req = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..200 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let r = exchange(&s, req.as_bytes()).await;
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (431, "headers_too_large")
    );
    // 99 extra fields (100 with host) are fine.
    let mut req = String::from("GET /healthz HTTP/1.1\r\nhost: x\r\n");
    for i in 0..99 {
        req.push_str(&format!("x-h{i}: v\r\n"));
    }
    req.push_str("\r\n");
    assert_eq!(exchange(&s, req.as_bytes()).await.status, 200);
}

#[tokio::test]
async fn a_huge_request_line_gets_414_with_a_request_id() {
    let s = TestServer::start().await;
    let req = format!("GET /{} HTTP/1.1\r\nhost: x\r\n\r\n", "a".repeat(40 * 1024));
    let r = exchange(&s, req.as_bytes()).await;
    assert_eq!((r.status, r.error_code().as_str()), (414, "uri_too_long"));
}

#[tokio::test]
async fn host_follows_rfc_9112() {
    let s = TestServer::start().await;
    let ok = exchange(&s, b"GET /healthz HTTP/1.1\r\nhost: localhost:7878\r\n\r\n").await;
    assert_eq!(ok.status, 200);
    assert!(ok.header("x-request-id").is_some());
    for (req, what) in [
        (&b"GET /healthz HTTP/1.1\r\n\r\n"[..], "no Host"),
        (
            b"GET /healthz HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n",
            "two Host",
        ),
        (
            b"GET /healthz HTTP/1.1\r\nhost: a\r\nHost: b\r\n\r\n",
            "two Host",
        ),
        (b"GET /healthz HTTP/1.1\r\nhost: a b\r\n\r\n", "a space"),
        (b"GET /healthz HTTP/1.1\r\nhost: u@a\r\n\r\n", "user info"),
        (b"GET /healthz HTTP/1.1\r\nhost: a:b\r\n\r\n", "a bad port"),
        (b"GET /healthz HTTP/1.1\r\nhost:\r\n\r\n", "empty"),
        (
            b"GET /healthz HTTP/1.0\r\nhost: a\r\nhost: a\r\n\r\n",
            "two Host (1.0)",
        ),
    ] {
        let r = exchange(&s, req).await;
        assert_eq!(
            (r.status, r.error_code().as_str()),
            (400, "invalid_request"),
            "{what}"
        );
        assert!(
            r.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Host")),
            "{what}: {:?}",
            r.body
        );
    }
    // HTTP/1.0 does not require Host.
    let r = exchange(&s, b"GET /healthz HTTP/1.0\r\n\r\n").await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn keep_alive_and_pipelining_still_work() {
    let s = TestServer::start().await;
    let mut stream = connect(&s).await;
    let mut buf = Vec::new();
    let secret = s.owner.secret.expose().to_owned();
    let me = format!("GET /v1/me HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {secret}\r\n\r\n");
    for _ in 0..3 {
        stream.write_all(me.as_bytes()).await.expect("write");
        let r = read_response(&mut stream, &mut buf).await.expect("answer");
        assert_eq!(r.status, 200);
    }
    // Three requests in one write: three answers, in order.
    let three = format!("{me}GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n{me}");
    stream.write_all(three.as_bytes()).await.expect("write");
    let statuses = [
        read_response(&mut stream, &mut buf).await.expect("1"),
        read_response(&mut stream, &mut buf).await.expect("2"),
        read_response(&mut stream, &mut buf).await.expect("3"),
    ];
    assert_eq!(statuses.each_ref().map(|r| r.status), [200, 200, 200]);
    assert!(statuses[0].body["org"].is_object());
    assert!(statuses[2].body["org"].is_object());
    // A bad pipelined head after a good one still gets its error body.
    let bad = format!("{me}GET /healthz HTTP/1.1\r\n\r\n");
    stream.write_all(bad.as_bytes()).await.expect("write");
    assert_eq!(
        read_response(&mut stream, &mut buf)
            .await
            .expect("ok")
            .status,
        200
    );
    let r = read_response(&mut stream, &mut buf).await.expect("no host");
    assert_eq!(
        (r.status, r.error_code().as_str()),
        (400, "invalid_request")
    );
}

fn quick_timeouts() -> ServerConfig {
    ServerConfig {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..test_config()
    }
}

#[tokio::test]
async fn a_head_that_never_finishes_is_closed_after_the_header_read_timeout() {
    let s = TestServer::start_with(quick_timeouts(), None, Retention::default()).await;
    let mut slow = connect(&s).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    // Trickling more bytes does not extend the deadline.
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        if slow.write_all(b"x-a: b\r\n").await.is_err() {
            break;
        }
    }
    assert!(
        closed_by_server(&mut slow).await,
        "the slow head was closed"
    );
    // A connection that sends nothing at all is closed too.
    let mut silent = connect(&s).await;
    assert!(closed_by_server(&mut silent).await);
    // The server still answers.
    assert_eq!(exchange(&s, HEALTHZ).await.status, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let s = TestServer::start_with(quick_timeouts(), None, Retention::default()).await;
    let mut stream = connect(&s).await;
    let mut buf = Vec::new();
    assert_eq!(status_on(&mut stream, &mut buf, HEALTHZ).await, 200);
    // Longer than the header-read timeout (1 s): the idle timeout (2 s) applies between
    // requests, so the connection is still usable.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(status_on(&mut stream, &mut buf, HEALTHZ).await, 200);
    assert!(
        closed_by_server(&mut stream).await,
        "idle connection closed"
    );
}

fn capped(n: usize) -> ServerConfig {
    ServerConfig {
        max_connections: Some(n),
        ..test_config()
    }
}

#[tokio::test]
async fn at_the_cap_the_longest_idle_connection_is_shed() {
    let s = TestServer::start_with(capped(3), None, Retention::default()).await;
    // Three idle connections, oldest first; each has sent part of a head.
    let mut idle = Vec::new();
    for _ in 0..3 {
        let mut c = connect(&s).await;
        c.write_all(b"GET /healthz HTTP/1.1\r\n")
            .await
            .expect("write");
        idle.push(c);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The server has accepted all three before the newcomer arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = exchange(&s, HEALTHZ).await;
    assert_eq!(r.status, 200, "the newcomer is served");
    assert!(closed_by_server(&mut idle[0]).await, "the oldest was shed");
    // The younger ones are still open and can finish their requests.
    for c in &mut idle[1..] {
        c.write_all(b"host: x\r\n\r\n").await.expect("write");
        let r = read_response(c, &mut Vec::new()).await.expect("answer");
        assert_eq!(r.status, 200);
    }
}

/// A request in progress: its body is promised but not sent.
async fn busy_connection(s: &TestServer) -> TcpStream {
    let mut c = connect(s).await;
    let head = format!(
        "POST /v1/keys HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{BODY_START}",
        s.owner.secret.expose(),
        BODY_START.len() + REST_OF_BODY.len()
    );
    c.write_all(head.as_bytes()).await.expect("write");
    c
}

const BODY_START: &str = "{\"name\"";
const REST_OF_BODY: &[u8] = b": \"finished late\", \"preset\": \"full\"}";

#[tokio::test]
async fn at_the_cap_with_every_connection_busy_a_newcomer_gets_503() {
    let s = TestServer::start_with(capped(2), None, Retention::default()).await;
    let mut busy = vec![busy_connection(&s).await, busy_connection(&s).await];
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = exchange(&s, HEALTHZ).await;
    assert_eq!((r.status, r.error_code().as_str()), (503, "unavailable"));
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(
        r.body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connection limit"))
    );
    // The busy requests were not disturbed.
    for c in &mut busy {
        c.write_all(REST_OF_BODY).await.expect("write");
        let r = read_response(c, &mut Vec::new()).await.expect("answer");
        assert_eq!(r.status, 201, "{:?}", r.body);
    }
}

#[tokio::test]
async fn shutdown_lets_a_request_in_progress_finish_and_closes_idle_connections() {
    let s = TestServer::start().await;
    let address = addr(&s);
    let mut busy = busy_connection(&s).await;
    let mut idle = connect(&s).await;
    assert_eq!(status_on(&mut idle, &mut Vec::new(), HEALTHZ).await, 200);
    let stopping = tokio::spawn(s.stop());
    // Once the listener is closed, shutdown has begun.
    let refused = tokio::time::timeout(HANG, async {
        while TcpStream::connect(&address).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "the listener closed");
    assert!(closed_by_server(&mut idle).await, "idle connection closed");
    busy.write_all(REST_OF_BODY).await.expect("write");
    let r = read_response(&mut busy, &mut Vec::new())
        .await
        .expect("the request in progress got its answer");
    assert_eq!(r.status, 201, "{:?}", r.body);
    assert_eq!(r.header("connection"), Some("close"));
    tokio::time::timeout(HANG, stopping)
        .await
        .expect("stopped")
        .expect("join");
}

//! A local stand-in for the X API v2 filtered stream (axum on 127.0.0.1), used by the
//! `x_api_*` tests and by `examples/fake_x_api.rs`.
//!
//! It keeps rules like X does (ids, one rule per value, a length limit, `DuplicateRule`),
//! checks the bearer token on every request (401 otherwise), and answers each stream
//! connection with the next scripted [`Reply`]: a body of [`Step`]s (tweet lines, keep-alive
//! `\r\n`, raw bytes such as half a line, pauses, an abort, a stall) or an error status.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State as AxState};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

pub const RULES_PATH: &str = "/2/tweets/search/stream/rules";
pub const STREAM_PATH: &str = "/2/tweets/search/stream";

/// One piece of a stream body.
#[derive(Debug, Clone)]
pub enum Step {
    /// A JSON line, sent with `\r\n`.
    Line(String),
    /// A keep-alive `\r\n`.
    KeepAlive,
    /// Bytes as they are (e.g. the first half of a line).
    Raw(Vec<u8>),
    Pause(Duration),
    /// The body fails: the connection is cut without the end of the chunked body.
    Abort,
    /// The body ends cleanly (the server closes the stream).
    End,
    /// Nothing more is sent; the connection stays open.
    Stall,
    /// A keep-alive now and every `Duration` after, for ever.
    KeepAlives(Duration),
}

pub type Steps = Box<dyn Iterator<Item = Step> + Send>;
/// Answers the stream connections after the script, given the rules at that moment.
pub type AfterScript = Box<dyn FnMut(&[ServerRule]) -> Reply + Send>;

/// The answer to one stream connection.
pub enum Reply {
    Stream(Steps),
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
}

impl Reply {
    pub fn steps(steps: Vec<Step>) -> Reply {
        Reply::Stream(Box::new(steps.into_iter()))
    }

    /// 429 as X sends it, with `x-rate-limit-reset` when given.
    pub fn too_many(reset_at: Option<u64>) -> Reply {
        let mut headers = vec![
            ("x-rate-limit-limit".to_string(), "50".to_string()),
            ("x-rate-limit-remaining".to_string(), "0".to_string()),
        ];
        if let Some(r) = reset_at {
            headers.push(("x-rate-limit-reset".to_string(), r.to_string()));
        }
        Reply::Status {
            code: 429,
            headers,
            body: json!({"title": "ConnectionException", "detail": "This stream is currently at the maximum allowed connection limit.", "connection_issue": "TooManyConnections", "type": "https://api.twitter.com/2/problems/streaming-connection"}).to_string(),
        }
    }

    pub fn status(code: u16) -> Reply {
        Reply::Status {
            code,
            headers: vec![],
            body: json!({"title": "Service Unavailable", "status": code}).to_string(),
        }
    }

    /// 403 as X sends it to an app without filtered-stream access.
    pub fn forbidden() -> Reply {
        Reply::Status {
            code: 403,
            headers: vec![],
            body: json!({"title": "Client Forbidden", "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys and tokens from a Twitter developer App that is attached to a Project.", "reason": "client-not-enrolled", "type": "https://api.twitter.com/2/problems/client-forbidden"}).to_string(),
        }
    }
}

/// The operational message X sends before it drops a stream.
pub fn operational_disconnect() -> String {
    json!({"errors": [{
        "title": "operational-disconnect",
        "disconnect_type": "UpstreamOperationalDisconnect",
        "detail": "This stream has been disconnected upstream for operational reasons.",
        "type": "https://api.twitter.com/2/problems/operational-disconnect",
    }]})
    .to_string()
}

/// A v2 filtered-stream tweet line: `data` with entities, the author in `includes`, and the
/// rule that matched.
pub fn tweet(id: u64, text_hint: &str, rule: Option<(&str, &str)>) -> Value {
    let tag = format!("Tag{}", id % 7);
    let user = format!("user{}", id % 13);
    let text = format!("{text_hint} #{tag} with @{user} https://t.co/x{id}");
    let tag_start = text_hint.chars().count() + 1;
    let mention_start = tag_start + tag.chars().count() + 7;
    let url_start = mention_start + user.chars().count() + 2;
    let mut v = json!({
        "data": {
            "id": id.to_string(),
            "text": text,
            "created_at": "2024-05-06T07:08:09.000Z",
            "author_id": format!("{}", 1000 + id % 13),
            "lang": "en",
            "edit_history_tweet_ids": [id.to_string()],
            "entities": {
                "hashtags": [{"start": tag_start, "end": tag_start + 1 + tag.chars().count(), "tag": tag}],
                "mentions": [{"start": mention_start, "end": mention_start + 1 + user.chars().count(), "username": user, "id": "77"}],
                "urls": [{"start": url_start, "end": url_start + 15, "url": format!("https://t.co/x{id}"), "expanded_url": format!("https://example.com/post/{id}"), "display_url": format!("example.com/post/{id}")}],
            },
        },
        "includes": {"users": [{"id": format!("{}", 1000 + id % 13), "username": format!("author{}", id % 13), "name": "An Author"}]},
    });
    if let Some((rule_id, rule_tag)) = rule {
        v["matching_rules"] = json!([{"id": rule_id, "tag": rule_tag}]);
    }
    v
}

pub fn tweet_line(id: u64) -> String {
    tweet(id, &format!("tweet {id} about machine learning"), None).to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerRule {
    pub id: String,
    pub value: String,
    pub tag: Option<String>,
}

/// One request the server answered.
#[derive(Debug, Clone)]
pub struct Request {
    pub at: Instant,
    pub method: &'static str,
    pub path: &'static str,
    pub query: Option<String>,
    pub status: u16,
}

pub struct State {
    pub token: String,
    pub rules: Vec<ServerRule>,
    pub next_rule_id: u64,
    /// Longest rule value accepted (X: 512, or 1024 on Pro).
    pub max_rule_len: usize,
    /// Stream connections are answered in this order ...
    pub script: VecDeque<Reply>,
    /// ... then with this (given the rules then; by default keep-alives every 200 ms).
    pub after_script: AfterScript,
    pub requests: Vec<Request>,
    /// Stream bodies open now, and the most ever open at once.
    pub open_streams: Arc<AtomicUsize>,
    pub max_open_streams: Arc<AtomicUsize>,
}

pub struct FakeX {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeX {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Shared = Arc<Mutex<State>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, State> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

impl FakeX {
    /// Starts on 127.0.0.1:`port` (0: any free port).
    pub async fn start_on(port: u16, token: &str, script: Vec<Reply>) -> FakeX {
        let state = Arc::new(Mutex::new(State {
            token: token.to_string(),
            rules: Vec::new(),
            next_rule_id: 1_000,
            max_rule_len: 512,
            script: script.into(),
            after_script: Box::new(|_| {
                Reply::steps(vec![Step::KeepAlives(Duration::from_millis(200))])
            }),
            requests: Vec::new(),
            open_streams: Arc::default(),
            max_open_streams: Arc::default(),
        }));
        let app = Router::new()
            .route(RULES_PATH, get(list_rules).post(change_rules))
            .route(STREAM_PATH, get(stream))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("binding the fake X API");
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeX { addr, state, task }
    }

    pub async fn start(token: &str, script: Vec<Reply>) -> FakeX {
        Self::start_on(0, token, script).await
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut lock(&self.state))
    }

    pub fn rules(&self) -> Vec<ServerRule> {
        self.with(|s| s.rules.clone())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.with(|s| s.requests.clone())
    }

    pub fn stream_requests(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == STREAM_PATH)
            .collect()
    }

    pub fn max_open_streams(&self) -> usize {
        self.with(|s| s.max_open_streams.load(Ordering::SeqCst))
    }
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"})),
    )
        .into_response()
}

/// Checks the bearer token; records the request.
fn admit(
    state: &mut State,
    headers: &HeaderMap,
    method: &'static str,
    path: &'static str,
    query: Option<String>,
) -> bool {
    let want = format!("Bearer {}", state.token);
    let ok = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == want);
    state.requests.push(Request {
        at: Instant::now(),
        method,
        path,
        query,
        status: if ok { 200 } else { 401 },
    });
    ok
}

fn sent() -> String {
    chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn rule_json(r: &ServerRule) -> Value {
    let mut v = json!({"id": r.id, "value": r.value});
    if let Some(t) = &r.tag {
        v["tag"] = json!(t);
    }
    v
}

async fn list_rules(
    AxState(state): AxState<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let mut s = lock(&state);
    if !admit(&mut s, &headers, "GET", RULES_PATH, query) {
        return unauthorized();
    }
    let data: Vec<Value> = s.rules.iter().map(rule_json).collect();
    let mut body = json!({"meta": {"sent": sent(), "result_count": data.len()}});
    if !data.is_empty() {
        body["data"] = Value::Array(data);
    }
    Json(body).into_response()
}

async fn change_rules(
    AxState(state): AxState<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    if !admit(&mut s, &headers, "POST", RULES_PATH, query) {
        return unauthorized();
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"title": "Invalid Request"})),
        )
            .into_response();
    };
    if let Some(add) = req.get("add").and_then(Value::as_array) {
        let (mut created, mut errors) = (Vec::new(), Vec::new());
        for r in add {
            let value = r
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let tag = r.get("tag").and_then(Value::as_str).map(str::to_string);
            if value.is_empty() || value.chars().count() > s.max_rule_len {
                errors.push(json!({"value": value, "details": [format!("Rules must be between 1 and {} characters", s.max_rule_len)], "title": "Invalid Rule", "type": "https://api.twitter.com/2/problems/invalid-rules"}));
            } else if let Some(dup) = s.rules.iter().find(|x| x.value == value) {
                errors.push(json!({"value": value, "id": dup.id, "title": "DuplicateRule", "type": "https://api.twitter.com/2/problems/duplicate-rules"}));
            } else {
                s.next_rule_id += 1;
                let rule = ServerRule {
                    id: s.next_rule_id.to_string(),
                    value,
                    tag,
                };
                created.push(rule_json(&rule));
                s.rules.push(rule);
            }
        }
        let mut body = json!({"meta": {"sent": sent(), "summary": {"created": created.len(), "not_created": errors.len(), "valid": created.len(), "invalid": errors.len()}}});
        if !created.is_empty() {
            body["data"] = Value::Array(created);
        }
        if !errors.is_empty() {
            body["errors"] = Value::Array(errors);
        }
        return (StatusCode::CREATED, Json(body)).into_response();
    }
    if let Some(ids) = req.pointer("/delete/ids").and_then(Value::as_array) {
        let ids: Vec<&str> = ids.iter().filter_map(Value::as_str).collect();
        let before = s.rules.len();
        s.rules.retain(|r| !ids.contains(&r.id.as_str()));
        let deleted = before - s.rules.len();
        return Json(json!({"meta": {"sent": sent(), "summary": {"deleted": deleted, "not_deleted": ids.len() - deleted}}})).into_response();
    }
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"title": "Invalid Request"})),
    )
        .into_response()
}

/// Counts an open stream body while it lives.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn stream(
    AxState(state): AxState<Shared>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let (reply, open, max_open) = {
        let mut s = lock(&state);
        if !admit(&mut s, &headers, "GET", STREAM_PATH, query) {
            return unauthorized();
        }
        let st = &mut *s;
        let reply = match st.script.pop_front() {
            Some(r) => r,
            None => (st.after_script)(&st.rules),
        };
        (reply, s.open_streams.clone(), s.max_open_streams.clone())
    };
    let steps = match reply {
        Reply::Status {
            code,
            headers,
            body,
        } => {
            if let Some(last) = lock(&state).requests.last_mut() {
                last.status = code;
            }
            let mut resp = Response::builder()
                .status(code)
                .header("content-type", "application/json");
            for (k, v) in headers {
                resp = resp.header(k, v);
            }
            return resp.body(Body::from(body)).unwrap();
        }
        Reply::Stream(steps) => steps,
    };
    let now_open = open.fetch_add(1, Ordering::SeqCst) + 1;
    max_open.fetch_max(now_open, Ordering::SeqCst);
    let guard = Open(open);
    let body = futures::stream::unfold((steps, guard), |(mut steps, guard)| async move {
        loop {
            let step = steps.next()?;
            let chunk: Bytes = match step {
                Step::Line(l) => format!("{l}\r\n").into(),
                Step::KeepAlive => Bytes::from_static(b"\r\n"),
                Step::Raw(b) => b.into(),
                Step::Pause(d) => {
                    tokio::time::sleep(d).await;
                    continue;
                }
                Step::Abort => {
                    let none: Steps = Box::new(std::iter::empty());
                    return Some((Err(std::io::Error::other("connection cut")), (none, guard)));
                }
                Step::End => return None,
                Step::Stall => {
                    futures::future::pending::<()>().await;
                    return None;
                }
                Step::KeepAlives(every) => {
                    let rest: Steps = Box::new(
                        std::iter::once(Step::Pause(every))
                            .chain(std::iter::once(Step::KeepAlives(every)))
                            .chain(steps),
                    );
                    return Some((Ok(Bytes::from_static(b"\r\n")), (rest, guard)));
                }
            };
            return Some((Ok::<Bytes, std::io::Error>(chunk), (steps, guard)));
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from_stream(body))
        .unwrap()
}

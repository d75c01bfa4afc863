//! A hostile NER endpoint for `ner_hostile`: a small HTTP server (raw tokio TcpListener, so
//! it can also reset connections and vanish) that answers slowly, with 500s, with invalid
//! JSON, with 50 MB bodies, with resets, or not at all, per tweet text.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Request delay for ordinary texts, and how long a "slow" answer takes.
pub const SLOW: Duration = Duration::from_secs(2);

#[derive(Default)]
pub struct State {
    /// Requests that carried each text.
    pub seen: Mutex<HashMap<String, u32>>,
    /// Texts answered with entities.
    pub answered: Mutex<HashMap<String, u32>>,
    /// The next this-many NER requests get a 500.
    pub fail_next: AtomicU32,
    /// Extra delay for every NER request, in ms.
    pub delay_ms: AtomicU64,
    /// Not listening at all (connections refused).
    pub down: AtomicBool,
    pub health_checks: AtomicU32,
}

pub struct Hostile {
    pub addr: SocketAddr,
    pub state: Arc<State>,
    pub up: tokio::sync::watch::Sender<bool>,
}

impl Hostile {
    /// A server on a free loopback port; `up` = listening from the start.
    pub async fn start(up: bool) -> Hostile {
        let probe = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let state = Arc::new(State::default());
        state.down.store(!up, Ordering::SeqCst);
        let (tx, rx) = tokio::sync::watch::channel(up);
        tokio::spawn(serve(addr, state.clone(), rx));
        if up {
            wait_listening(addr).await;
        }
        Hostile {
            addr,
            state,
            up: tx,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub async fn set_up(&self, up: bool) {
        self.state.down.store(!up, Ordering::SeqCst);
        self.up.send_replace(up);
        if up {
            wait_listening(self.addr).await;
        } else {
            // Until connections are refused.
            for _ in 0..200 {
                if TcpStream::connect(self.addr).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("the hostile server still accepts connections");
        }
    }

    pub fn seen(&self, text: &str) -> u32 {
        *self.state.seen.lock().unwrap().get(text).unwrap_or(&0)
    }

    pub fn answered(&self) -> HashMap<String, u32> {
        self.state.answered.lock().unwrap().clone()
    }
}

pub async fn wait_listening(addr: SocketAddr) {
    for _ in 0..500 {
        if TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("hostile server not listening on {addr}");
}

/// Accepts while `up`; drops the listener (connections refused) while down.
pub async fn serve(
    addr: SocketAddr,
    state: Arc<State>,
    mut up: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        while !*up.borrow_and_update() {
            if up.changed().await.is_err() {
                return;
            }
        }
        let listener = loop {
            match TcpListener::bind(addr).await {
                Ok(l) => break l,
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        loop {
            tokio::select! {
                changed = up.changed() => {
                    if changed.is_err() { return; }
                    if !*up.borrow() { break; }
                }
                conn = listener.accept() => {
                    if let Ok((sock, _)) = conn {
                        tokio::spawn(handle(sock, state.clone()));
                    }
                }
            }
        }
        drop(listener);
    }
}

pub async fn read_request(sock: &mut TcpStream) -> Option<(String, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.lines();
    let mut first = lines.next()?.split_whitespace();
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let len = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let line = format!("{method} {path}");
    Some((method, line, body))
}

pub async fn respond(sock: &mut TcpStream, status: u16, body: &str) {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = sock.write_all(head.as_bytes()).await;
    let _ = sock.write_all(body.as_bytes()).await;
    let _ = sock.shutdown().await;
}

pub fn first_word(t: &str) -> (String, usize) {
    let w: String = t.chars().take_while(|c| !c.is_whitespace()).collect();
    let n = w.chars().count();
    (w, n)
}

pub async fn handle(mut sock: TcpStream, state: Arc<State>) {
    let Some((_, line, body)) = read_request(&mut sock).await else {
        return;
    };
    if line.starts_with("GET /health") {
        state.health_checks.fetch_add(1, Ordering::SeqCst);
        return respond(&mut sock, 200, r#"{"status":"ok","model":"hostile"}"#).await;
    }
    let seed = line.starts_with("POST /text/ner/spacy");
    if !seed && !line.starts_with("POST /ner") {
        return respond(&mut sock, 404, "{}").await;
    }
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let texts: Vec<String> = if seed {
        vec![v["text"].as_str().unwrap_or_default().to_string()]
    } else {
        v["texts"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    if seed && texts.iter().all(|t| t.is_empty()) {
        // The seed API's readiness probe: a POST of an empty text.
        state.health_checks.fetch_add(1, Ordering::SeqCst);
        return respond(&mut sock, 200, "[]").await;
    }
    {
        let mut seen = state.seen.lock().unwrap();
        for t in &texts {
            *seen.entry(t.clone()).or_default() += 1;
        }
    }
    let has = |w: &str| texts.iter().any(|t| t.contains(w));
    let delay = state.delay_ms.load(Ordering::SeqCst);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    if state
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return respond(&mut sock, 500, r#"{"error":"burst"}"#).await;
    }
    if has("TRIGGER_SLOW") {
        tokio::time::sleep(SLOW).await;
    }
    if has("TRIGGER_500") {
        return respond(&mut sock, 500, "Internal Server Error").await;
    }
    if has("TRIGGER_JUNK") {
        let junk = if seed {
            r#"{"res": "{'FIRST': 'unterminated}"}"#
        } else {
            r#"{"entities": [[{"text": "#
        };
        return respond(&mut sock, if seed { 201 } else { 200 }, junk).await;
    }
    if has("TRIGGER_WRONGCOUNT") {
        return respond(&mut sock, 200, r#"{"entities": [[], [], []]}"#).await;
    }
    if has("TRIGGER_RESET") {
        // RST instead of an answer.
        #[allow(deprecated)] // linger 0 does not block: it resets at once
        let _ = sock.set_linger(Some(Duration::ZERO));
        drop(sock);
        return;
    }
    if has("TRIGGER_HUGE") || has("TRIGGER_BIGLEN") {
        // 50 MB: chunked (the cap must stop the stream) or announced up front.
        let head = if has("TRIGGER_HUGE") {
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_string()
        } else {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                50 << 20
            )
        };
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let mb = vec![b' '; 1 << 20];
        for _ in 0..50 {
            let ok = if has("TRIGGER_HUGE") {
                sock.write_all(format!("{:x}\r\n", mb.len()).as_bytes())
                    .await
                    .is_ok()
                    && sock.write_all(&mb).await.is_ok()
                    && sock.write_all(b"\r\n").await.is_ok()
            } else {
                sock.write_all(&mb).await.is_ok()
            };
            if !ok {
                return; // the client hung up: good
            }
        }
        let _ = sock.write_all(b"0\r\n\r\n").await;
        return;
    }
    // A correct answer: the first word of each text as a FIRST entity.
    {
        let mut answered = state.answered.lock().unwrap();
        for t in &texts {
            *answered.entry(t.clone()).or_default() += 1;
        }
    }
    if seed {
        let (w, _) = first_word(&texts[0]);
        let res = format!("{{'FIRST': {w:?}}}").replace('"', "'");
        let body = serde_json::json!({ "res": res }).to_string();
        respond(&mut sock, 201, &body).await
    } else {
        let lists: Vec<serde_json::Value> = texts
            .iter()
            .map(|t| {
                let (w, n) = first_word(t);
                serde_json::json!([{"text": w, "label": "FIRST", "start": 0, "end": n}])
            })
            .collect();
        respond(
            &mut sock,
            200,
            &serde_json::json!({ "entities": lists }).to_string(),
        )
        .await
    }
}

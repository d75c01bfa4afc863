//! A local fake of the X API v2 filtered stream, to try `[source] kind = x_api` without an X
//! account (these machines have no internet). The same server the `x_api_*` tests use.
//!
//! ```sh
//! cargo run --release --example fake_x_api -- --port 8089 --token demo-token --rate 20
//! SSP__SOURCE__KIND=x_api SSP_X_BEARER_TOKEN=demo-token \
//!   SSP__SOURCE__X_API_BASE_URL=http://127.0.0.1:8089 target/release/ssp-tui
//! ```
//!
//! Options: `--port P` (8089), `--token T` (demo-token), `--rate N` tweets/s (10),
//! `--drop-every N` cut the connection in the middle of a line after N tweets (200; 0 never),
//! `--start-429 S` answer the first connection with 429 and a reset S seconds ahead,
//! `--stall-after N` stop sending anything (not even keep-alives) after N tweets on the first
//! connection. Tweets are v2 JSON lines with entities, the author, and the matching rule.

#[path = "../tests/integration/x_api_fake/mod.rs"]
mod x_api_fake;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ssp_tui::nlp::keywords::KeywordGroups;
use x_api_fake::{tweet, FakeX, Reply, ServerRule, Step};

struct Options {
    port: u16,
    token: String,
    rate: f64,
    drop_every: u64,
    start_429: Option<u64>,
    stall_after: Option<u64>,
}

fn options() -> Options {
    let mut o = Options {
        port: 8089,
        token: "demo-token".into(),
        rate: 10.0,
        drop_every: 200,
        start_429: None,
        stall_after: None,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--port" => o.port = num(flag, value),
            "--token" => o.token = value.clone(),
            "--rate" => o.rate = num(flag, value),
            "--drop-every" => o.drop_every = num(flag, value),
            "--start-429" => o.start_429 = Some(num(flag, value)),
            "--stall-after" => o.stall_after = Some(num(flag, value)),
            _ => usage(&format!("unknown option {flag}")),
        }
    }
    o
}

fn num<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value
        .parse()
        .unwrap_or_else(|_| usage(&format!("bad value for {flag}: {value}")))
}

fn usage(msg: &str) -> ! {
    eprintln!("fake_x_api: {msg}\nusage: fake_x_api [--port P] [--token T] [--rate N] [--drop-every N] [--start-429 SECONDS] [--stall-after N]");
    std::process::exit(2)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

const TEMPLATES: &[&str] = &[
    "Just shipped a demo using",
    "Reading a great thread on",
    "Is anyone else excited about",
    "Weekend plans: learning",
    "Hot take on",
    "Tonight's sky, and some",
];

/// Tweets for one connection: `rate` a second, a keep-alive between, a cut after
/// `drop_every`, a stall after `stall_after`. Ids are snowflake-like and never repeat (the
/// tweet cut in half is sent again, whole, on the next connection).
struct Generator {
    next: Arc<AtomicU64>,
    keywords: Arc<Vec<String>>,
    rules: Vec<(String, String)>,
    gap: Duration,
    drop_every: u64,
    stall_after: Option<u64>,
    sent: u64,
    queue: std::collections::VecDeque<Step>,
}

impl Iterator for Generator {
    type Item = Step;
    fn next(&mut self) -> Option<Step> {
        if let Some(s) = self.queue.pop_front() {
            return Some(s);
        }
        if self.stall_after == Some(self.sent) {
            return Some(Step::Stall);
        }
        let n = self.next.load(Ordering::SeqCst);
        let kw = &self.keywords[(n as usize * 7) % self.keywords.len()];
        let template = TEMPLATES[n as usize % TEMPLATES.len()];
        let rule = (!self.rules.is_empty()).then(|| &self.rules[n as usize % self.rules.len()]);
        let id = ((now_ms() - 1_288_834_974_657) << 22) + (n % 4096);
        let mut v = tweet(
            id,
            &format!("{template} {kw}"),
            rule.map(|(id, tag)| (id.as_str(), tag.as_str())),
        );
        v["data"]["created_at"] = chrono::Utc::now()
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string()
            .into();
        let line = v.to_string();
        if self.drop_every > 0 && self.sent > 0 && self.sent.is_multiple_of(self.drop_every) {
            // Half a line, then the connection breaks; this tweet is not counted as sent.
            self.sent += 1;
            eprintln!("fake_x_api: cutting the connection in the middle of a tweet");
            self.queue
                .push_back(Step::Raw(line.as_bytes()[..line.len() / 2].to_vec()));
            self.queue
                .push_back(Step::Pause(Duration::from_millis(100)));
            self.queue.push_back(Step::Abort);
            return Some(Step::Pause(self.gap));
        }
        self.next.fetch_add(1, Ordering::SeqCst);
        self.sent += 1;
        self.queue.push_back(Step::Line(line));
        if self.sent.is_multiple_of(10) {
            self.queue.push_back(Step::KeepAlive);
        }
        Some(Step::Pause(self.gap))
    }
}

#[tokio::main]
async fn main() {
    let o = options();
    let keywords = Arc::new(KeywordGroups::builtin().stream("mix"));
    let next = Arc::new(AtomicU64::new(0));
    let mut script = Vec::new();
    if let Some(secs) = o.start_429 {
        script.push(Reply::too_many(Some(now_ms() / 1000 + secs)));
    }
    let fake = FakeX::start_on(o.port, &o.token, script).await;
    let gap = Duration::from_secs_f64(1.0 / o.rate.max(0.01));
    let (drop_every, mut stall_after) = (o.drop_every, o.stall_after);
    fake.with(|s| {
        s.after_script = Box::new(move |rules: &[ServerRule]| {
            let rules = rules
                .iter()
                .map(|r| (r.id.clone(), r.tag.clone().unwrap_or_default()))
                .collect::<Vec<_>>();
            eprintln!(
                "fake_x_api: stream connection ({} rules on the stream)",
                rules.len()
            );
            Reply::Stream(Box::new(Generator {
                next: next.clone(),
                keywords: keywords.clone(),
                rules,
                gap,
                drop_every,
                stall_after: stall_after.take(),
                sent: 0,
                queue: Default::default(),
            }))
        });
    });
    eprintln!(
        "fake_x_api: listening on {} (token {:?}, {} tweets/s); Ctrl-C stops",
        fake.base_url(),
        o.token,
        o.rate
    );
    tokio::signal::ctrl_c().await.ok();
    for r in fake.requests().iter().filter(|r| r.status != 200) {
        eprintln!(
            "fake_x_api: answered {} {} with {}",
            r.method, r.path, r.status
        );
    }
    eprintln!("fake_x_api: rules at exit:");
    for r in fake.rules() {
        eprintln!("  {} [{}] {}", r.id, r.tag.unwrap_or_default(), r.value);
    }
}

//! Deterministic generator of realistic Twitter API v1.1 tweet JSON (one line per tweet).

mod json;
mod vocab;

use chrono::{DateTime, Duration, Utc};
use json::{Draft, Media, User};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;
use vocab::{DOMAINS, FIRST, FOREIGN, HANDLE_WORDS, LAST, SOURCES, TAGS, TOPICS};

/// Seeded stream of synthetic tweets: same seed and same `now` values => same bytes.
pub struct SyntheticTweets {
    rng: SmallRng,
    next_id: u64,
    /// Snowflake worker bits (from the seed).
    worker: u64,
    users: Vec<User>,
    /// Zipf cumulative weights over `users` (popular accounts are mentioned / retweeted more).
    user_cdf: Vec<f64>,
    /// Zipf cumulative weights over all of `TAGS`, and per topic over its own tag range.
    tag_cdf: Vec<f64>,
    topic_tag_cdf: Vec<Vec<f64>>,
    topic_cdf: Vec<f64>,
}

/// Cumulative weights `1 / (rank + 1)^s`.
fn zipf_cdf(n: usize, s: f64) -> Vec<f64> {
    let mut acc = 0.0;
    (0..n)
        .map(|k| {
            acc += 1.0 / ((k + 1) as f64).powf(s);
            acc
        })
        .collect()
}

fn sample(rng: &mut SmallRng, cdf: &[f64]) -> usize {
    let total = cdf.last().copied().unwrap_or(0.0);
    let x = rng.gen::<f64>() * total;
    cdf.partition_point(|&c| c <= x)
        .min(cdf.len().saturating_sub(1))
}

fn pick<'a, T>(rng: &mut SmallRng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn token(rng: &mut SmallRng, len: usize) -> String {
    (0..len)
        .map(|_| ALNUM[rng.gen_range(0..ALNUM.len())] as char)
        .collect()
}

fn tco(rng: &mut SmallRng) -> String {
    format!("https://t.co/{}", token(rng, 10))
}

/// Twitter's snowflake epoch (2010-11-04T01:42:54.657Z) in Unix milliseconds.
const SNOWFLAKE_EPOCH_MS: i64 = 1_288_834_974_657;

/// Bit layout of synthetic ids: milliseconds | 12-bit sequence | 10-bit worker | parity.
const SEQUENCE_STEP: u64 = 1 << 11;
const MILLIS_SHIFT: u32 = 23;

/// The first (even) id of millisecond `now` for `worker`. The worker sits in the low bits,
/// so two generators with different workers never share an id, whatever their pace.
fn snowflake(now: DateTime<Utc>, worker: u64) -> u64 {
    let ms = (now.timestamp_millis() - SNOWFLAKE_EPOCH_MS).max(0) as u64;
    (ms << MILLIS_SHIFT) | (worker << 1)
}

fn v1_date(t: DateTime<Utc>) -> String {
    t.format("%a %b %d %H:%M:%S +0000 %Y").to_string()
}

impl SyntheticTweets {
    /// A generator whose whole output is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let next_id = 0;
        let mut seen = HashSet::new();
        let mut users = Vec::with_capacity(200);
        while users.len() < 200 {
            let (first, last) = (*pick(&mut rng, FIRST), *pick(&mut rng, LAST));
            let word = *pick(&mut rng, HANDLE_WORDS);
            let mut handle = match rng.gen_range(0..4) {
                0 => format!("{word}_{}", first.to_lowercase()),
                1 => format!("{first}{last}"),
                2 => format!("{word}{}", rng.gen_range(10..1000)),
                _ => format!("{}{word}", last.to_lowercase()),
            };
            handle.truncate(15);
            if !seen.insert(handle.clone()) {
                continue;
            }
            let rank = users.len() as u32;
            let id = rng.gen_range(100_000..1u64 << 42);
            users.push(User {
                id,
                id_str: id.to_string(),
                name: format!("{first} {last}"),
                screen_name: handle,
                followers_count: 2_000_000 / (rank + 1) + rng.gen_range(0..500),
                verified: rank < 10,
            });
        }
        let topic_tag_cdf = TOPICS
            .iter()
            .map(|t| zipf_cdf(t.tag_range.1 - t.tag_range.0, 1.1))
            .collect();
        let mut acc = 0.0;
        let topic_cdf = TOPICS
            .iter()
            .map(|t| {
                acc += f64::from(t.weight);
                acc
            })
            .collect();
        let worker = rng.gen_range(0..1u64 << 10);
        SyntheticTweets {
            rng,
            next_id,
            worker,
            user_cdf: zipf_cdf(users.len(), 0.9),
            users,
            tag_cdf: zipf_cdf(TAGS.len(), 1.1),
            topic_tag_cdf,
            topic_cdf,
        }
    }

    /// Next tweet as Twitter API v1.1 JSON (one line, no trailing newline), created_at = `now`.
    ///
    /// Ids are time-based like Twitter's snowflakes (milliseconds since Twitter's epoch in the
    /// high bits), so a generator started later never repeats an id of an earlier run.
    pub fn next_json(&mut self, now: DateTime<Utc>) -> Vec<u8> {
        let id = self.next_id.max(snowflake(now, self.worker));
        // Outer ids are even, retweeted originals odd: the two never collide.
        self.next_id = id.saturating_add(SEQUENCE_STEP);
        let author = self.rng.gen_range(0..self.users.len());
        let (href, client) = *pick(&mut self.rng, SOURCES);
        let source = format!(r#"<a href="{href}" rel="nofollow">{client}</a>"#);
        let created = v1_date(now);
        // Retweets: (original id, original created_at, original author).
        let retweet = self.rng.gen_bool(0.25).then(|| {
            let orig_id = id.saturating_sub(self.rng.gen_range(1u64 << 30..1u64 << 40)) | 1;
            let age = Duration::seconds(self.rng.gen_range(60..259_200));
            (
                orig_id,
                v1_date(now.checked_sub_signed(age).unwrap_or(now)),
                sample(&mut self.rng, &self.user_cdf),
            )
        });
        let writer = retweet.as_ref().map_or(author, |r| r.2);
        let draft = compose(self, writer);
        let self_link = tco(&mut self.rng);
        let ctx = json::Ctx {
            users: &self.users,
            source: &source,
        };
        let tweet = match &retweet {
            Some((orig_id, orig_created, orig_author)) => {
                let orig = ctx.tweet(*orig_id, orig_created, *orig_author, &draft, &self_link);
                ctx.retweet(id, &created, author, *orig_author, &draft, orig)
            }
            None => ctx.tweet(id, &created, author, &draft, &self_link),
        };
        json::to_vec(&tweet)
    }
}

/// Builds the full text and its entities for one original tweet by `author`.
fn compose(g: &mut SyntheticTweets, author: usize) -> Draft {
    let rng = &mut g.rng;
    let mut d = Draft::default();
    let (lang, topic) = if rng.gen_bool(0.06) {
        let (lang, line) = *pick(rng, FOREIGN);
        d.push(line);
        (lang, None)
    } else {
        ("en", Some(sample(rng, &g.topic_cdf)))
    };
    d.lang = lang;
    let n_mentions = match rng.gen_range(0..100) {
        0..=69 => 0,
        70..=91 => 1,
        _ => 2,
    };
    let mentioned: Vec<usize> = (0..n_mentions)
        .map(|_| sample(rng, &g.user_cdf))
        .filter(|&u| u != author)
        .collect();
    let reply_style = rng.gen_bool(0.5);
    if reply_style {
        for &u in &mentioned {
            d.mention(u, &g.users[u].screen_name);
            d.push(" ");
        }
    }
    if let Some(topic) = topic.map(|t| &TOPICS[t]) {
        // ~20% long tweets (150..=200 chars of sentences); short ones keep room for entities.
        let long = rng.gen_bool(0.2);
        let budget = if long { 200 } else { 80 };
        for n in 0..8 {
            let template = *pick(rng, topic.templates);
            let keyword = *pick(rng, topic.keywords);
            let sentence = template.replacen("{k}", keyword, 1);
            if n > 0 && d.chars + 1 + sentence.chars().count() > budget {
                break;
            }
            if n > 0 {
                d.push(match rng.gen_range(0..100) {
                    0..=5 => "\n",
                    6..=7 => "\n\n",
                    _ => " ",
                });
            }
            d.push(&sentence);
            if !long || d.chars >= 150 {
                break;
            }
        }
    }
    if rng.gen_bool(0.25) {
        let expanded = format!(
            "https://{}/{}",
            pick(rng, DOMAINS),
            token(rng, 8).to_lowercase()
        );
        d.push(" ");
        d.url(tco(rng), expanded);
    }
    let n_tags = match rng.gen_range(0..100) {
        0..=34 => 0,
        35..=69 => 1,
        70..=89 => 2,
        _ => 3,
    };
    for i in 0..n_tags {
        let tag = match topic {
            Some(t) if rng.gen_bool(0.75) => {
                TOPICS[t].tag_range.0 + sample(rng, &g.topic_tag_cdf[t])
            }
            _ => sample(rng, &g.tag_cdf),
        };
        d.push(if i > 0 && rng.gen_bool(0.1) {
            ", "
        } else {
            " "
        });
        d.hashtag(TAGS[tag]);
    }
    if !reply_style && !mentioned.is_empty() {
        d.push(" cc");
        for &u in &mentioned {
            d.push(" ");
            d.mention(u, &g.users[u].screen_name);
        }
    }
    if rng.gen_bool(0.07) {
        let media_id = g.next_id.wrapping_add(rng.gen_range(1..1u64 << 20));
        let screen = &g.users[author].screen_name;
        d.push(" ");
        d.media(Media {
            id: media_id,
            url: tco(rng),
            media_url_https: format!("https://pbs.twimg.com/media/{}.jpg", token(rng, 15)),
            expanded_url: format!("https://twitter.com/{screen}/status/{media_id}/photo/1"),
            indices: [0, 0],
        });
    }
    d
}

//! The active-learning classifier: logistic regression on hashed word uni- and bigrams,
//! trained online by SGD with AdaGrad step sizes (sparse features learn at their own pace).
//!
//! Features: the text lower-cased, URLs and @mentions dropped, `#` removed, split into words
//! of letters and digits; every word and every pair of adjacent words is hashed (FNV-1a) into
//! `2^bits` buckets, present-or-not, scaled to unit length.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Hashed features of one text: bucket indices (sorted, distinct) and the value of each.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    pub idx: Vec<u32>,
    pub value: f32,
}

fn fnv1a(bytes: &[u8], seed: u64) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The words features are made of.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split_whitespace() {
        let lower = raw.to_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with('@') {
            continue;
        }
        let mut cur = String::new();
        for c in lower.chars() {
            if c.is_alphanumeric() {
                cur.push(c);
            } else if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
    }
    out
}

/// Hashed uni- and bigram features of `text` into `2^bits` buckets.
pub fn featurize(text: &str, bits: u32) -> Features {
    let mask = (1u64 << bits) - 1;
    let w = words(text);
    let mut idx: Vec<u32> = Vec::with_capacity(w.len() * 2);
    for (i, word) in w.iter().enumerate() {
        idx.push((fnv1a(word.as_bytes(), 1) & mask) as u32);
        if let Some(next) = w.get(i + 1) {
            let h = fnv1a(next.as_bytes(), fnv1a(word.as_bytes(), 2));
            idx.push((h & mask) as u32);
        }
    }
    idx.sort_unstable();
    idx.dedup();
    let value = if idx.is_empty() {
        0.0
    } else {
        1.0 / (idx.len() as f32).sqrt()
    };
    Features { idx, value }
}

/// Logistic regression over hashed features.
#[derive(Debug, Clone)]
pub struct Model {
    pub bits: u32,
    w: Vec<f32>,
    bias: f32,
    /// AdaGrad: sum of squared gradients per weight, and of the bias.
    g2: Vec<f32>,
    bias_g2: f32,
    pub learning_rate: f32,
    pub l2: f32,
    /// Weighted examples seen (a version number for the UI and the model file).
    pub updates: u64,
}

const MAGIC: &[u8; 8] = b"SSPLR001";
/// AdaGrad's starting sum of squared gradients. Without it a feature seen only in
/// low-weight (weak) examples would take full-size steps (AdaGrad divides the weight back
/// out); with it, small-weight examples make small steps, as weights mean.
pub const INITIAL_ACCUMULATOR: f32 = 1.0;

impl Model {
    pub fn new(bits: u32) -> Model {
        let n = 1usize << bits;
        Model {
            bits,
            w: vec![0.0; n],
            bias: 0.0,
            g2: vec![INITIAL_ACCUMULATOR; n],
            bias_g2: INITIAL_ACCUMULATOR,
            learning_rate: 0.5,
            l2: 1e-6,
            updates: 0,
        }
    }

    fn margin(&self, x: &Features) -> f32 {
        let mut s = self.bias;
        for i in &x.idx {
            s += self.w[*i as usize] * x.value;
        }
        s
    }

    /// Probability of the positive class.
    pub fn predict(&self, x: &Features) -> f32 {
        sigmoid(self.margin(x))
    }

    pub fn predict_text(&self, text: &str) -> f32 {
        self.predict(&featurize(text, self.bits))
    }

    /// One SGD step on `x` with target `y` (1.0 positive, 0.0 negative) and `weight`.
    pub fn update(&mut self, x: &Features, y: f32, weight: f32) {
        if weight <= 0.0 {
            return;
        }
        let g = (self.predict(x) - y) * weight;
        for i in &x.idx {
            let i = *i as usize;
            let grad = g * x.value + self.l2 * self.w[i];
            self.g2[i] += grad * grad;
            self.w[i] -= self.learning_rate * grad / (self.g2[i].sqrt() + 1e-6);
        }
        self.bias_g2 += g * g;
        self.bias -= self.learning_rate * g / (self.bias_g2.sqrt() + 1e-6);
        self.updates += 1;
    }

    /// Writes the weights (not the AdaGrad state): what the `classify` stage loads.
    pub fn write_to(&self, out: &mut impl Write, meta: &ModelMeta) -> io::Result<()> {
        out.write_all(MAGIC)?;
        out.write_all(&self.bits.to_le_bytes())?;
        out.write_all(&self.bias.to_le_bytes())?;
        let meta = serde_json::to_vec(meta).map_err(io::Error::other)?;
        out.write_all(&(meta.len() as u32).to_le_bytes())?;
        out.write_all(&meta)?;
        // Sparse: (index, weight) for non-zero weights.
        let nz: Vec<(u32, f32)> = self
            .w
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0.0)
            .map(|(i, w)| (i as u32, *w))
            .collect();
        out.write_all(&(nz.len() as u32).to_le_bytes())?;
        let mut buf = Vec::with_capacity(nz.len() * 8);
        for (i, w) in nz {
            buf.extend_from_slice(&i.to_le_bytes());
            buf.extend_from_slice(&w.to_le_bytes());
        }
        out.write_all(&buf)
    }

    pub fn read_from(input: &mut impl Read) -> io::Result<(Model, ModelMeta)> {
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        let mut magic = [0u8; 8];
        input.read_exact(&mut magic)?;
        if &magic != MAGIC {
            return Err(bad("not an ssp-tui model file"));
        }
        let mut b4 = [0u8; 4];
        input.read_exact(&mut b4)?;
        let bits = u32::from_le_bytes(b4);
        if !(1..=26).contains(&bits) {
            return Err(bad("model file: bad hash size"));
        }
        input.read_exact(&mut b4)?;
        let bias = f32::from_le_bytes(b4);
        input.read_exact(&mut b4)?;
        let mut meta = vec![0u8; u32::from_le_bytes(b4) as usize];
        input.read_exact(&mut meta)?;
        let meta: ModelMeta = serde_json::from_slice(&meta).map_err(|e| bad(&e.to_string()))?;
        input.read_exact(&mut b4)?;
        let n = u32::from_le_bytes(b4) as usize;
        let mut model = Model::new(bits);
        model.bias = bias;
        let mut buf = vec![0u8; n.checked_mul(8).ok_or_else(|| bad("model file: size"))?];
        input.read_exact(&mut buf)?;
        for c in buf.chunks_exact(8) {
            let i = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
            let w = f32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            *model.w.get_mut(i).ok_or_else(|| bad("model file: index"))? = w;
        }
        model.updates = meta.updates;
        Ok((model, meta))
    }

    /// Saves atomically (temp file, fsync, rename).
    pub fn save(&self, path: &Path, meta: &ModelMeta) -> io::Result<()> {
        let mut bytes = Vec::new();
        self.write_to(&mut bytes, meta)?;
        crate::lake::atomic::write_atomic(path, &bytes)
    }

    pub fn load(path: &Path) -> io::Result<(Model, ModelMeta)> {
        let bytes = std::fs::read(path)?;
        Model::read_from(&mut bytes.as_slice())
    }
}

/// What a saved model was trained on.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    /// Dataset version.
    pub version: u32,
    /// Hand labels it learned from.
    pub hand_labels: usize,
    pub updates: u64,
    /// Dev accuracy when saved (if dev has hand labels).
    pub dev_accuracy: Option<f64>,
    pub saved_at_ms: i64,
}

/// Where the current model lives: `<lake>/models/current.bin`.
pub fn model_path(lake_root: &Path) -> PathBuf {
    lake_root.join("models").join("current.bin")
}

pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// Accuracy and F1 of the positive class.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    pub n: usize,
    pub accuracy: f64,
    pub f1: f64,
}

/// Scores of `(predicted positive, actually positive)` pairs.
pub fn scores(pairs: impl IntoIterator<Item = (bool, bool)>) -> Scores {
    let (mut tp, mut fp, mut fn_, mut tn) = (0usize, 0usize, 0usize, 0usize);
    for (pred, gold) in pairs {
        match (pred, gold) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => tn += 1,
        }
    }
    let n = tp + fp + fn_ + tn;
    let f1 = if tp == 0 {
        0.0
    } else {
        2.0 * tp as f64 / (2 * tp + fp + fn_) as f64
    };
    Scores {
        n,
        accuracy: if n == 0 {
            0.0
        } else {
            (tp + tn) as f64 / n as f64
        },
        f1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_drop_urls_mentions_and_punctuation() {
        assert_eq!(
            words("@bob Great #AI talk! https://t.co/x data-science"),
            ["great", "ai", "talk", "data", "science"]
        );
    }

    #[test]
    fn learns_a_keyword_and_round_trips_through_a_file() {
        let mut m = Model::new(12);
        let pos = featurize("we love kafka streams", 12);
        let neg = featurize("we love pizza night", 12);
        for _ in 0..50 {
            m.update(&pos, 1.0, 1.0);
            m.update(&neg, 0.0, 1.0);
        }
        assert!(m.predict(&pos) > 0.9 && m.predict(&neg) < 0.1);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        let meta = ModelMeta {
            version: 3,
            hand_labels: 100,
            ..Default::default()
        };
        m.save(&path, &meta).unwrap();
        let (back, meta2) = Model::load(&path).unwrap();
        assert_eq!(meta2.version, 3);
        assert_eq!(back.predict(&pos), m.predict(&pos));
        assert!(Model::read_from(&mut &b"garbage!"[..]).is_err());
    }

    #[test]
    fn f1_and_accuracy() {
        let s = scores([(true, true), (true, false), (false, true), (false, false)]);
        assert_eq!(s.n, 4);
        assert!((s.accuracy - 0.5).abs() < 1e-9);
        assert!((s.f1 - 0.5).abs() < 1e-9);
    }
}

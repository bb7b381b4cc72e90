//! Latency histograms: exact, mergeable HDR histograms of response times.
//!
//! A [`Histogram`] records latencies in **microseconds** from 1 µs to one hour with three
//! significant digits (larger values saturate at one hour, nothing panics). Merging two
//! histograms adds their bucket counts, so the percentiles of a merge are exactly those of one
//! histogram fed all samples: percentiles are never averaged.
//!
//! Statistics are reported in **milliseconds** as `f64` ([`Histogram::min`], [`Histogram::max`],
//! [`Histogram::mean`], [`Histogram::stddev`], [`Histogram::percentile_ms`]) or as a
//! [`Duration`] ([`Histogram::percentile`]).
//!
//! Two internal forms hold the same data:
//!
//! * *dense*: an `hdrhistogram::Histogram<u64>` (allocated lazily on the first record, auto-resized
//!   up to one hour, so 16–190 KB): fast to record into, used for per-name totals;
//! * *compact*: a sorted list of non-empty buckets (a few KB at most), used for the many per-second
//!   histograms and for everything deserialized. See [`Histogram::new_compact`] and
//!   [`Histogram::compact`].
//!
//! Every statistic is computed from the bucket list with the formulas of `hdrhistogram`, so both
//! forms give identical results. Serialized with serde, a histogram is the HdrHistogram V2
//! (deflate-compressed) encoding: raw bytes in binary formats, a base64 string in human-readable
//! ones (JSON); an empty histogram is an empty byte string / `""`.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Lowest discernible latency, in microseconds.
pub const LOWEST_MICROS: u64 = 1;
/// Highest trackable latency (one hour), in microseconds; larger values are recorded as this.
pub const HIGHEST_MICROS: u64 = 3_600_000_000;
/// Significant decimal digits kept for every value.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Number of buckets of [`Histogram::buckets`].
pub const DEFAULT_BUCKETS: usize = 50;

/// The wrapped histogram type.
pub(super) type Hdr = hdrhistogram::Histogram<u64>;

/// A histogram configured like ours but (almost) without counts: used only for its bucket
/// arithmetic (`lowest_equivalent` & co. do not depend on the highest trackable value).
fn template() -> &'static Hdr {
    static TEMPLATE: OnceLock<Hdr> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        // Constant, valid bounds (high >= 2 * low, sigfig <= 5): this cannot fail.
        Hdr::new_with_bounds(LOWEST_MICROS, 2, SIGNIFICANT_DIGITS).expect("valid constant bounds")
    })
}

/// A new, empty, auto-resizing dense histogram (about 16 KB until larger values arrive).
fn new_dense() -> Box<Hdr> {
    let mut h = Hdr::new_from(template());
    h.auto(true);
    Box::new(h)
}

/// Records `count` values `micros` (already clamped) into a dense histogram.
fn dense_record(h: &mut Hdr, micros: u64, count: u64) {
    if h.record_n(micros, count).is_err() {
        h.saturating_record_n(micros, count);
    }
}

/// The bucket key of a value: the lowest value equivalent to it.
fn key_of(micros: u64) -> u64 {
    template().lowest_equivalent(micros.min(HIGHEST_MICROS))
}

/// A latency histogram (microsecond resolution, 3 significant digits, 1 µs … 1 h).
///
/// Cheap to create: nothing is allocated until the first value is recorded. Equality compares
/// the recorded content, whatever the internal form.
#[derive(Clone, Default)]
pub struct Histogram {
    repr: Repr,
}

#[derive(Clone, Default)]
enum Repr {
    /// Nothing recorded, nothing allocated; records go to the dense form.
    #[default]
    Empty,
    /// The hdrhistogram form.
    Dense(Box<Hdr>),
    /// `(bucket key = lowest equivalent value in µs, count)`, sorted by key, counts > 0.
    Compact(Vec<(u64, u64)>),
}

/// One bar of a response-time distribution: the samples in `[low, high)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Inclusive lower bound.
    pub low: Duration,
    /// Exclusive upper bound.
    pub high: Duration,
    /// Number of samples.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram (no allocation); records go to the fast dense form.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty histogram that records into the compact form: a little slower per record but
    /// small, for the many short-lived histograms (e.g. one per second).
    pub fn new_compact() -> Self {
        Histogram {
            repr: Repr::Compact(Vec::new()),
        }
    }

    /// Records one latency (saturating at one hour).
    pub fn record(&mut self, latency: Duration) {
        self.record_micros(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    /// Records one latency in microseconds (saturating at one hour).
    pub fn record_micros(&mut self, micros: u64) {
        self.record_n_micros(micros, 1);
    }

    /// Records `count` latencies of `micros` microseconds each (saturating at one hour).
    pub fn record_n_micros(&mut self, micros: u64, count: u64) {
        if count == 0 {
            return;
        }
        let micros = micros.min(HIGHEST_MICROS);
        match &mut self.repr {
            Repr::Empty => {
                let mut h = new_dense();
                dense_record(&mut h, micros, count);
                self.repr = Repr::Dense(h);
            }
            Repr::Dense(h) => dense_record(h, micros, count),
            Repr::Compact(entries) => {
                let key = key_of(micros);
                match entries.binary_search_by_key(&key, |&(k, _)| k) {
                    Ok(i) => entries[i].1 = entries[i].1.saturating_add(count),
                    Err(i) => entries.insert(i, (key, count)),
                }
            }
        }
    }

    /// Adds all samples of `other` (exact: bucket counts are summed).
    pub fn merge(&mut self, other: &Histogram) {
        match (&mut self.repr, &other.repr) {
            (_, Repr::Empty) => {}
            (Repr::Empty, _) => self.repr = other.repr.clone(),
            (Repr::Dense(a), Repr::Dense(b)) => {
                if a.add(&**b).is_err() {
                    // Not expected (same configuration, auto-resize): fall back per bucket.
                    for (key, count) in other.entries() {
                        dense_record(a, key, count);
                    }
                }
            }
            (Repr::Dense(a), Repr::Compact(b)) => {
                for &(key, count) in b {
                    dense_record(a, key, count);
                }
            }
            (Repr::Compact(a), _) => {
                let merged = merge_sorted(a, other.entries());
                *a = merged;
            }
        }
    }

    /// Converts to the compact form (a sorted list of non-empty buckets), releasing the dense
    /// counts array. Recording afterwards stays compact.
    pub fn compact(&mut self) {
        if let Repr::Dense(_) = self.repr {
            let entries: Vec<(u64, u64)> = self.entries().collect();
            self.repr = Repr::Compact(entries);
        }
    }

    /// Whether the histogram is in the compact form.
    pub fn is_compact(&self) -> bool {
        matches!(self.repr, Repr::Compact(_))
    }

    /// Number of recorded samples.
    pub fn count(&self) -> u64 {
        match &self.repr {
            Repr::Empty => 0,
            Repr::Dense(h) => h.len(),
            Repr::Compact(e) => e.iter().fold(0u64, |t, &(_, c)| t.saturating_add(c)),
        }
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// The non-empty buckets, ascending: `(lowest value of the bucket in µs, count)`.
    pub fn entries(&self) -> Entries<'_> {
        Entries {
            inner: match &self.repr {
                Repr::Empty => EntriesInner::Empty,
                Repr::Dense(h) => EntriesInner::Dense(h.iter_recorded()),
                Repr::Compact(e) => EntriesInner::Compact(e.iter()),
            },
        }
    }

    /// Smallest latency in microseconds (lowest value of its bucket); 0 when empty.
    pub fn min_micros(&self) -> u64 {
        self.entries().next().map_or(0, |(key, _)| key)
    }

    /// Largest latency in microseconds (highest value of its bucket); 0 when empty.
    pub fn max_micros(&self) -> u64 {
        self.entries()
            .last()
            .map_or(0, |(key, _)| template().highest_equivalent(key))
    }

    /// Smallest latency in milliseconds; 0 when empty.
    pub fn min(&self) -> f64 {
        micros_to_ms(self.min_micros())
    }

    /// Largest latency in milliseconds; 0 when empty.
    pub fn max(&self) -> f64 {
        micros_to_ms(self.max_micros())
    }

    /// Mean latency in milliseconds; 0 when empty.
    pub fn mean(&self) -> f64 {
        self.mean_micros() / 1000.0
    }

    /// Standard deviation of latencies in milliseconds; 0 when empty.
    pub fn stddev(&self) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let mean = self.mean_micros();
        let sum = self.entries().fold(0.0_f64, |acc, (key, count)| {
            let dev = median_of(key) as f64 - mean;
            acc + dev * dev * count as f64
        });
        (sum / total as f64).sqrt() / 1000.0
    }

    fn mean_micros(&self) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        self.entries().fold(0.0_f64, |acc, (key, count)| {
            acc + median_of(key) as f64 * count as f64 / total as f64
        })
    }

    /// The latency below or at which `p` percent of the samples fall (`p` in 0..=100, clamped;
    /// `p = 0` gives the minimum, `p = 100` the maximum); zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        Duration::from_micros(self.percentile_micros(p))
    }

    /// [`Histogram::percentile`] in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        micros_to_ms(self.percentile_micros(p))
    }

    /// [`Histogram::percentile`] in microseconds (same rule as `hdrhistogram`'s
    /// `value_at_percentile`: the highest value equivalent to the bucket reaching the rank).
    pub fn percentile_micros(&self, p: f64) -> u64 {
        let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 100.0) };
        let quantile = p / 100.0;
        let total = self.count();
        if total == 0 {
            return 0;
        }
        // As in hdrhistogram: ceil(q * n) as the rank, at least 1.
        let rank = ((quantile * total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let mut last = 0u64;
        for (key, count) in self.entries() {
            seen = seen.saturating_add(count);
            last = key;
            if seen >= rank {
                break;
            }
        }
        if quantile == 0.0 {
            last
        } else {
            template().highest_equivalent(last)
        }
    }

    /// A response-time distribution in [`DEFAULT_BUCKETS`] equal-width buckets from the minimum
    /// to the maximum (empty when no samples).
    pub fn buckets(&self) -> Vec<Bucket> {
        self.buckets_with(DEFAULT_BUCKETS)
    }

    /// A response-time distribution in at most `n` equal-width buckets (at least 1 µs wide)
    /// spanning the minimum to the maximum; each sample counts in the bucket of the middle of its
    /// HDR bucket. Empty when no samples or `n == 0`.
    pub fn buckets_with(&self, n: usize) -> Vec<Bucket> {
        if n == 0 || self.is_empty() {
            return Vec::new();
        }
        let (lo, hi) = (self.min_micros(), self.max_micros().max(self.min_micros()));
        let n = n as u64;
        let width = (hi - lo) / n + 1;
        let len = (hi - lo) / width + 1;
        let mut out: Vec<Bucket> = (0..len)
            .map(|i| Bucket {
                low: Duration::from_micros(lo + i * width),
                high: Duration::from_micros(lo + (i + 1) * width),
                count: 0,
            })
            .collect();
        for (key, count) in self.entries() {
            let v = median_of(key).clamp(lo, hi);
            let index = usize::try_from((v - lo) / width).unwrap_or(usize::MAX);
            if let Some(bucket) = out.get_mut(index) {
                bucket.count = bucket.count.saturating_add(count);
            }
        }
        out
    }
    /// The content as an `hdrhistogram` histogram: borrowed when dense, built when compact;
    /// `None` when empty.
    pub(super) fn to_hdr(&self) -> Option<Cow<'_, Hdr>> {
        match &self.repr {
            Repr::Dense(h) if !h.is_empty() => Some(Cow::Borrowed(&**h)),
            Repr::Compact(e) if !e.is_empty() => {
                let mut h = new_dense();
                for &(key, count) in e {
                    dense_record(&mut h, key, count);
                }
                Some(Cow::Owned(*h))
            }
            _ => None,
        }
    }

    /// A compact histogram of `(value in µs, count)` pairs in any order (values are re-bucketed
    /// and saturated, equal buckets summed).
    pub(super) fn from_entries(mut entries: Vec<(u64, u64)>) -> Histogram {
        for entry in &mut entries {
            entry.0 = key_of(entry.0);
        }
        entries.sort_by_key(|&(k, _)| k);
        entries.dedup_by(|b, a| {
            if a.0 == b.0 {
                a.1 = a.1.saturating_add(b.1);
                true
            } else {
                false
            }
        });
        entries.retain(|&(_, c)| c > 0);
        Histogram {
            repr: if entries.is_empty() {
                Repr::Empty
            } else {
                Repr::Compact(entries)
            },
        }
    }
}

fn micros_to_ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The middle value of the bucket `key` (as hdrhistogram's `median_equivalent`).
fn median_of(key: u64) -> u64 {
    let t = template();
    t.lowest_equivalent(key)
        .saturating_add(t.equivalent_range(key) >> 1)
}

/// Merges a sorted bucket list with sorted bucket entries.
fn merge_sorted(a: &[(u64, u64)], b: Entries<'_>) -> Vec<(u64, u64)> {
    let mut out = Vec::with_capacity(a.len());
    let mut a = a.iter().copied().peekable();
    let mut b = b.peekable();
    loop {
        let next = match (a.peek(), b.peek()) {
            (None, None) => break,
            (Some(_), None) => a.next(),
            (None, Some(_)) => b.next(),
            (Some(x), Some(y)) if x.0 < y.0 => a.next(),
            (Some(x), Some(y)) if x.0 > y.0 => b.next(),
            (Some(_), Some(_)) => match (a.next(), b.next()) {
                (Some(x), Some(y)) => Some((x.0, x.1.saturating_add(y.1))),
                _ => None,
            },
        };
        match next {
            Some(entry) if entry.1 > 0 => out.push(entry),
            Some(_) => {}
            None => break,
        }
    }
    out
}

/// Iterator over the non-empty buckets of a [`Histogram`]: `(lowest value in µs, count)`.
pub struct Entries<'a> {
    inner: EntriesInner<'a>,
}

enum EntriesInner<'a> {
    Empty,
    Dense(
        hdrhistogram::iterators::HistogramIterator<
            'a,
            u64,
            hdrhistogram::iterators::recorded::Iter,
        >,
    ),
    Compact(std::slice::Iter<'a, (u64, u64)>),
}

impl Iterator for Entries<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        match &mut self.inner {
            EntriesInner::Empty => None,
            EntriesInner::Dense(it) => it
                .next()
                .map(|v| (key_of(v.value_iterated_to()), v.count_at_value())),
            EntriesInner::Compact(it) => it.next().copied(),
        }
    }
}

impl PartialEq for Histogram {
    fn eq(&self, other: &Self) -> bool {
        self.entries().eq(other.entries())
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count())
            .field("min_ms", &self.min())
            .field("p50_ms", &self.percentile_ms(50.0))
            .field("max_ms", &self.max())
            .field("compact", &self.is_compact())
            .finish()
    }
}

//! [`Feeder`]: hands out the records of one segment according to the feeder's strategy.
//!
//! Segment `i` of `N` owns the positions `i, i+N, i+2N, …` of the feeder's order (file order
//! for queue and circular, one seeded permutation for shuffle), so segments never share a
//! queue or shuffle record and together use them all. Every draw is one atomic increment.
//!
//! Randomness comes from SplitMix64, implemented here so that the shuffle permutation is the
//! same on every machine and with every version of the `rand` crate: the segments of a
//! distributed run compute it independently and must agree.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::{FeederData, Record};
use crate::model::FeederStrategy;
use crate::Segment;

/// SplitMix64's increment (the golden ratio).
const GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

/// SplitMix64's output function: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The next output of a SplitMix64 generator whose state is `state`.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(GAMMA);
    mix(*state)
}

/// A uniform integer in `0..n` (`n > 0`), without bias (Lemire's method).
fn below(state: &mut u64, n: u64) -> u64 {
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = u128::from(next(state)) * u128::from(n);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}

/// The permutation of `0..len` fixed by `seed` (Fisher–Yates).
fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    let mut state = seed;
    for i in (1..len).rev() {
        let j = below(&mut state, i as u64 + 1);
        order.swap(i, usize::try_from(j).unwrap_or(i));
    }
    order
}

/// The record positions a segment walks through.
#[derive(Debug)]
enum Order {
    /// Global indices `segment.global_index(j)` for `j < share`.
    Stripe { segment: Segment, share: u64 },
    /// Explicit global indices.
    List(Box<[usize]>),
    /// Every record: `j < len`.
    All { len: u64 },
}

impl Order {
    fn len(&self) -> u64 {
        match self {
            Order::Stripe { share, .. } => *share,
            Order::List(list) => list.len() as u64,
            Order::All { len } => *len,
        }
    }

    /// The global index of position `j`.
    fn at(&self, j: u64) -> Option<usize> {
        if j >= self.len() {
            return None;
        }
        match self {
            Order::Stripe { segment, .. } => usize::try_from(segment.global_index(j)).ok(),
            Order::List(list) => usize::try_from(j).ok().and_then(|j| list.get(j)).copied(),
            Order::All { .. } => usize::try_from(j).ok(),
        }
    }
}

/// Hands out the records of one feeder for one segment; shared by all users of a run.
///
/// - **queue**: the segment's records (positions `i, i+N, …` in file order), each once, then
///   `None`.
/// - **shuffle**: the same over one permutation of the records fixed by the seed (identical in
///   every segment, so segments stay disjoint).
/// - **circular**: the segment's records over and over (all records when the segment owns
///   none because there are fewer records than segments).
/// - **random**: any record, uniformly; the sequence is fixed by the seed and the segment.
///
/// Lock-free: each [`Feeder::next`] is one atomic increment.
#[derive(Debug)]
pub struct Feeder {
    data: Arc<FeederData>,
    strategy: FeederStrategy,
    segment: Segment,
    order: Order,
    /// Next position in `order` (queue, shuffle, circular) or number of draws (random).
    position: AtomicU64,
    /// Key of the random sequence (random).
    key: u64,
}

impl Feeder {
    /// A feeder over `data` for `segment` (an invalid segment, with `index >= count`, is taken
    /// as the whole run). `seed` fixes the shuffle permutation and the random sequence.
    pub fn new(
        data: Arc<FeederData>,
        strategy: FeederStrategy,
        segment: Segment,
        seed: u64,
    ) -> Feeder {
        let segment = if segment.index < segment.count {
            segment
        } else {
            Segment::WHOLE
        };
        let total = data.len() as u64;
        let share = segment.share_of(total);
        let order = match strategy {
            FeederStrategy::Queue => Order::Stripe { segment, share },
            FeederStrategy::Shuffle => {
                let perm = permutation(data.len(), seed);
                let stripe = (0..share)
                    .filter_map(|j| usize::try_from(segment.global_index(j)).ok())
                    .filter_map(|k| perm.get(k).copied())
                    .collect();
                Order::List(stripe)
            }
            FeederStrategy::Circular if share > 0 => Order::Stripe { segment, share },
            FeederStrategy::Circular | FeederStrategy::Random => Order::All { len: total },
        };
        let key = mix(seed ^ mix(u64::from(segment.index).wrapping_add(GAMMA)));
        Feeder {
            data,
            strategy,
            segment,
            order,
            position: AtomicU64::new(0),
            key,
        }
    }

    /// The next record, or `None` once a queue or shuffle feeder has handed out all the
    /// records of its segment (or when there is no record at all).
    pub fn next(&self) -> Option<Record> {
        let len = self.order.len();
        if len == 0 {
            return None;
        }
        let i = match self.strategy {
            FeederStrategy::Queue | FeederStrategy::Shuffle => {
                // Past the end the counter keeps growing harmlessly (it would take 2^64 calls
                // to wrap).
                let j = self.position.fetch_add(1, Ordering::Relaxed);
                self.order.at(j)?
            }
            FeederStrategy::Circular => {
                let j = self.position.fetch_add(1, Ordering::Relaxed) % len;
                self.order.at(j)?
            }
            FeederStrategy::Random => {
                let k = self.position.fetch_add(1, Ordering::Relaxed);
                let mut state = mix(self.key.wrapping_add(k.wrapping_mul(GAMMA)));
                usize::try_from(below(&mut state, len)).ok()?
            }
        };
        self.data.get(i).cloned()
    }

    /// Advances by `n` records of this segment, as if `next` had been called `n` times (used
    /// when a task resumes mid-run). A queue or shuffle feeder stops at its end.
    pub fn skip(&self, n: u64) {
        let len = self.order.len();
        match self.strategy {
            FeederStrategy::Queue | FeederStrategy::Shuffle => {
                let _ = self
                    .position
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |p| {
                        Some(p.saturating_add(n).min(len.max(p)))
                    });
            }
            FeederStrategy::Circular if len > 0 => {
                self.position.fetch_add(n % len, Ordering::Relaxed);
            }
            FeederStrategy::Circular => {}
            FeederStrategy::Random => {
                self.position.fetch_add(n, Ordering::Relaxed);
            }
        }
    }

    /// Records this segment still has to hand out (queue and shuffle; `None` for the endless
    /// strategies).
    pub fn remaining(&self) -> Option<u64> {
        match self.strategy {
            FeederStrategy::Queue | FeederStrategy::Shuffle => Some(
                self.order
                    .len()
                    .saturating_sub(self.position.load(Ordering::Relaxed)),
            ),
            FeederStrategy::Circular | FeederStrategy::Random => None,
        }
    }

    /// Total number of records of the feeder (all segments).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the feeder has no record at all.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of records this segment walks through: what a queue or shuffle feeder hands out
    /// in all, what a circular feeder cycles over (all records for random).
    pub fn segment_len(&self) -> u64 {
        self.order.len()
    }

    /// The feeder's name.
    pub fn name(&self) -> &str {
        self.data.name()
    }

    /// The records.
    pub fn data(&self) -> &Arc<FeederData> {
        &self.data
    }

    /// How records are handed out.
    pub fn strategy(&self) -> FeederStrategy {
        self.strategy
    }

    /// The segment this feeder serves.
    pub fn segment(&self) -> Segment {
        self.segment
    }
}

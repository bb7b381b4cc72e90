//! Segments: slices of a simulation that together make up exactly the whole.
//!
//! Segment `i` of `N` owns every item (user arrival, closed-model user slot, queue-feeder
//! record) whose global index `k` satisfies `k % N == i`. Striping by index keeps each segment's
//! share of every injection step within one item of `total / N` at every instant, and makes the
//! union of the `N` segments equal the whole schedule by construction.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Segment `index` (0-based) of `count`. Written `i/N` with a 1-based `i` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Segment {
    /// 0-based index, `< count`.
    pub index: u32,
    /// Number of segments, `>= 1`.
    pub count: u32,
}

impl Segment {
    /// The whole simulation (segment 1/1).
    pub const WHOLE: Segment = Segment { index: 0, count: 1 };

    /// Builds segment `index` (0-based) of `count`, checking the bounds.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "invalid segment {}/{count}: expected i/N with 1 <= i <= N",
                index + 1
            ));
        }
        Ok(Segment { index, count })
    }

    /// Whether the item with global index `k` belongs to this segment.
    pub fn owns(self, k: u64) -> bool {
        k % u64::from(self.count) == u64::from(self.index)
    }

    /// How many of the items `0..total` belong to this segment.
    pub fn share_of(self, total: u64) -> u64 {
        let n = u64::from(self.count);
        let i = u64::from(self.index);
        total / n + u64::from(i < total % n)
    }

    /// The `j`-th (0-based) global index owned by this segment.
    pub fn global_index(self, j: u64) -> u64 {
        j * u64::from(self.count) + u64::from(self.index)
    }

    /// Whether this is the whole simulation.
    pub fn is_whole(self) -> bool {
        self.count == 1
    }
}

impl Default for Segment {
    fn default() -> Self {
        Segment::WHOLE
    }
}

impl fmt::Display for Segment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index + 1, self.count)
    }
}

impl FromStr for Segment {
    type Err = String;

    /// Parses `i/N` with a 1-based `i`.
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("invalid segment `{s}`: expected i/N with 1 <= i <= N, e.g. 2/3");
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let i: u32 = i.trim().parse().map_err(|_| bad())?;
        let n: u32 = n.trim().parse().map_err(|_| bad())?;
        if i == 0 {
            return Err(bad());
        }
        Segment::new(i - 1, n).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_one_based_form() {
        assert_eq!(
            "2/3".parse::<Segment>().unwrap(),
            Segment { index: 1, count: 3 }
        );
        assert!("0/3".parse::<Segment>().is_err());
        assert!("4/3".parse::<Segment>().is_err());
        assert!("x".parse::<Segment>().is_err());
        assert_eq!(Segment { index: 1, count: 3 }.to_string(), "2/3");
    }

    proptest! {
        #[test]
        fn shares_partition_the_total(total in 0u64..10_000, n in 1u32..17) {
            let sum: u64 = (0..n).map(|i| Segment::new(i, n).unwrap().share_of(total)).sum();
            prop_assert_eq!(sum, total);
            for i in 0..n {
                let seg = Segment::new(i, n).unwrap();
                let owned = (0..total).filter(|k| seg.owns(*k)).count() as u64;
                prop_assert_eq!(owned, seg.share_of(total));
                for j in 0..seg.share_of(total) {
                    prop_assert!(seg.owns(seg.global_index(j)));
                }
            }
        }
    }
}

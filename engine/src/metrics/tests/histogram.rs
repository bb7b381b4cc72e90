//! Histogram: exact merges, equivalence with hdrhistogram, both forms, serde, saturation.

use std::time::Duration;

use proptest::prelude::*;

use crate::metrics::{Histogram, HIGHEST_MICROS};

const PERCENTILES: [f64; 12] = [
    0.0, 1.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.9, 99.99, 99.999, 100.0,
];

fn hist(values: &[u64]) -> Histogram {
    let mut h = Histogram::new();
    for &v in values {
        h.record_micros(v);
    }
    h
}

fn compact(values: &[u64]) -> Histogram {
    let mut h = Histogram::new_compact();
    for &v in values {
        h.record_micros(v);
    }
    h
}

fn reference(values: &[u64]) -> hdrhistogram::Histogram<u64> {
    let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, HIGHEST_MICROS, 3).unwrap();
    for &v in values {
        // Ours saturates at exactly one hour; hdrhistogram only at the end of its counts array.
        h.saturating_record(v.min(HIGHEST_MICROS));
    }
    h
}

/// Latencies: mostly realistic, some tiny, some beyond the one-hour cap.
fn latencies() -> impl Strategy<Value = Vec<u64>> {
    let value = prop_oneof![
        8 => 0u64..2_000_000,
        1 => 0u64..5,
        1 => 0u64..(2 * HIGHEST_MICROS),
    ];
    prop::collection::vec(value, 0..300)
}

fn assert_same_stats(a: &Histogram, b: &Histogram) {
    assert_eq!(a.count(), b.count());
    assert_eq!(a.min_micros(), b.min_micros());
    assert_eq!(a.max_micros(), b.max_micros());
    assert_eq!(a.mean().to_bits(), b.mean().to_bits());
    assert_eq!(a.stddev().to_bits(), b.stddev().to_bits());
    for p in PERCENTILES {
        assert_eq!(a.percentile(p), b.percentile(p), "p{p}");
    }
    assert_eq!(a, b);
}

proptest! {
    // Debug builds on shared cores: fewer, still varied, cases.
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn merge_is_exact(a in latencies(), b in latencies()) {
        let all: Vec<u64> = a.iter().chain(&b).copied().collect();
        let whole = hist(&all);
        let mut merged = hist(&a);
        merged.merge(&hist(&b));
        assert_same_stats(&merged, &whole);
        // Every combination of forms gives the same result.
        let mut c = compact(&a);
        c.merge(&hist(&b));
        assert_same_stats(&c, &whole);
        let mut d = hist(&a);
        d.merge(&compact(&b));
        assert_same_stats(&d, &whole);
        let mut e = compact(&a);
        e.merge(&compact(&b));
        assert_same_stats(&e, &whole);
        let mut f = Histogram::new();
        f.merge(&compact(&a));
        f.merge(&hist(&b));
        assert_same_stats(&f, &compact(&all));
    }

    #[test]
    fn merge_commutes_and_associates(a in latencies(), b in latencies(), c in latencies()) {
        let (ha, hb, hc) = (hist(&a), compact(&b), hist(&c));
        let mut left = ha.clone();
        left.merge(&hb);
        left.merge(&hc);
        let mut bc = hb.clone();
        bc.merge(&hc);
        let mut right = ha.clone();
        right.merge(&bc);
        assert_same_stats(&left, &right);
        let mut swapped = hc.clone();
        swapped.merge(&hb);
        swapped.merge(&ha);
        assert_same_stats(&left, &swapped);
    }

    #[test]
    fn matches_hdrhistogram(values in latencies()) {
        let r = reference(&values);
        for h in [hist(&values), compact(&values)] {
            prop_assert_eq!(h.count(), r.len());
            for p in PERCENTILES {
                prop_assert_eq!(h.percentile_micros(p), r.value_at_percentile(p), "p{}", p);
            }
            if !values.is_empty() {
                prop_assert_eq!(h.min_micros(), r.min());
                prop_assert_eq!(h.max_micros(), r.max());
                let mean = h.mean() * 1000.0;
                prop_assert!((mean - r.mean()).abs() <= 1e-9 * r.mean().max(1.0));
                let sd = h.stddev() * 1000.0;
                prop_assert!((sd - r.stdev()).abs() <= 1e-6 * r.stdev().max(1.0));
            }
        }
    }

    #[test]
    fn serde_round_trip(values in latencies()) {
        for h in [hist(&values), compact(&values)] {
            let json = serde_json::to_string(&h).unwrap();
            let back: Histogram = serde_json::from_str(&json).unwrap();
            assert_same_stats(&back, &h);
            let bytes = h.to_bytes().unwrap();
            assert_same_stats(&Histogram::from_bytes(&bytes).unwrap(), &h);
        }
    }

    #[test]
    fn garbage_does_not_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let _ = Histogram::from_bytes(&bytes);
        let _ = serde_json::from_value::<Histogram>(serde_json::json!(bytes));
    }

    #[test]
    fn buckets_hold_every_sample(values in latencies(), n in 1usize..120) {
        let h = hist(&values);
        let buckets = h.buckets_with(n);
        prop_assert!(buckets.len() <= n);
        prop_assert_eq!(buckets.iter().map(|b| b.count).sum::<u64>(), h.count());
        for pair in buckets.windows(2) {
            prop_assert_eq!(pair[0].high, pair[1].low);
        }
        if let (Some(first), Some(last)) = (buckets.first(), buckets.last()) {
            prop_assert_eq!(first.low, Duration::from_micros(h.min_micros()));
            prop_assert!(last.high > Duration::from_micros(h.max_micros()));
        }
    }
}

#[test]
fn empty_histogram() {
    let h = Histogram::new();
    assert!(h.is_empty());
    assert!(!h.is_compact());
    assert_eq!(h.count(), 0);
    assert_eq!(h.percentile(99.0), Duration::ZERO);
    assert_eq!(h.min(), 0.0);
    assert_eq!(h.max(), 0.0);
    assert_eq!(h.mean(), 0.0);
    assert_eq!(h.stddev(), 0.0);
    assert!(h.buckets().is_empty());
    assert_eq!(serde_json::to_string(&h).unwrap(), "\"\"");
    let back: Histogram = serde_json::from_str("\"\"").unwrap();
    assert_eq!(back, h);
    let null: Histogram = serde_json::from_str("null").unwrap();
    assert!(null.is_empty());
    assert_eq!(Histogram::new_compact(), h, "equality is by content");
}

#[test]
fn units_and_saturation() {
    let mut h = Histogram::new();
    h.record(Duration::from_millis(250));
    assert_eq!(h.count(), 1);
    assert!(
        (h.percentile_ms(50.0) - 250.0).abs() < 0.25,
        "3 significant digits"
    );
    assert!((h.mean() - 250.0).abs() < 0.25);
    h.record(Duration::MAX);
    h.record(Duration::from_secs(10 * 3600));
    assert_eq!(h.count(), 3);
    let max = h.percentile(100.0);
    assert!(
        max >= Duration::from_secs(3600) && max < Duration::from_secs(3604),
        "{max:?}"
    );
    h.record_micros(u64::MAX);
    h.record_n_micros(0, 0);
    assert_eq!(h.count(), 4);
    // Out-of-range percentiles are clamped, not panics.
    assert_eq!(h.percentile(250.0), h.percentile(100.0));
    assert_eq!(h.percentile(-3.0), h.percentile(0.0));
    assert_eq!(h.percentile(f64::NAN), h.percentile(0.0));
    assert!(h.percentile(0.0) >= Duration::from_micros(249_750));
}

#[test]
fn compact_keeps_content() {
    let values: Vec<u64> = (0..5000).map(|i| (i * 7919) % 3_000_000).collect();
    let mut h = hist(&values);
    let before = h.clone();
    h.compact();
    assert!(h.is_compact());
    assert_same_stats(&h, &before);
    h.record_micros(12);
    assert!(h.is_compact());
    assert_eq!(h.count(), 5001);
}

#[test]
fn deserialized_histograms_are_compact_and_mergeable() {
    let a = hist(&[100, 200, 300]);
    let json = serde_json::to_string(&a).unwrap();
    let mut back: Histogram = serde_json::from_str(&json).unwrap();
    assert!(back.is_compact());
    back.merge(&hist(&[400]));
    assert_eq!(back, hist(&[100, 200, 300, 400]));
    // A byte array (e.g. from a binary format re-encoded as JSON) is accepted too.
    let from_seq: Histogram =
        serde_json::from_value(serde_json::json!(a.to_bytes().unwrap())).unwrap();
    assert_eq!(from_seq, a);
    assert!(serde_json::from_str::<Histogram>("\"not base64!\"").is_err());
    assert!(serde_json::from_str::<Histogram>("\"AAAA\"").is_err());
}

#[test]
fn plain_v2_encodings_of_other_resolutions_are_rebucketed() {
    use hdrhistogram::serialization::{Serializer as _, V2Serializer};
    let mut other = hdrhistogram::Histogram::<u64>::new_with_bounds(1, u64::MAX / 2, 2).unwrap();
    for v in [5u64, 5_000, 7_200_000_000] {
        other.record(v).unwrap();
    }
    let mut bytes = Vec::new();
    V2Serializer::new().serialize(&other, &mut bytes).unwrap();
    let h = Histogram::from_bytes(&bytes).unwrap();
    assert_eq!(h.count(), 3);
    assert!(h.max_micros() <= HIGHEST_MICROS + HIGHEST_MICROS / 1000);
}

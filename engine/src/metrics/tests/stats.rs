//! Result types: merge laws, caps, serde round trips.

use proptest::prelude::*;

use crate::metrics::{
    ErrorSample, Histogram, RequestStats, RunStats, SecondStats, MAX_ERROR_MESSAGES,
    MAX_ERROR_SAMPLES, MAX_SAMPLES_PER_ERROR, OTHER_ERRORS,
};

/// One recorded thing, to build random `RunStats`.
#[derive(Debug, Clone)]
enum Ev {
    Request {
        name: u8,
        second: u8,
        micros: u64,
        ok: bool,
        error: u8,
    },
    Group {
        name: u8,
        micros: u64,
        ok: bool,
    },
    User {
        second: u8,
        started: bool,
    },
    Active {
        second: u8,
        users: u8,
    },
    Sample {
        error: u8,
        text: u8,
    },
}

fn events() -> impl Strategy<Value = Vec<Ev>> {
    let ev = prop_oneof![
        6 => (0u8..4, 0u8..10, 0u64..3_000_000, any::<bool>(), 0u8..6)
            .prop_map(|(name, second, micros, ok, error)| Ev::Request { name, second, micros, ok, error }),
        1 => (0u8..2, 0u64..9_000_000, any::<bool>())
            .prop_map(|(name, micros, ok)| Ev::Group { name, micros, ok }),
        1 => (0u8..10, any::<bool>()).prop_map(|(second, started)| Ev::User { second, started }),
        1 => (0u8..10, 0u8..20).prop_map(|(second, users)| Ev::Active { second, users }),
        1 => (0u8..6, 0u8..3).prop_map(|(error, text)| Ev::Sample { error, text }),
    ];
    prop::collection::vec(ev, 0..80)
}

fn second_mut(stats: &mut RunStats, second: u64) -> &mut SecondStats {
    let i = match stats.series.binary_search_by_key(&second, |s| s.second) {
        Ok(i) => i,
        Err(i) => {
            stats.series.insert(i, SecondStats::new(second));
            i
        }
    };
    &mut stats.series[i]
}

fn build(events: &[Ev]) -> RunStats {
    let mut s = RunStats::default();
    for ev in events {
        match *ev {
            Ev::Request {
                name,
                second,
                micros,
                ok,
                error,
            } => {
                s.requests
                    .entry(format!("r{name}"))
                    .or_default()
                    .record_micros(micros, ok);
                if !ok {
                    s.add_error(&format!("error {error}"), 1);
                }
                let sec = second_mut(&mut s, u64::from(second));
                sec.requests += 1;
                if ok {
                    sec.ok += 1;
                } else {
                    sec.ko += 1;
                }
                sec.latency.record_micros(micros);
            }
            Ev::Group { name, micros, ok } => {
                s.groups
                    .entry(format!("g{name}"))
                    .or_default()
                    .record_micros(micros, ok);
            }
            Ev::User { second, started } => {
                let sec = second_mut(&mut s, u64::from(second));
                if started {
                    sec.users_started += 1;
                    s.users_started += 1;
                } else {
                    sec.users_finished += 1;
                    s.users_finished += 1;
                }
            }
            Ev::Active { second, users } => {
                let sec = second_mut(&mut s, u64::from(second));
                sec.active_users = sec.active_users.max(u64::from(users));
            }
            Ev::Sample { error, text } => {
                let mut one = RunStats::default();
                one.error_samples
                    .push(sample(&format!("error {error}"), &format!("t{text}")));
                s.merge(&one);
            }
        }
    }
    s
}

fn sample(error: &str, text: &str) -> ErrorSample {
    ErrorSample {
        request: "login".into(),
        error: error.into(),
        request_text: format!("POST /login\n\n{text}"),
        response_text: "HTTP/1.1 500\n\nboom".into(),
    }
}

fn merged(parts: &[&RunStats]) -> RunStats {
    let mut out = RunStats::default();
    for part in parts {
        out.merge(part);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn merge_is_commutative_and_associative(a in events(), b in events(), c in events()) {
        let (a, b, c) = (build(&a), build(&b), build(&c));
        let ab_c = merged(&[&merged(&[&a, &b]), &c]);
        let a_bc = merged(&[&a, &merged(&[&b, &c])]);
        let cba = merged(&[&c, &b, &a]);
        prop_assert_eq!(&ab_c, &a_bc);
        prop_assert_eq!(&ab_c, &cba);
    }

    #[test]
    fn merge_counts_everything_once(a in events(), b in events()) {
        let all: Vec<Ev> = a.iter().chain(&b).cloned().collect();
        let (whole, parts) = (build(&all), merged(&[&build(&a), &build(&b)]));
        prop_assert_eq!(&whole.requests, &parts.requests);
        prop_assert_eq!(&whole.groups, &parts.groups);
        prop_assert_eq!(&whole.errors, &parts.errors);
        prop_assert_eq!(whole.total(), parts.total());
        prop_assert_eq!(whole.users_started, parts.users_started);
        let count = |s: &RunStats| s.series.iter().map(|x| x.requests).sum::<u64>();
        prop_assert_eq!(count(&whole), count(&parts));
        prop_assert!(parts.series.windows(2).all(|w| w[0].second < w[1].second));
    }

    #[test]
    fn serde_round_trip(events in events()) {
        let stats = build(&events);
        let json = serde_json::to_string(&stats).unwrap();
        prop_assert_eq!(&serde_json::from_str::<RunStats>(&json).unwrap(), &stats);
        let bytes = serde_json::to_vec_pretty(&stats).unwrap();
        prop_assert_eq!(&serde_json::from_slice::<RunStats>(&bytes).unwrap(), &stats);
        let value = serde_json::to_value(&stats).unwrap();
        prop_assert_eq!(serde_json::from_value::<RunStats>(value).unwrap(), stats);
    }
}

#[test]
fn serde_preserves_every_field() {
    let mut stats = build(&[
        Ev::Request {
            name: 1,
            second: 3,
            micros: 1_234,
            ok: false,
            error: 2,
        },
        Ev::Group {
            name: 0,
            micros: 99_000,
            ok: true,
        },
        Ev::User {
            second: 3,
            started: true,
        },
        Ev::Active {
            second: 4,
            users: 7,
        },
        Ev::Sample { error: 2, text: 1 },
    ]);
    stats.users_finished = 5;
    let back: RunStats = serde_json::from_str(&serde_json::to_string(&stats).unwrap()).unwrap();
    assert_eq!(back, stats);
    assert_eq!(back.requests["r1"].ko, 1);
    assert_eq!(back.requests["r1"].latency.count(), 1);
    assert_eq!(back.groups["g0"].ok, 1);
    assert_eq!(back.errors["error 2"], 1);
    assert_eq!(back.error_samples.len(), 1);
    assert_eq!(back.series.len(), 2);
    assert_eq!(back.series[1].active_users, 7);
    assert_eq!(back.users_finished, 5);
    // Missing fields default (older or partial documents).
    let partial: RunStats = serde_json::from_str(r#"{"users_started": 2}"#).unwrap();
    assert_eq!(partial.users_started, 2);
    assert!(partial.requests.is_empty());
}

#[test]
fn empty_and_total() {
    let mut stats = RunStats::default();
    assert!(stats.is_empty());
    assert_eq!(stats.total(), RequestStats::default());
    stats
        .requests
        .insert("unused".into(), RequestStats::default());
    assert!(stats.is_empty(), "zero entries are still empty");
    stats
        .requests
        .get_mut("unused")
        .unwrap()
        .record_micros(10, true);
    stats
        .requests
        .entry("b".into())
        .or_default()
        .record_micros(30, false);
    assert!(!stats.is_empty());
    let total = stats.total();
    assert_eq!((total.ok, total.ko, total.count()), (1, 1, 2));
    assert_eq!(total.latency.count(), 2);
    assert_eq!(total.failed_percent(), Some(50.0));
}

#[test]
fn error_messages_are_capped_with_exact_total() {
    let mut stats = RunStats::default();
    for i in 0..250 {
        stats.add_error(&format!("message {i:03}"), 1);
    }
    assert_eq!(stats.errors.len(), MAX_ERROR_MESSAGES + 1);
    assert_eq!(stats.errors[OTHER_ERRORS], 50);
    assert_eq!(stats.error_count(), 250);
    // Known messages still count after the cap.
    stats.add_error("message 000", 4);
    assert_eq!(stats.errors["message 000"], 5);
    assert_eq!(stats.error_count(), 254);

    // Merging two capped maps keeps the most frequent messages, and every error.
    let mut other = RunStats::default();
    for i in 0..MAX_ERROR_MESSAGES {
        other.add_error(&format!("frequent {i:03}"), 10);
    }
    let ab = merged(&[&stats, &other]);
    let ba = merged(&[&other, &stats]);
    assert_eq!(ab, ba);
    assert_eq!(ab.errors.len(), MAX_ERROR_MESSAGES + 1);
    assert_eq!(ab.error_count(), 254 + 10 * MAX_ERROR_MESSAGES as u64);
    assert!(ab
        .errors
        .keys()
        .filter(|k| *k != OTHER_ERRORS)
        .all(|k| k.starts_with("frequent")));
}

#[test]
fn error_samples_are_capped() {
    let mut stats = RunStats::default();
    for error in 0..40 {
        let mut part = RunStats::default();
        for text in 0..5 {
            part.error_samples
                .push(sample(&format!("e{error:02}"), &format!("{text}")));
        }
        stats.merge(&part);
    }
    assert_eq!(stats.error_samples.len(), MAX_ERROR_SAMPLES);
    let mut per_error = std::collections::BTreeMap::<&str, usize>::new();
    for s in &stats.error_samples {
        *per_error.entry(&s.error).or_default() += 1;
    }
    assert!(per_error.values().all(|&n| n <= MAX_SAMPLES_PER_ERROR));
    assert_eq!(
        per_error.len(),
        40,
        "every message keeps at least one sample"
    );
    assert!(stats.error_samples.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn series_merge_adds_active_users_of_parallel_segments() {
    let mut a = RunStats::default();
    let mut s = SecondStats::new(5);
    s.active_users = 10;
    s.requests = 1;
    s.ok = 1;
    s.latency.record_micros(1000);
    a.series.push(s.clone());
    let mut b = RunStats::default();
    let mut t = SecondStats::new(5);
    t.active_users = 4;
    b.series.push(SecondStats::new(2));
    b.series.push(t);
    a.merge(&b);
    assert_eq!(
        a.series.iter().map(|s| s.second).collect::<Vec<_>>(),
        vec![2, 5]
    );
    assert_eq!(a.series[1].active_users, 14);
    assert_eq!(a.series[1].requests, 1);
    assert_eq!(a.series[1].latency, {
        let mut h = Histogram::new();
        h.record_micros(1000);
        h
    });
}

#[test]
fn unsorted_series_from_outside_are_normalized() {
    let mut a = RunStats {
        series: vec![SecondStats::new(3), SecondStats::new(1)],
        ..RunStats::default()
    };
    a.series[0].requests = 1;
    a.series[1].requests = 2;
    let mut b = RunStats {
        series: vec![SecondStats::new(3), SecondStats::new(1)],
        ..RunStats::default()
    };
    b.series[0].requests = 4;
    a.merge(&b);
    assert_eq!(
        a.series
            .iter()
            .map(|s| (s.second, s.requests))
            .collect::<Vec<_>>(),
        vec![(1, 2), (3, 5)]
    );
}

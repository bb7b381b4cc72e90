//! Tests of feeders: loaders, their errors, and the strategies across segments.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::{apply, Feeder, FeederData, Record};
use crate::expr::Session;
use crate::model::{FeederDef, FeederStrategy};
use crate::Segment;

fn blank() -> FeederDef {
    FeederDef {
        csv: None,
        json: None,
        records: None,
        strategy: FeederStrategy::Queue,
    }
}

/// Writes `content` to `file` in a fresh directory and loads it with `def`.
fn load_file(file: &str, content: &str, def: FeederDef) -> Result<FeederData, String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), content).unwrap();
    FeederData::load("users", &def, dir.path())
}

fn load_csv(content: &str) -> Result<FeederData, String> {
    load_file(
        "users.csv",
        content,
        FeederDef {
            csv: Some("users.csv".into()),
            ..blank()
        },
    )
}

fn load_json(content: &str) -> Result<FeederData, String> {
    load_file(
        "users.json",
        content,
        FeederDef {
            json: Some("users.json".into()),
            ..blank()
        },
    )
}

fn fields(record: &Record) -> Vec<(String, Value)> {
    record
        .fields()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn csv_loads_trimmed_strings() {
    let data = load_csv("id, name ,age\n1, Ada ,36\n\n2,\"Grace, H\",85\n").unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data.name(), "users");
    let first = data.get(0).unwrap();
    assert_eq!(
        fields(first),
        [
            ("id".into(), json!("1")),
            ("name".into(), json!("Ada")),
            ("age".into(), json!("36"))
        ]
    );
    assert_eq!(data.get(1).unwrap().get("name"), Some(&json!("Grace, H")));
    // Field names are shared between records.
    let (a, b) = (&data.records()[0].0[0].0, &data.records()[1].0[0].0);
    assert!(Arc::ptr_eq(a, b));
}

#[test]
fn csv_errors_name_file_and_line() {
    let ragged = load_csv("id,name\n1,a\n2\n").unwrap_err();
    assert_eq!(
        ragged,
        "feeder `users`: `users.csv` line 3: expected 2 fields (as in the header), found 1"
    );
    assert_eq!(
        load_csv("").unwrap_err(),
        "feeder `users`: `users.csv`: the file is empty (expected a header line)"
    );
    assert_eq!(
        load_csv("id,name\n").unwrap_err(),
        "feeder `users`: `users.csv`: no records after the header line"
    );
    assert_eq!(
        load_csv("id,,x\n1,2,3\n").unwrap_err(),
        "feeder `users`: `users.csv` header: column 2 has no name"
    );
    assert_eq!(
        load_csv("id,id\n1,2\n").unwrap_err(),
        "feeder `users`: `users.csv` header: column `id` appears twice"
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.csv"), b"id\n\xff\n").unwrap();
    let def = FeederDef {
        csv: Some("bad.csv".into()),
        ..blank()
    };
    assert_eq!(
        FeederData::load("users", &def, dir.path()).unwrap_err(),
        "feeder `users`: `bad.csv` line 2: invalid UTF-8"
    );
    let missing = FeederData::load(
        "users",
        &FeederDef {
            csv: Some("nope.csv".into()),
            ..blank()
        },
        Path::new("/nonexistent"),
    );
    let missing = missing.unwrap_err();
    assert!(
        missing.starts_with("feeder `users`: cannot read") && missing.contains("nope.csv"),
        "{missing}"
    );
    let escape = FeederData::load(
        "users",
        &FeederDef {
            csv: Some("../etc/passwd".into()),
            ..blank()
        },
        dir.path(),
    );
    assert!(escape.unwrap_err().contains("must not contain `..`"));
}

#[test]
fn json_loads_arrays_of_objects() {
    let data = load_json(r#"[{"id": 1, "tags": ["a"]}, {"id": 2, "name": null}, {}]"#).unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(
        fields(&data.records()[0]),
        [("id".into(), json!(1)), ("tags".into(), json!(["a"]))]
    );
    assert_eq!(data.get(1).unwrap().get("name"), Some(&Value::Null));
    assert!(data.get(2).unwrap().is_empty());
    assert!(Arc::ptr_eq(
        &data.records()[0].0[0].0,
        &data.records()[1].0[0].0
    ));
}

#[test]
fn json_errors_say_what_was_found() {
    let e = |content: &str| load_json(content).unwrap_err();
    assert_eq!(
        e(r#"{"id": 1}"#),
        "feeder `users`: `users.json`: expected an array of objects, found an object"
    );
    assert_eq!(
        e("3"),
        "feeder `users`: `users.json`: expected an array of objects, found a number"
    );
    assert_eq!(
        e("[]"),
        "feeder `users`: `users.json`: the array is empty (no records)"
    );
    assert_eq!(
        e(r#"[{"a": 1}, "x"]"#),
        "feeder `users`: `users.json`: element 1 (0-based) is a string, expected an object"
    );
    let syntax = e("[\n{\"a\": 1},\n{\"a\" 2}]");
    assert!(
        syntax.starts_with("feeder `users`: `users.json` line 3 column 6: invalid JSON"),
        "{syntax}"
    );
}

#[test]
fn inline_records_and_exclusivity() {
    let records = vec![
        BTreeMap::from([("a".to_string(), json!(1))]),
        BTreeMap::from([("a".to_string(), json!(2))]),
    ];
    let data = FeederData::load(
        "f",
        &FeederDef {
            records: Some(records),
            ..blank()
        },
        Path::new("."),
    )
    .unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data.get(1).unwrap().get("a"), Some(&json!(2)));
    let empty = FeederData::load(
        "f",
        &FeederDef {
            records: Some(vec![]),
            ..blank()
        },
        Path::new("."),
    );
    assert_eq!(empty.unwrap_err(), "feeder `f`: `records` is empty");
    let none = FeederData::load("f", &blank(), Path::new(".")).unwrap_err();
    assert_eq!(
        none,
        "feeder `f`: set exactly one of `csv`, `json` or `records` (found none)"
    );
    let both = FeederDef {
        csv: Some("a.csv".into()),
        records: Some(vec![]),
        ..blank()
    };
    let both = FeederData::load("f", &both, Path::new(".")).unwrap_err();
    assert_eq!(
        both,
        "feeder `f`: set exactly one of `csv`, `json` or `records` (found `csv` and `records`)"
    );
}

#[test]
fn apply_copies_fields_into_the_session() {
    let data = load_csv("id,name\n1,Ada\n").unwrap();
    let mut session = Session::new(1);
    session.set("name", json!("old"));
    apply(&data.records()[0], &mut session);
    assert_eq!(session.get("id"), Some(&json!("1")));
    assert_eq!(session.get("name"), Some(&json!("Ada")));
    assert_eq!(session.len(), 2);
}

/// `n` records `{"i": k}`.
fn numbered(n: usize) -> Arc<FeederData> {
    let name: Arc<str> = "i".into();
    let records = (0..n)
        .map(|k| Record::new(vec![(Arc::clone(&name), json!(k))]))
        .collect();
    Arc::new(FeederData::from_records("numbers", records))
}

fn index(record: &Record) -> u64 {
    record.get("i").and_then(Value::as_u64).unwrap()
}

/// Draws until `None` (at most `limit` times).
fn drain(feeder: &Feeder, limit: usize) -> Vec<u64> {
    std::iter::from_fn(|| feeder.next())
        .take(limit)
        .map(|r| index(&r))
        .collect()
}

fn segment(i: u32, n: u32) -> Segment {
    Segment::new(i, n).unwrap()
}

#[test]
fn queue_hands_out_each_record_once() {
    let feeder = Feeder::new(numbered(5), FeederStrategy::Queue, Segment::WHOLE, 0);
    assert_eq!(feeder.remaining(), Some(5));
    assert_eq!(drain(&feeder, 100), [0, 1, 2, 3, 4]);
    assert_eq!(feeder.remaining(), Some(0));
    assert!(feeder.next().is_none());
    let second = Feeder::new(numbered(10), FeederStrategy::Queue, segment(1, 3), 0);
    assert_eq!(second.segment_len(), 3);
    assert_eq!(drain(&second, 100), [1, 4, 7]);
}

#[test]
fn skip_resumes_mid_run() {
    let feeder = Feeder::new(numbered(10), FeederStrategy::Queue, segment(0, 2), 0);
    feeder.skip(2);
    assert_eq!(feeder.remaining(), Some(3));
    assert_eq!(drain(&feeder, 100), [4, 6, 8]);
    let over = Feeder::new(numbered(10), FeederStrategy::Queue, Segment::WHOLE, 0);
    over.skip(u64::MAX);
    assert_eq!(over.remaining(), Some(0));
    assert!(over.next().is_none());
    let circular = Feeder::new(numbered(3), FeederStrategy::Circular, Segment::WHOLE, 0);
    circular.skip(7);
    assert_eq!(drain(&circular, 3), [1, 2, 0]);
    let shuffled = Feeder::new(numbered(10), FeederStrategy::Shuffle, Segment::WHOLE, 9);
    let all = drain(
        &Feeder::new(numbered(10), FeederStrategy::Shuffle, Segment::WHOLE, 9),
        100,
    );
    shuffled.skip(4);
    assert_eq!(drain(&shuffled, 100), all[4..]);
    let random = Feeder::new(numbered(100), FeederStrategy::Random, Segment::WHOLE, 3);
    let sequence = drain(
        &Feeder::new(numbered(100), FeederStrategy::Random, Segment::WHOLE, 3),
        20,
    );
    random.skip(5);
    assert_eq!(drain(&random, 15), sequence[5..]);
}

#[test]
fn shuffle_is_a_seeded_permutation() {
    let a = drain(
        &Feeder::new(numbered(50), FeederStrategy::Shuffle, Segment::WHOLE, 7),
        100,
    );
    let b = drain(
        &Feeder::new(numbered(50), FeederStrategy::Shuffle, Segment::WHOLE, 7),
        100,
    );
    let c = drain(
        &Feeder::new(numbered(50), FeederStrategy::Shuffle, Segment::WHOLE, 8),
        100,
    );
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert_ne!(a, (0..50).collect::<Vec<u64>>());
    assert_eq!(
        a.iter().copied().collect::<BTreeSet<u64>>(),
        (0..50).collect()
    );
}

#[test]
fn circular_wraps_over_the_segment_stripe() {
    let feeder = Feeder::new(numbered(3), FeederStrategy::Circular, Segment::WHOLE, 0);
    assert_eq!(drain(&feeder, 7), [0, 1, 2, 0, 1, 2, 0]);
    assert_eq!(feeder.remaining(), None);
    let stripe = Feeder::new(numbered(7), FeederStrategy::Circular, segment(2, 3), 0);
    assert_eq!(drain(&stripe, 5), [2, 5, 2, 5, 2]);
    // Fewer records than segments: segment 4/5 owns none and cycles over them all.
    let starved = Feeder::new(numbered(2), FeederStrategy::Circular, segment(3, 5), 0);
    assert_eq!(drain(&starved, 5), [0, 1, 0, 1, 0]);
}

#[test]
fn random_stays_within_records_and_depends_on_segment() {
    let feeder = Feeder::new(numbered(10), FeederStrategy::Random, Segment::WHOLE, 1);
    let drawn = drain(&feeder, 2000);
    assert_eq!(drawn.len(), 2000);
    assert!(drawn.iter().all(|&i| i < 10));
    assert_eq!(drawn.iter().copied().collect::<BTreeSet<u64>>().len(), 10);
    assert_eq!(feeder.remaining(), None);
    let a = drain(
        &Feeder::new(numbered(1000), FeederStrategy::Random, segment(0, 2), 1),
        20,
    );
    let b = drain(
        &Feeder::new(numbered(1000), FeederStrategy::Random, segment(1, 2), 1),
        20,
    );
    assert_ne!(a, b);
}

#[test]
fn empty_data_and_invalid_segments_do_not_panic() {
    for strategy in [
        FeederStrategy::Queue,
        FeederStrategy::Shuffle,
        FeederStrategy::Circular,
        FeederStrategy::Random,
    ] {
        let feeder = Feeder::new(numbered(0), strategy, Segment::WHOLE, 0);
        assert!(feeder.next().is_none());
        assert!(feeder.is_empty());
        feeder.skip(3);
        let bad = Feeder::new(numbered(3), strategy, Segment { index: 4, count: 0 }, 0);
        assert_eq!(bad.segment(), Segment::WHOLE);
        assert!(bad.next().is_some());
        assert_eq!(bad.len(), 3);
    }
}

#[test]
fn feeders_are_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<Feeder>();
    let feeder = Arc::new(Feeder::new(
        numbered(1000),
        FeederStrategy::Queue,
        Segment::WHOLE,
        0,
    ));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let feeder = Arc::clone(&feeder);
            std::thread::spawn(move || drain(&feeder, 2000))
        })
        .collect();
    let mut all: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (0..1000).collect::<Vec<u64>>());
}

/// Every queue/shuffle record of the `n` segments, in segment order.
fn union(records: usize, n: u32, strategy: FeederStrategy, seed: u64) -> Vec<u64> {
    let data = numbered(records);
    (0..n)
        .flat_map(|i| {
            drain(
                &Feeder::new(Arc::clone(&data), strategy, segment(i, n), seed),
                records + 1,
            )
        })
        .collect()
}

proptest! {
    #[test]
    fn segments_partition_the_records(records in 0usize..300, n in 1u32..8, seed in any::<u64>()) {
        for strategy in [FeederStrategy::Queue, FeederStrategy::Shuffle] {
            let mut all = union(records, n, strategy, seed);
            all.sort_unstable();
            // Sorted and equal to 0..records: disjoint (no duplicates) and complete.
            prop_assert_eq!(&all, &(0..records as u64).collect::<Vec<u64>>());
        }
    }

    #[test]
    fn random_draws_are_records(records in 1usize..50, n in 1u32..8, seed in any::<u64>()) {
        for i in 0..n {
            let feeder = Feeder::new(numbered(records), FeederStrategy::Random, segment(i, n), seed);
            prop_assert!(drain(&feeder, 100).iter().all(|&k| k < records as u64));
        }
    }

    #[test]
    fn circular_never_ends(records in 1usize..50, n in 1u32..8, i in 0u32..8) {
        let i = i % n;
        let feeder = Feeder::new(numbered(records), FeederStrategy::Circular, segment(i, n), 0);
        let drawn = drain(&feeder, 3 * records);
        prop_assert_eq!(drawn.len(), 3 * records);
        let owned: Vec<u64> = (0..records as u64).filter(|k| segment(i, n).owns(*k)).collect();
        let expected: Vec<u64> = if owned.is_empty() { (0..records as u64).collect() } else { owned };
        prop_assert!(drawn.iter().all(|k| expected.contains(k)));
    }
}

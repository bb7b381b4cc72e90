//! Unit tests of opening a store: format version checks.

use crate::db::{overwrite_format_for_test, CF_LOG};
use crate::{open, Error, STORE_FORMAT};

#[test]
fn store_of_a_future_format_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    overwrite_format_for_test(dir.path(), STORE_FORMAT + 1).unwrap();
    match open(dir.path()) {
        Err(
            err @ Error::FutureFormat {
                found, supported, ..
            },
        ) => {
            assert_eq!((found, supported), (STORE_FORMAT + 1, STORE_FORMAT));
            assert!(err.to_string().contains("newer broadside binary"), "{err}");
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn store_with_an_unknown_column_family_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path()).unwrap());
    {
        let path = dir.path().join("db");
        let cfs = rocksdb::DB::list_cf(&rocksdb::Options::default(), &path).unwrap();
        let mut db = rocksdb::DB::open_cf(&rocksdb::Options::default(), &path, cfs).unwrap();
        db.create_cf("from_the_future", &rocksdb::Options::default())
            .unwrap();
    }
    assert!(matches!(open(dir.path()), Err(Error::FutureFormat { .. })));
}

#[tokio::test]
async fn log_record_of_a_future_version_fails_to_read() {
    use openraft::RaftLogReader;
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _sm) = open(dir.path()).unwrap();
    {
        let db = &log.db_for_test().db;
        db.put_cf(
            db.cf_handle(CF_LOG).unwrap(),
            1u64.to_be_bytes(),
            [crate::RECORD_VERSION + 1, 0, 0],
        )
        .unwrap();
    }
    let err = log.try_get_log_entries(1..2).await.unwrap_err();
    assert!(err.to_string().contains("format version"), "{err}");
}

#[test]
fn encoded_len_is_the_size_of_the_stored_record() {
    use crate::command::{Command, Request};
    use crate::types::RequestId;
    let request = Request::new(
        RequestId(7),
        1_700_000_000_000,
        Command::PutBlobChunk {
            sha256: crate::Sha256::of(b"x"),
            size: 3,
            chunk_count: 1,
            index: 0,
            data: vec![1, 2, 3],
        },
    );
    assert_eq!(
        request.encoded_len().unwrap(),
        crate::codec::encode(&request).unwrap().len()
    );
}

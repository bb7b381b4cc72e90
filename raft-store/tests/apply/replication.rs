//! Request-id deduplication, determinism across replicas, paging.

use super::*;

#[tokio::test]
async fn retried_request_is_applied_once() {
    let mut h = setup().await;
    let request = Request::new(RequestId(42), h.now + 1, Command::SubmitJob(spec(1)));
    let first = h.apply_request(request.clone()).await;
    let second = h.apply_request(request).await;
    assert_eq!(first, second);
    assert_eq!(
        h.reader()
            .list_jobs(None, &PageRequest::default())
            .unwrap()
            .items
            .len(),
        1
    );
    // Past the window the id is forgotten.
    h.now += broadside_raft_store::DEDUP_WINDOW_MS + 10_000;
    h.run(Command::CreateProject {
        name: "later".into(),
        description: String::new(),
    })
    .await;
    let third = h
        .apply_request(Request::new(
            RequestId(42),
            h.now,
            Command::SubmitJob(spec(1)),
        ))
        .await;
    assert_ne!(third, first);
}

#[tokio::test]
async fn replicas_applying_the_same_log_are_identical() {
    let mut a = setup().await;
    let mut b = setup().await;
    for h in [&mut a, &mut b] {
        let job_id = submit(h, 3).await;
        claim(h, job_id, 0, 1, "w1").await;
        h.run(Command::AbortJob {
            job_id,
            reason: "x".into(),
        })
        .await;
    }
    assert_eq!(a.reader().digest().unwrap(), b.reader().digest().unwrap());
    assert_eq!(
        a.reader().last_applied().unwrap(),
        b.reader().last_applied().unwrap()
    );
}

#[tokio::test]
async fn paging_walks_every_item_once() {
    let mut h = Harness::new();
    for i in 0..25 {
        register(&mut h, &format!("w{i:02}")).await;
    }
    let r = h.reader();
    let mut seen = Vec::new();
    let mut req = PageRequest::first(10);
    loop {
        let page = r.list_workers(&req).unwrap();
        seen.extend(page.items.into_iter().map(|w| w.id));
        match page.next {
            Some(next) => req.after = Some(next),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25).map(|i| format!("w{i:02}")).collect();
    assert_eq!(seen, expected);
}

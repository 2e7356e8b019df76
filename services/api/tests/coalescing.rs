//! Coalesced page reads on real PostgreSQL (`GET /v1/numbers` shares one query among identical
//! concurrent requests): answers stay correct, a read never misses a write that completed
//! before it was sent, and a database failure reaches every waiter as the same 503.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::{Backend, TestApp};
use ferry_testkit::{PgOptions, PgServer};
use serde_json::Value;

fn ids(page: &Value) -> Vec<i64> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|n| n["id"].as_i64().expect("id"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_identical_and_different_reads_get_their_own_correct_pages() {
    let app = Arc::new(TestApp::start(Backend::Postgres).await);
    for v in 1..=250 {
        app.store(v).await;
    }
    // The reference: each path read alone.
    let (_, first) = app.get("/v1/numbers?limit=70").await;
    let cursor = first["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let paths = [
        "/v1/numbers".to_owned(),
        "/v1/numbers?limit=100".to_owned(),
        "/v1/numbers?limit=70".to_owned(),
        format!("/v1/numbers?limit=70&cursor={cursor}"),
        "/v1/numbers?limit=1000".to_owned(),
    ];
    let mut expected = Vec::new();
    for path in &paths {
        let (status, page) = app.get(path).await;
        assert_eq!(status, 200, "{page}");
        expected.push(page);
    }
    assert_eq!(
        ids(&expected[3])[0],
        180,
        "the cursor page starts after the first"
    );

    for _round in 0..5 {
        let tasks: Vec<_> = (0..100)
            .map(|i| {
                let app = app.clone();
                let which = i % paths.len();
                let path = paths[which].clone();
                tokio::spawn(async move {
                    let r = app.client.get(app.url(&path)).send().await.expect("GET");
                    let content_type = r.headers()["content-type"].clone();
                    (which, content_type, common::into_json(r).await)
                })
            })
            .collect();
        for task in futures::future::join_all(tasks).await {
            let (which, content_type, (status, page)) = task.expect("task ran");
            assert_eq!(status, 200, "{page}");
            assert_eq!(content_type, "application/json");
            assert_eq!(page, expected[which], "{}", paths[which]);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_answered_before_a_read_was_sent_is_always_in_that_read() {
    // Writers that read right after each write: if a read could join a query that started
    // before it arrived, some read would miss its own writer's row.
    let app = Arc::new(TestApp::start(Backend::Postgres).await);
    let tasks: Vec<_> = (0..32)
        .map(|t| {
            let app = app.clone();
            tokio::spawn(async move {
                for i in 0..25 {
                    let id = app.store(t * 1000 + i).await["id"].as_i64().expect("id");
                    let (status, page) = app.get("/v1/numbers?limit=1000").await;
                    assert_eq!(status, 200, "{page}");
                    let seen = ids(&page);
                    assert!(
                        seen.contains(&id),
                        "number {id} was stored before this read was sent but is missing \
                         from it (newest seen: {:?})",
                        seen.first()
                    );
                }
            })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        task.expect("no read missed an earlier write");
    }
    let (_, page) = app.get("/v1/numbers?limit=1000").await;
    let all: BTreeSet<i64> = ids(&page).into_iter().collect();
    assert_eq!(all.len(), 32 * 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_answers_503_to_every_waiting_reader_and_reads_recover() {
    let mut pg = PgServer::start(&PgOptions::default()).expect("PostgreSQL starts");
    let url = pg.fresh_database().expect("database");
    let app = Arc::new(TestApp::start_on(url, None).await);
    let stored = app.store(1).await;

    tokio::task::block_in_place(|| pg.stop()).expect("PostgreSQL stops");

    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let r = app
                    .client
                    .get(app.url("/v1/numbers"))
                    .send()
                    .await
                    .expect("GET");
                let retry_after = r.headers().get("retry-after").cloned();
                (retry_after, common::into_json(r).await)
            })
        })
        .collect();
    for task in futures::future::join_all(tasks).await {
        let (retry_after, (status, body)) = task.expect("task ran");
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("database_unavailable")),
            "{body}"
        );
        assert_eq!(retry_after.as_ref().map(|v| v.as_bytes()), Some(&b"1"[..]));
    }

    tokio::task::block_in_place(|| pg.resume()).expect("PostgreSQL restarts");
    let mut page = Value::Null;
    for _ in 0..100 {
        let (status, body) = app.get("/v1/numbers").await;
        if status == 200 {
            page = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(page["items"], serde_json::json!([stored]), "reads recover");
}

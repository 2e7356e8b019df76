//! A PostgreSQL outage mid-run: requests get 503 with a JSON error (no panic, nothing
//! reported as stored), and the API recovers by itself when the database returns.

mod common;

use common::TestApp;
use ferry_testkit::{PgOptions, PgServer};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_outage_gives_503s_and_the_api_recovers_when_it_returns() {
    let mut pg = PgServer::start(&PgOptions::default()).expect("PostgreSQL starts");
    let url = pg.fresh_database().expect("database");
    let app = TestApp::start_on(url, None).await;
    app.store(1).await;

    tokio::task::block_in_place(|| pg.stop()).expect("PostgreSQL stops");

    let (status, body) = app.post_json("/v1/numbers", &json!({"value": 2})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "database_unavailable");
    let (status, body) = app.get("/v1/numbers").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (503, Some("database_unavailable")),
        "{body}"
    );
    let (status, body) = app.post_json("/values", &json!({"value": 3})).await;
    assert_eq!((status, &body["working"]), (503, &json!(false)), "{body}");
    assert_eq!(app.get("/readyz").await.0, 503);
    assert_eq!(
        app.get("/healthz").await.0,
        200,
        "the process itself is fine"
    );

    tokio::task::block_in_place(|| pg.resume()).expect("PostgreSQL restarts");

    let mut recovered = false;
    for _ in 0..100 {
        if app.get("/readyz").await.0 == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(recovered, "readiness never came back");
    app.store(4).await;
    let (_, all) = app.get("/values/all").await;
    assert_eq!(
        all,
        json!({"rows": [{"number": 1}, {"number": 4}]}),
        "nothing from the outage was stored"
    );
}

//! Every endpoint of the numbers API, on SQLite and on real PostgreSQL (a fresh database per
//! test): the `/v1` API, the original client's API, idempotency, concurrency, bad input.

mod common;

use common::TestApp;
use serde_json::{Value, json};

on_both_backends!(
    created_numbers_can_be_read_and_deleted,
    pages_are_newest_first_and_cover_every_number_once,
    stats_are_exact_even_beyond_64_bits,
    stats_of_nothing_are_zero_and_null,
    the_original_client_requests_work_unchanged,
    invalid_original_posts_answer_working_false_and_store_nothing,
    bad_input_gets_a_4xx_json_error_naming_the_field_and_stores_nothing,
    bad_ids_cursors_and_limits_are_4xx,
    concurrent_posts_are_all_stored_exactly,
    the_same_idempotency_key_stores_one_row,
    concurrent_retries_with_one_idempotency_key_store_one_row,
    an_idempotency_key_reused_for_another_value_is_refused,
    health_readiness_metrics_and_openapi_answer,
    unknown_routes_and_methods_get_json_errors,
);

async fn created_numbers_can_be_read_and_deleted(app: TestApp) {
    let created = app.store(-42).await;
    assert_eq!(created["value"], -42);
    let id = created["id"].as_i64().expect("id");
    assert!(
        created["createdAt"]
            .as_str()
            .expect("createdAt")
            .ends_with('Z'),
        "{created}"
    );

    let (status, fetched) = app.get(&format!("/v1/numbers/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        fetched, created,
        "a read returns exactly what the create answered"
    );

    assert_eq!(app.delete(&format!("/v1/numbers/{id}")).await, 204);
    let (status, body) = app.get(&format!("/v1/numbers/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(
        app.delete(&format!("/v1/numbers/{id}")).await,
        404,
        "a second delete finds nothing"
    );
    assert_eq!(app.count().await, 0);
}

async fn pages_are_newest_first_and_cover_every_number_once(app: TestApp) {
    for v in 1..=250 {
        app.store(v).await;
    }
    let (status, first) = app.get("/v1/numbers").await;
    assert_eq!(status, 200);
    assert_eq!(
        first["items"].as_array().expect("items").len(),
        100,
        "default limit is 100"
    );

    let mut seen = Vec::new();
    let mut path = "/v1/numbers?limit=70".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|n| n["value"].as_i64().expect("value")),
        );
        match page["nextCursor"].as_str() {
            Some(cursor) => path = format!("/v1/numbers?limit=70&cursor={cursor}"),
            None => break,
        }
    }
    let expected: Vec<i64> = (1..=250).rev().collect();
    assert_eq!(seen, expected);

    let (_, all) = app.get("/v1/numbers?limit=1000").await;
    assert_eq!(all["items"].as_array().expect("items").len(), 250);
    assert_eq!(all["nextCursor"], Value::Null);
}

async fn stats_are_exact_even_beyond_64_bits(app: TestApp) {
    for v in [i64::MAX, i64::MAX, i64::MAX, -5, i64::MIN + 1] {
        app.store(v).await;
    }
    let (status, stats) = app.get("/v1/numbers/stats").await;
    assert_eq!(status, 200);
    let expected_sum: i128 = 3 * i128::from(i64::MAX) - 5 + i128::from(i64::MIN + 1);
    assert_eq!(stats["count"], 5);
    assert!(
        stats
            .to_string()
            .contains(&format!("\"sum\":{expected_sum}")),
        "{stats}"
    );
    assert_eq!(stats["min"], json!(i64::MIN + 1));
    assert_eq!(stats["max"], json!(i64::MAX));
    let mean = stats["mean"].as_f64().expect("mean");
    assert!((mean - expected_sum as f64 / 5.0).abs() < 1e6, "{mean}");
}

async fn stats_of_nothing_are_zero_and_null(app: TestApp) {
    let (status, stats) = app.get("/v1/numbers/stats").await;
    assert_eq!(status, 200);
    assert_eq!(
        stats,
        json!({"count": 0, "sum": 0, "min": null, "max": null, "mean": null})
    );
}

async fn the_original_client_requests_work_unchanged(app: TestApp) {
    // The seed's React client: axios.post('/api/values', { value }) with the text field's
    // content, then axios.get('/api/values/all') and reads rows[].number.
    let (status, body) = app.post_json("/values", &json!({"value": "7"})).await;
    assert_eq!((status, body), (200, json!({"working": true})));
    let (status, body) = app.post_json("/values", &json!({"value": 8})).await;
    assert_eq!((status, body), (200, json!({"working": true})));
    let (status, body) = app.get("/values/all").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"rows": [{"number": 7}, {"number": 8}]}));

    let r = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/plain")
    );
    assert!(!r.text().await.expect("text").is_empty());
}

async fn invalid_original_posts_answer_working_false_and_store_nothing(app: TestApp) {
    for body in [
        json!({"value": "seven"}),
        json!({"value": ""}),
        json!({"value": 1.5}),
        json!({}),
        json!({"value": "99999999999999999999"}),
    ] {
        let (status, answer) = app.post_json("/values", &body).await;
        assert!((400..500).contains(&status), "{body} -> {status}");
        assert_eq!(answer["working"], false, "{body} -> {answer}");
        assert!(
            answer["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{answer}"
        );
    }
    let (status, answer) = app
        .post_raw("/values", Some("application/json"), b"{not json".to_vec())
        .await;
    assert_eq!((status, &answer["working"]), (400, &json!(false)));
    let (_, all) = app.get("/values/all").await;
    assert_eq!(all, json!({"rows": []}));
}

async fn bad_input_gets_a_4xx_json_error_naming_the_field_and_stores_nothing(app: TestApp) {
    struct Case {
        name: &'static str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
        status: u16,
        code: &'static str,
        field: Option<&'static str>,
    }
    let json_case = |name, body: &str, status, code, field| Case {
        name,
        content_type: Some("application/json"),
        body: body.as_bytes().to_vec(),
        status,
        code,
        field,
    };
    let cases = vec![
        json_case(
            "a string",
            r#"{"value": "7"}"#,
            422,
            "invalid_value",
            Some("value"),
        ),
        json_case(
            "a fraction",
            r#"{"value": 7.5}"#,
            422,
            "invalid_value",
            Some("value"),
        ),
        json_case(
            "a boolean",
            r#"{"value": true}"#,
            422,
            "invalid_value",
            Some("value"),
        ),
        json_case(
            "null",
            r#"{"value": null}"#,
            422,
            "missing_field",
            Some("value"),
        ),
        json_case("missing", r#"{}"#, 422, "missing_field", Some("value")),
        json_case(
            "above i64",
            r#"{"value": 9223372036854775808}"#,
            422,
            "out_of_range",
            Some("value"),
        ),
        json_case(
            "below i64",
            r#"{"value": -9223372036854775809}"#,
            422,
            "out_of_range",
            Some("value"),
        ),
        json_case(
            "exponent",
            r#"{"value": 1e300}"#,
            422,
            "out_of_range",
            Some("value"),
        ),
        json_case(
            "unknown field",
            r#"{"value": 1, "note": "x"}"#,
            422,
            "unknown_field",
            Some("note"),
        ),
        json_case("truncated", r#"{"value": 1"#, 400, "malformed_json", None),
        json_case(
            "a key named twice",
            r#"{"value": 1, "value": 2}"#,
            400,
            "duplicate_key",
            Some("value"),
        ),
        json_case(
            "a key named twice deep down",
            r#"{"value": 1, "meta": {"tags": [{"k": "a", "k": "b"}]}}"#,
            400,
            "duplicate_key",
            Some("meta.tags[0].k"),
        ),
        json_case("not an object", "[1]", 400, "malformed_json", None),
        json_case("empty body", "", 400, "malformed_json", None),
        Case {
            name: "text/plain",
            content_type: Some("text/plain"),
            body: br#"{"value": 1}"#.to_vec(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
        },
        Case {
            name: "no content type",
            content_type: None,
            body: br#"{"value": 1}"#.to_vec(),
            status: 415,
            code: "unsupported_media_type",
            field: None,
        },
        Case {
            name: "over the body limit",
            content_type: Some("application/json"),
            body: format!(r#"{{"value": 1, "pad": "{}"}}"#, "x".repeat(64 * 1024)).into_bytes(),
            status: 413,
            code: "payload_too_large",
            field: None,
        },
    ];
    for case in cases {
        let (status, body) = app
            .post_raw("/v1/numbers", case.content_type, case.body)
            .await;
        assert_eq!(status, case.status, "{}: {body}", case.name);
        assert_eq!(body["error"]["code"], case.code, "{}: {body}", case.name);
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{}: {body}",
            case.name
        );
        assert_eq!(
            body["error"]["field"].as_str(),
            case.field,
            "{}: {body}",
            case.name
        );
    }
    assert_eq!(app.count().await, 0, "no bad input was stored");
}

async fn bad_ids_cursors_and_limits_are_4xx(app: TestApp) {
    for (path, field) in [
        ("/v1/numbers/abc", "id"),
        ("/v1/numbers/0", "id"),
        ("/v1/numbers/-3", "id"),
        ("/v1/numbers/99999999999999999999", "id"),
        ("/v1/numbers?limit=0", "limit"),
        ("/v1/numbers?limit=1001", "limit"),
        ("/v1/numbers?limit=ten", "limit"),
        ("/v1/numbers?cursor=not-a-cursor", "cursor"),
        ("/v1/numbers?cursor=", "cursor"),
    ] {
        let (status, body) = app.get(path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["field"], field, "{path}: {body}");
    }
    assert_eq!(app.delete("/v1/numbers/abc").await, 400);
}

async fn concurrent_posts_are_all_stored_exactly(app: TestApp) {
    // On PostgreSQL these are coalesced into multi-row inserts: every caller must still get
    // its own row back (its value, a distinct id) and only after commit.
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (1..=200i64)
        .map(|v| {
            let app = app.clone();
            tokio::spawn(
                async move { (v, app.post_json("/v1/numbers", &json!({"value": v})).await) },
            )
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for answer in futures::future::join_all(tasks).await {
        let (v, (status, body)) = answer.expect("task ran");
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["value"], v, "{body}");
        assert!(
            ids.insert(body["id"].as_i64().expect("id")),
            "duplicate id in {body}"
        );
        let (_, stored) = app.get(&format!("/v1/numbers/{}", body["id"])).await;
        assert_eq!(stored, body, "the answer is the committed row");
    }
    let (_, stats) = app.get("/v1/numbers/stats").await;
    assert_eq!(stats["count"], 200);
    assert_eq!(stats["sum"], 200 * 201 / 2);
}

async fn post_with_key(app: &TestApp, key: &str, value: i64) -> (u16, Value, bool) {
    let r = app
        .client
        .post(app.url("/v1/numbers"))
        .header("idempotency-key", key)
        .json(&json!({"value": value}))
        .send()
        .await
        .expect("POST is answered");
    let replayed = r.headers().get("idempotent-replayed").is_some();
    let (status, body) = common::into_json(r).await;
    (status, body, replayed)
}

async fn the_same_idempotency_key_stores_one_row(app: TestApp) {
    let (s1, first, replayed1) = post_with_key(&app, "order-17", 5).await;
    let (s2, second, replayed2) = post_with_key(&app, "order-17", 5).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(first, second, "the retry answers the first result");
    assert!(!replayed1 && replayed2);
    assert_eq!(app.count().await, 1);
    let (s3, _, _) = post_with_key(&app, "order-18", 5).await;
    assert_eq!(s3, 201);
    assert_eq!(app.count().await, 2, "another key stores another row");
}

async fn concurrent_retries_with_one_idempotency_key_store_one_row(app: TestApp) {
    let app = std::sync::Arc::new(app);
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { post_with_key(&app, "burst", 9).await })
        })
        .collect();
    let answers: Vec<_> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(|r| r.expect("task ran"))
        .collect();
    for (status, body, _) in &answers {
        assert_eq!(*status, 201, "{body}");
        assert_eq!(
            body["id"], answers[0].1["id"],
            "every retry sees the same row"
        );
    }
    assert_eq!(app.count().await, 1);
}

async fn an_idempotency_key_reused_for_another_value_is_refused(app: TestApp) {
    assert_eq!(post_with_key(&app, "k", 1).await.0, 201);
    let (status, body, _) = post_with_key(&app, "k", 2).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "idempotency_key_reused");
    assert_eq!(body["error"]["field"], "Idempotency-Key");
    let (status, body, _) = post_with_key(&app, &"x".repeat(300), 2).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(app.count().await, 1);
}

async fn health_readiness_metrics_and_openapi_answer(app: TestApp) {
    assert_eq!(app.get("/healthz").await.0, 200);
    assert_eq!(app.get("/readyz").await.0, 200);
    app.store(1).await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .contains(r#"http_requests_total{method="POST",route="/v1/numbers",status="201"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"db_pool_connections{state="max"} 16"#),
        "{metrics}"
    );
    let (status, doc) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/v1/numbers",
        "/v1/numbers/{id}",
        "/v1/numbers/stats",
        "/values",
        "/values/all",
        "/healthz",
        "/readyz",
    ] {
        assert!(doc["paths"].get(path).is_some(), "OpenAPI lacks {path}");
    }
}

async fn unknown_routes_and_methods_get_json_errors(app: TestApp) {
    let (status, body) = app.get("/nope").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = app
        .client
        .put(app.url("/v1/numbers"))
        .send()
        .await
        .expect("PUT answered");
    assert_eq!(r.status(), 405);
}

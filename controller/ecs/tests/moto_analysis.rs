//! The metric analysis through the real AWS SDK against moto's CloudWatch: synthetic ALB
//! series put with `PutMetricData` inside the window, then `measure` (one `GetMetricData` call
//! for every check) and `AnalysisRun`'s verdict: a healthy release passes, a 5xx spike fails with
//! its value and threshold, missing data follows `missingData`.
//!
//! moto (5.2.5) computes only `Sum`, `Average`, `Minimum`, `Maximum` and `SampleCount` in
//! `GetMetricData`: a query with a percentile like `p99` makes it answer HTTP 500 (it fails to
//! serialize the missing value). The latency check here uses `Maximum`; `p99` is tested on the
//! fake (`analysis::tests`).

mod support;

use std::time::{Duration, SystemTime};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};
use ferry_core::progressive::AnalysisSpec;
use ferry_ecs::Metered;
use ferry_ecs::SdkApi;
use ferry_ecs::analysis::{AnalysisRun, AnalysisTarget, Outcome, Verdict, measure};
use ferry_testkit::moto::MotoServer;
use serde_json::json;

const LB: &str = "app/web/50dc6c495c0c9188";
const GREEN: &str = "targetgroup/web-green/6d0ecf831eec9f09";
const BLUE: &str = "targetgroup/web-blue/0a1b2c3d4e5f6071";
const ALB: &str = "AWS/ApplicationELB";

struct Cloud {
    _moto: MotoServer,
    sdk: SdkApi,
}

async fn cloud() -> Cloud {
    let moto = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
    let sdk = SdkApi::connect(&support::settings(&moto.endpoint())).await;
    Cloud { _moto: moto, sdk }
}

impl Cloud {
    /// `PutMetricData` of one ALB metric of `target_group`, `samples` at `at`.
    async fn put(&self, metric: &str, target_group: &str, samples: &[f64], at: SystemTime) {
        let unit = if metric == "TargetResponseTime" {
            StandardUnit::Seconds
        } else {
            StandardUnit::Count
        };
        let datum = MetricDatum::builder()
            .metric_name(metric)
            .dimensions(Dimension::builder().name("LoadBalancer").value(LB).build())
            .dimensions(
                Dimension::builder()
                    .name("TargetGroup")
                    .value(target_group)
                    .build(),
            )
            .timestamp(DateTime::from(at))
            .set_values(Some(samples.to_vec()))
            .unit(unit)
            .build();
        self.sdk
            .cloudwatch_client()
            .put_metric_data()
            .namespace(ALB)
            .metric_data(datum)
            .send()
            .await
            .expect("put metric data");
    }
}

/// The prod shape: 5xx ratio under 1 % and the slowest response under 0.5 s, per minute.
fn analysis(failure_limit: u32, missing_data: &str) -> AnalysisSpec {
    serde_json::from_value(json!({
        "interval": "1m",
        "failureLimit": failure_limit,
        "missingData": missing_data,
        "loadBalancer": LB,
        "checks": [
            {"name": "5xx-ratio", "max": 0.01, "ratio": {
                "numerator": {"metricName": "HTTPCode_Target_5XX_Count"},
                "denominator": {"metricName": "RequestCount"}}},
            {"name": "latency", "max": 0.5,
             "metric": {"metricName": "TargetResponseTime", "stat": "Maximum"}},
        ],
    }))
    .expect("analysis spec")
}

fn green() -> AnalysisTarget {
    AnalysisTarget::from_arns(
        None,
        Some(&format!(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:{GREEN}"
        )),
    )
}

fn ago(now: SystemTime, secs: u64) -> SystemTime {
    now - Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_release_passes_every_check_with_one_get_metric_data_call_per_measurement() {
    let cloud = cloud().await;
    let api = Metered::new(cloud.sdk.clone());
    let spec = analysis(0, "fail");
    let start = SystemTime::now() - Duration::from_secs(300);
    let mut run = AnalysisRun::new(&spec, start);
    // Four minutes of traffic on the new target group: requests, a few 5xx in one minute only
    // (ALB publishes no zero counts), fast responses. The old one answers 500s: not counted.
    for minute in 1..=4u64 {
        let end = start + Duration::from_secs(60 * minute);
        cloud
            .put("RequestCount", GREEN, &[500.0, 500.0], ago(end, 30))
            .await;
        cloud
            .put(
                "TargetResponseTime",
                GREEN,
                &[0.08, 0.12, 0.31],
                ago(end, 20),
            )
            .await;
        cloud
            .put("RequestCount", BLUE, &[100.0], ago(end, 30))
            .await;
        cloud
            .put("HTTPCode_Target_5XX_Count", BLUE, &[90.0], ago(end, 30))
            .await;
        if minute == 2 {
            cloud
                .put("HTTPCode_Target_5XX_Count", GREEN, &[2.0], ago(end, 10))
                .await;
        }
    }
    for minute in 1..=4u64 {
        let end = start + Duration::from_secs(60 * minute);
        assert!(run.due(end), "minute {minute}");
        let out = measure(&api, &spec, &green(), end).await.expect("measure");
        let expected = if minute == 2 { 0.002 } else { 0.0 };
        assert_eq!(out[0].value, Some(expected), "minute {minute}: {out:?}");
        assert_eq!(out[0].outcome, Outcome::Pass, "{out:?}");
        assert_eq!(out[1].value, Some(0.31), "{out:?}");
        assert_eq!(out[1].message, "latency = 0.31, within max 0.5");
        assert_eq!(run.record(&spec, end, out), Verdict::Continue);
    }
    assert_eq!(api.counts().get("GetMetricData"), 4);
    assert!(run.failures().values().all(|n| *n == 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_5xx_spike_fails_the_analysis_with_the_value_and_the_threshold() {
    let cloud = cloud().await;
    let spec = analysis(1, "fail");
    let now = SystemTime::now();
    let start = ago(now, 180);
    let mut run = AnalysisRun::new(&spec, start);
    for minute in 1..=3u64 {
        let end = start + Duration::from_secs(60 * minute);
        cloud
            .put("RequestCount", GREEN, &[1000.0], ago(end, 30))
            .await;
        cloud
            .put("TargetResponseTime", GREEN, &[0.1], ago(end, 30))
            .await;
        if minute >= 2 {
            cloud
                .put(
                    "HTTPCode_Target_5XX_Count",
                    GREEN,
                    &[70.0, 50.0],
                    ago(end, 30),
                )
                .await;
        }
    }
    let mut verdicts = Vec::new();
    for minute in 1..=3u64 {
        let end = start + Duration::from_secs(60 * minute);
        let out = measure(&cloud.sdk, &spec, &green(), end)
            .await
            .expect("measure");
        verdicts.push(run.record(&spec, end, out));
    }
    assert_eq!(
        verdicts,
        [
            Verdict::Continue,
            Verdict::Continue,
            Verdict::Failed {
                message: "analysis failed: 5xx-ratio = 0.12, above max 0.01 (2 failed measurements, 1 allowed)".into()
            },
        ],
        "the first spike is within failureLimit 1, the second is not"
    );
    assert_eq!(run.last_measurements()[0].value, Some(0.12));
    assert_eq!(run.last_measurements()[1].outcome, Outcome::Pass);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_data_fails_under_missing_data_fail_and_continues_under_ignore() {
    let cloud = cloud().await;
    let now = SystemTime::now();
    // Data, but outside the window (older than the interval) and on the old target group.
    cloud
        .put("RequestCount", GREEN, &[1000.0], ago(now, 200))
        .await;
    cloud
        .put("TargetResponseTime", GREEN, &[0.1], ago(now, 200))
        .await;
    cloud
        .put("RequestCount", BLUE, &[1000.0], ago(now, 20))
        .await;
    cloud
        .put("TargetResponseTime", BLUE, &[0.1], ago(now, 20))
        .await;

    let fail = analysis(0, "fail");
    let out = measure(&cloud.sdk, &fail, &green(), now)
        .await
        .expect("measure");
    assert!(
        out.iter()
            .all(|m| m.outcome == Outcome::NoData && m.value.is_none()),
        "{out:?}"
    );
    let mut run = AnalysisRun::new(&fail, ago(now, 60));
    assert_eq!(
        run.record(&fail, now, out.clone()),
        Verdict::Failed {
            message: "analysis failed: 5xx-ratio: no data in the last 1m (1 failed measurement, 0 allowed); latency: no data in the last 1m (1 failed measurement, 0 allowed)".into()
        }
    );

    let ignore = analysis(0, "ignore");
    let mut run = AnalysisRun::new(&ignore, ago(now, 60));
    assert_eq!(run.record(&ignore, now, out), Verdict::Continue);
    assert_eq!(run.failures().get("latency"), Some(&0));
}

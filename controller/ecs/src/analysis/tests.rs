//! Unit tests of the analysis's pure parts (suffixes, queries, values, verdicts) and of
//! `measure` on the in-process fake.

use std::time::{Duration, SystemTime};

use ferry_core::progressive::AnalysisSpec;
use serde_json::json;

use super::*;
use crate::fake::FakeEcs;

const LB: &str = "app/web/50dc6c495c0c9188";
const TG: &str = "targetgroup/web-green/6d0ecf831eec9f09";
const ALB: &str = "AWS/ApplicationELB";

fn spec(v: serde_json::Value) -> AnalysisSpec {
    serde_json::from_value(v).expect("analysis spec")
}

/// The prod shape: 5xx ratio under 1 % and p99 latency under 0.5 s, per minute.
fn prod(failure_limit: u32, missing_data: &str) -> AnalysisSpec {
    spec(json!({
        "interval": "1m",
        "failureLimit": failure_limit,
        "missingData": missing_data,
        "loadBalancer": LB,
        "checks": [
            {"name": "5xx-ratio", "max": 0.01, "ratio": {
                "numerator": {"metricName": "HTTPCode_Target_5XX_Count"},
                "denominator": {"metricName": "RequestCount"}}},
            {"name": "p99-latency", "max": 0.5,
             "metric": {"metricName": "TargetResponseTime", "stat": "p99"}},
        ],
    }))
}

fn target() -> AnalysisTarget {
    AnalysisTarget {
        load_balancer: None,
        target_group: Some(TG.into()),
    }
}

fn alb(fake: &FakeEcs, metric: &str, samples: &[f64]) {
    fake.set_metric(
        ALB,
        metric,
        &[("LoadBalancer", LB), ("TargetGroup", TG)],
        samples,
    );
}

fn m(check: &str, value: Option<f64>, outcome: Outcome) -> Measurement {
    Measurement {
        check: check.into(),
        value,
        outcome,
        message: match value {
            Some(v) => format!("{check} = {v}, above max 0.01"),
            None => format!("{check}: no data in the last 1m"),
        },
    }
}

#[test]
fn arn_suffix_gives_cloudwatch_dimension_values_of_albs_and_target_groups() {
    assert_eq!(
        arn_suffix(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188"
        )
        .as_deref(),
        Some(LB)
    );
    assert_eq!(
        arn_suffix(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-green/6d0ecf831eec9f09"
        )
        .as_deref(),
        Some(TG)
    );
    assert_eq!(arn_suffix(LB).as_deref(), Some(LB));
    assert_eq!(arn_suffix(TG).as_deref(), Some(TG));
    assert_eq!(
        arn_suffix("arn:aws:elasticloadbalancing:eu-west-1:1:loadbalancer/net/db/abc").as_deref(),
        Some("net/db/abc")
    );
    for bad in [
        "arn:aws:ecs:us-east-1:1:service/c/web",
        "arn:aws:elasticloadbalancing:us-east-1:1:listener/app/web/1/2",
        "targetgroup/web",
        "app//id",
        "",
    ] {
        assert_eq!(arn_suffix(bad), None, "{bad}");
    }
}

#[test]
fn alb_metrics_get_the_load_balancer_and_the_new_target_group_unless_given() {
    let mut s = prod(0, "fail");
    s.checks[1].metric.as_mut().expect("metric").dimensions =
        [("TargetGroup".to_owned(), "targetgroup/pinned/1".to_owned())].into();
    s.checks.push(
        serde_json::from_value(json!({"name": "cpu", "max": 90,
            "metric": {"namespace": "AWS/ECS", "metricName": "CPUUtilization", "stat": "Average",
                       "dimensions": {"ClusterName": "c", "ServiceName": "web"}}}))
        .expect("check"),
    );
    let q = queries(&s, &target());
    let ids: Vec<&str> = q.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(ids, ["n0", "d0", "m1", "m2"]);
    let both: BTreeMap<String, String> = [
        ("LoadBalancer".to_owned(), LB.to_owned()),
        ("TargetGroup".to_owned(), TG.to_owned()),
    ]
    .into();
    assert_eq!(q[0].dimensions, both);
    assert_eq!(q[0].stat, "Sum");
    assert_eq!(q[0].namespace, ALB);
    assert_eq!(
        q[2].dimensions.get("TargetGroup").map(String::as_str),
        Some("targetgroup/pinned/1")
    );
    assert_eq!(q[2].stat, "p99");
    assert_eq!(
        q[3].dimensions.keys().collect::<Vec<_>>(),
        ["ClusterName", "ServiceName"],
        "no ALB dimensions outside AWS/ApplicationELB"
    );
    assert!(q.iter().all(|q| q.period_secs == 60));

    // The analysis's loadBalancer may be an ARN; without one the target's is used.
    let mut s = prod(0, "fail");
    s.load_balancer = Some(
        "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188".into(),
    );
    assert_eq!(queries(&s, &target())[0].dimensions, both);
    s.load_balancer = None;
    let t = AnalysisTarget::from_arns(
        Some("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/web/50dc6c495c0c9188"),
        Some("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-green/6d0ecf831eec9f09"),
    );
    assert_eq!(queries(&s, &t)[0].dimensions, both);
}

#[test]
fn periods_are_whole_minutes_covering_the_interval() {
    assert_eq!(period_secs(Duration::from_secs(1)), 60);
    assert_eq!(period_secs(Duration::from_secs(60)), 60);
    assert_eq!(period_secs(Duration::from_secs(90)), 120);
    assert_eq!(period_secs(Duration::from_secs(300)), 300);
}

#[test]
fn statistics_of_samples_and_of_split_windows() {
    let samples: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(statistic("p99", &samples), Some(99.0));
    assert_eq!(statistic("p50", &samples), Some(50.0));
    assert_eq!(statistic("p100", &samples), Some(100.0));
    assert_eq!(statistic("p99", &[0.2]), Some(0.2));
    assert_eq!(statistic("Sum", &[1.0, 2.0]), Some(3.0));
    assert_eq!(statistic("SampleCount", &[1.0, 2.0]), Some(2.0));
    assert_eq!(statistic("Average", &[1.0, 2.0]), Some(1.5));
    assert_eq!(statistic("Minimum", &[3.0, 2.0]), Some(2.0));
    assert_eq!(statistic("Maximum", &[3.0, 2.0]), Some(3.0));
    assert_eq!(statistic("Sum", &[]), None);
    assert_eq!(statistic("median", &[1.0]), None);

    assert_eq!(combine("Sum", &[10.0, 5.0]), Some(15.0));
    assert_eq!(combine("SampleCount", &[10.0, 5.0]), Some(15.0));
    assert_eq!(combine("Minimum", &[10.0, 5.0]), Some(5.0));
    assert_eq!(combine("Maximum", &[10.0, 5.0]), Some(10.0));
    assert_eq!(combine("p99", &[0.3, 0.7]), Some(0.7));
    assert_eq!(combine("Average", &[1.0, 2.0]), Some(1.5));
    assert_eq!(combine("Sum", &[]), None);
}

#[test]
fn values_read_with_four_significant_digits() {
    assert_eq!(number(0.12), "0.12");
    assert_eq!(number(0.000_123_456), "0.0001235");
    assert_eq!(number(1234.6), "1235");
    assert_eq!(number(0.5), "0.5");
    assert_eq!(number(0.0), "0");
    assert_eq!(number(3.0), "3");
}

#[tokio::test]
async fn a_ratio_without_numerator_data_is_zero_and_without_denominator_data_is_no_data() {
    let fake = FakeEcs::new(&[], 0);
    let s = prod(0, "fail");
    let now = SystemTime::now();

    alb(&fake, "RequestCount", &[400.0, 600.0]);
    alb(&fake, "TargetResponseTime", &[0.1; 50]);
    let out = measure(&fake, &s, &target(), now).await.expect("measure");
    assert_eq!(out[0].value, Some(0.0), "{out:?}");
    assert_eq!(out[0].outcome, Outcome::Pass);
    assert_eq!(out[0].message, "5xx-ratio = 0, within max 0.01");

    alb(&fake, "RequestCount", &[]);
    alb(&fake, "HTTPCode_Target_5XX_Count", &[3.0]);
    let out = measure(&fake, &s, &target(), now).await.expect("measure");
    assert_eq!(out[0].value, None);
    assert_eq!(out[0].outcome, Outcome::NoData);
    assert_eq!(out[0].message, "5xx-ratio: no data in the last 1m");

    alb(&fake, "RequestCount", &[0.0]);
    let out = measure(&fake, &s, &target(), now).await.expect("measure");
    assert_eq!(
        out[0].outcome,
        Outcome::NoData,
        "no requests: nothing to judge"
    );
}

#[tokio::test]
async fn p99_latency_and_a_5xx_spike_fail_with_value_and_threshold() {
    let fake = FakeEcs::new(&[], 0);
    let s = prod(0, "fail");
    alb(&fake, "RequestCount", &[1000.0]);
    alb(&fake, "HTTPCode_Target_5XX_Count", &[120.0]);
    let mut latencies = vec![0.1; 98];
    latencies.extend([0.9, 1.2]);
    alb(&fake, "TargetResponseTime", &latencies);
    let out = measure(&fake, &s, &target(), SystemTime::now())
        .await
        .expect("measure");
    assert_eq!(out[0].message, "5xx-ratio = 0.12, above max 0.01");
    assert_eq!(out[0].outcome, Outcome::Fail);
    assert_eq!(out[1].value, Some(0.9));
    assert_eq!(out[1].message, "p99-latency = 0.9, above max 0.5");

    let mut run = AnalysisRun::new(&s, SystemTime::UNIX_EPOCH);
    let verdict = run.record(&s, SystemTime::now(), out);
    assert_eq!(
        verdict,
        Verdict::Failed {
            message: "analysis failed: 5xx-ratio = 0.12, above max 0.01 (1 failed measurement, 0 allowed); p99-latency = 0.9, above max 0.5 (1 failed measurement, 0 allowed)".into()
        }
    );
}

#[test]
fn failures_over_the_limit_fail_the_analysis_naming_check_value_and_threshold() {
    let s = prod(1, "fail");
    let t0 = SystemTime::UNIX_EPOCH;
    let mut run = AnalysisRun::new(&s, t0);
    let at = |mins: u64| t0 + Duration::from_secs(60 * mins);
    let pass = m("p99-latency", Some(0.2), Outcome::Pass);

    assert_eq!(
        run.record(
            &s,
            at(1),
            vec![m("5xx-ratio", Some(0.12), Outcome::Fail), pass.clone()]
        ),
        Verdict::Continue,
        "one failure is allowed"
    );
    assert_eq!(
        run.record(
            &s,
            at(2),
            vec![m("5xx-ratio", Some(0.001), Outcome::Pass), pass.clone()]
        ),
        Verdict::Continue
    );
    let verdict = run.record(
        &s,
        at(3),
        vec![m("5xx-ratio", Some(0.12), Outcome::Fail), pass.clone()],
    );
    assert_eq!(
        verdict,
        Verdict::Failed {
            message: "analysis failed: 5xx-ratio = 0.12, above max 0.01 (2 failed measurements, 1 allowed)".into()
        }
    );
    assert_eq!(run.failures().get("5xx-ratio"), Some(&2));
    assert_eq!(run.failures().get("p99-latency"), Some(&0));
    assert_eq!(run.last_measured(), Some(at(3)));
    assert_eq!(run.last_measurements().len(), 2);
    assert_eq!(
        run.record(
            &s,
            at(4),
            vec![m("5xx-ratio", Some(0.0), Outcome::Pass), pass]
        ),
        verdict,
        "a failed analysis stays failed"
    );
}

#[test]
fn failures_are_counted_per_check() {
    let s = prod(1, "fail");
    let mut run = AnalysisRun::new(&s, SystemTime::UNIX_EPOCH);
    let now = SystemTime::now();
    for (ratio, latency) in [
        (Outcome::Fail, Outcome::Pass),
        (Outcome::Pass, Outcome::Fail),
    ] {
        assert_eq!(
            run.record(
                &s,
                now,
                vec![
                    m("5xx-ratio", Some(0.1), ratio),
                    m("p99-latency", Some(0.9), latency)
                ]
            ),
            Verdict::Continue
        );
    }
}

#[test]
fn missing_data_fails_under_fail_and_is_not_counted_under_ignore() {
    let none = || vec![m("5xx-ratio", None, Outcome::NoData)];
    let s = prod(0, "fail");
    let mut run = AnalysisRun::new(&s, SystemTime::UNIX_EPOCH);
    assert_eq!(
        run.record(&s, SystemTime::now(), none()),
        Verdict::Failed {
            message: "analysis failed: 5xx-ratio: no data in the last 1m (1 failed measurement, 0 allowed)".into()
        }
    );

    let s = prod(0, "ignore");
    let mut run = AnalysisRun::new(&s, SystemTime::UNIX_EPOCH);
    for _ in 0..5 {
        assert_eq!(run.record(&s, SystemTime::now(), none()), Verdict::Continue);
    }
    assert_eq!(run.failures().get("5xx-ratio"), Some(&0));
}

#[test]
fn the_first_measurement_is_due_one_interval_after_traffic_started() {
    let s = spec(json!({"interval": "30s", "checks": []}));
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    let mut run = AnalysisRun::new(&s, t0);
    assert!(!run.due(t0));
    assert!(!run.due(t0 + Duration::from_secs(29)));
    assert!(run.due(t0 + Duration::from_secs(30)));
    run.record(&s, t0 + Duration::from_secs(31), Vec::new());
    assert!(!run.due(t0 + Duration::from_secs(60)));
    assert_eq!(run.next_due(), t0 + Duration::from_secs(61));
    assert!(run.due(t0 + Duration::from_secs(61)));
}

#[test]
fn thresholds_below_min_and_within_both() {
    let check: AnalysisCheck = serde_json::from_value(json!({"name": "rps", "min": 5, "max": 100,
        "metric": {"metricName": "RequestCount"}}))
    .expect("check");
    let i = Duration::from_secs(60);
    assert_eq!(judge(&check, Some(3.0), i).message, "rps = 3, below min 5");
    assert_eq!(judge(&check, Some(3.0), i).outcome, Outcome::Fail);
    assert_eq!(
        judge(&check, Some(50.0), i).message,
        "rps = 50, within min 5 and max 100"
    );
    assert_eq!(
        judge(&check, Some(101.0), i).message,
        "rps = 101, above max 100"
    );
}

#[tokio::test]
async fn analyze_if_due_measures_once_per_interval_and_stops_on_a_spike() {
    let fake = FakeEcs::new(&[], 0);
    let api = crate::api::Metered::new(fake);
    let s = prod(0, "fail");
    let t0 = SystemTime::now();
    let at = |secs: u64| t0 + Duration::from_secs(secs);
    let mut run = AnalysisRun::new(&s, t0);
    alb(api.inner(), "RequestCount", &[1000.0]);
    alb(api.inner(), "TargetResponseTime", &[0.1]);

    assert_eq!(
        analyze_if_due(&api, &s, &target(), &mut run, at(30)).await,
        Ok(None)
    );
    assert_eq!(
        analyze_if_due(&api, &s, &target(), &mut run, at(60)).await,
        Ok(Some(Verdict::Continue))
    );
    assert_eq!(
        analyze_if_due(&api, &s, &target(), &mut run, at(90)).await,
        Ok(None)
    );
    alb(api.inner(), "HTTPCode_Target_5XX_Count", &[50.0]);
    assert_eq!(
        analyze_if_due(&api, &s, &target(), &mut run, at(120)).await,
        Ok(Some(Verdict::Failed {
            message: "analysis failed: 5xx-ratio = 0.05, above max 0.01 (1 failed measurement, 0 allowed)".into()
        }))
    );
    assert_eq!(
        api.counts().get("GetMetricData"),
        2,
        "one call per measurement, none when not due"
    );
}

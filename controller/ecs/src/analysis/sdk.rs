//! [`MetricsApi`] on `aws-sdk-cloudwatch`: `GetMetricData` queries from the analysis's shape,
//! every page read, per-result errors classified like every other call (`sdk::api_error`).

use std::collections::BTreeMap;
use std::time::SystemTime;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types as cw;

use super::{MetricQueryInput, MetricsApi};
use crate::api::{ApiError, ApiResult};
use crate::sdk::{SdkApi, api_error};

const OPERATION: &str = "GetMetricData";

fn query(q: &MetricQueryInput) -> cw::MetricDataQuery {
    let metric = cw::Metric::builder()
        .namespace(&q.namespace)
        .metric_name(&q.metric_name)
        .set_dimensions(Some(
            q.dimensions
                .iter()
                .map(|(name, value)| cw::Dimension::builder().name(name).value(value).build())
                .collect(),
        ))
        .build();
    cw::MetricDataQuery::builder()
        .id(&q.id)
        .metric_stat(
            cw::MetricStat::builder()
                .metric(metric)
                .period(i32::try_from(q.period_secs).unwrap_or(i32::MAX))
                .stat(&q.stat)
                .build(),
        )
        .return_data(true)
        .build()
}

impl SdkApi {
    /// The CloudWatch client (tests put metric data with it).
    pub fn cloudwatch_client(&self) -> &aws_sdk_cloudwatch::Client {
        &self.cloudwatch
    }
}

impl MetricsApi for SdkApi {
    async fn get_metric_data(
        &self,
        queries: &[MetricQueryInput],
        start: SystemTime,
        end: SystemTime,
    ) -> ApiResult<BTreeMap<String, Vec<f64>>> {
        let queries: Vec<cw::MetricDataQuery> = queries.iter().map(query).collect();
        let mut out: BTreeMap<String, Vec<f64>> = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .cloudwatch
                .get_metric_data()
                .set_metric_data_queries(Some(queries.clone()))
                .start_time(DateTime::from(start))
                .end_time(DateTime::from(end))
                .scan_by(cw::ScanBy::TimestampAscending)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| api_error(OPERATION, e))?;
            for result in page.metric_data_results() {
                if let Some(code @ (cw::StatusCode::Forbidden | cw::StatusCode::InternalError)) =
                    result.status_code()
                {
                    let said: Vec<&str> =
                        result.messages().iter().filter_map(|m| m.value()).collect();
                    return Err(ApiError {
                        operation: OPERATION,
                        code: Some(code.as_str().to_owned()),
                        message: format!(
                            "query {}: {}",
                            result.id().unwrap_or("?"),
                            said.join("; ")
                        ),
                        transient: *code == cw::StatusCode::InternalError,
                    });
                }
                if let Some(id) = result.id() {
                    out.entry(id.to_owned())
                        .or_default()
                        .extend_from_slice(result.values());
                }
            }
            match page.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_owned()),
                _ => break,
            }
        }
        Ok(out)
    }
}

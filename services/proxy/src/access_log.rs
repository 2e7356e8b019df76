//! The access log: one line per request on stdout, JSON or text (as `LOG_FORMAT`), written
//! directly instead of through `tracing`'s formatter, which cost a fifth of the proxy's
//! throughput under load. Must stay cheap: one small string and one `write` per request.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::net::IpAddr;
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use crate::config::LogFormat;

/// One request, as logged.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Client address (the TCP peer).
    pub client: IpAddr,
    /// Request method.
    pub method: &'a str,
    /// Request target as received (path and query).
    pub uri: &'a str,
    /// Response status.
    pub status: u16,
    /// `api`, `frontend` or `proxy` (answered by the proxy itself).
    pub upstream: &'a str,
    /// Time until the response head was ready.
    pub elapsed: Duration,
    /// The request id sent upstream and returned to the client.
    pub request_id: &'a str,
}

/// Format `entry` as one line (with its newline).
pub fn format(entry: &Entry<'_>, format: LogFormat, now: SystemTime) -> String {
    let mut line = String::with_capacity(256);
    let ms = entry.elapsed.as_secs_f64() * 1000.0;
    let ts = rfc3339(now);
    match format {
        LogFormat::Json => {
            let _ = write!(
                line,
                "{{\"timestamp\":\"{ts}\",\"level\":\"INFO\",\"target\":\"access\",\"client\":\"{}\",\"method\":\"",
                entry.client
            );
            escape_json(&mut line, entry.method);
            line.push_str("\",\"uri\":\"");
            escape_json(&mut line, entry.uri);
            let _ = write!(
                line,
                "\",\"status\":{},\"upstream\":\"{}\",\"ms\":{ms:.3},\"request_id\":\"",
                entry.status, entry.upstream
            );
            escape_json(&mut line, entry.request_id);
            line.push_str("\"}\n");
        }
        LogFormat::Text => {
            let _ = writeln!(
                line,
                "{ts} INFO access client={} method={} uri={:?} status={} upstream={} ms={ms:.3} request_id={}",
                entry.client,
                entry.method,
                entry.uri,
                entry.status,
                entry.upstream,
                entry.request_id
            );
        }
    }
    line
}

thread_local! {
    /// This thread's own handle on stdout (a duplicate descriptor): workers write whole lines
    /// without contending for the process-wide `Stdout` lock.
    static OUT: RefCell<Option<File>> = RefCell::new(
        std::io::stdout().as_fd().try_clone_to_owned().ok().map(File::from),
    );
}

/// Write `entry` to stdout (a failed write is dropped: logging must not fail requests).
pub fn write(entry: &Entry<'_>, format: LogFormat) {
    let line = self::format(entry, format, SystemTime::now());
    OUT.with(|out| match out.borrow_mut().as_mut() {
        Some(file) => {
            let _ = file.write_all(line.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(line.as_bytes());
        }
    });
}

fn escape_json(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `2026-11-29T12:30:14.347368Z` (UTC, microseconds).
fn rfc3339(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry<'static> {
        Entry {
            client: "127.0.0.1".parse().unwrap(),
            method: "GET",
            uri: "/api/v1/numbers?q=\"x\"\\",
            status: 200,
            upstream: "api",
            elapsed: Duration::from_micros(1234),
            request_id: "abc",
        }
    }

    #[test]
    fn json_lines_parse_and_carry_every_field() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_000_000_123_456);
        let line = format(&entry(), LogFormat::Json, at);
        assert!(line.ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["target"], "access");
        assert_eq!(v["uri"], "/api/v1/numbers?q=\"x\"\\");
        assert_eq!(v["status"], 200);
        assert_eq!(v["upstream"], "api");
        assert_eq!(v["ms"], 1.234);
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["timestamp"], "2026-11-18T11:06:40.123456Z");
    }

    #[test]
    fn text_lines_are_one_line() {
        let line = format(&entry(), LogFormat::Text, SystemTime::UNIX_EPOCH);
        assert!(
            line.starts_with("1970-01-01T00:00:00.000000Z INFO access client=127.0.0.1 method=GET")
        );
        assert_eq!(line.matches('\n').count(), 1);
    }

    #[test]
    fn calendar_dates_are_right_across_leap_years() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_513), (2026, 3, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
    }
}

//! The access log: one line per request on stdout, JSON or text (as `LOG_FORMAT`), written
//! directly instead of through `tracing`'s formatter, which cost a fifth of the proxy's
//! throughput under load. Must stay cheap: a line appended to a reused buffer, and on the
//! proxy's workers one `write` per event-loop turn rather than one per request.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::os::fd::AsFd;
use std::time::{Duration, SystemTime};

use crate::config::LogFormat;

/// One request, as logged.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Client address (the TCP peer's IP).
    pub client: &'a str,
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
    format_into(&mut line, entry, format, now);
    line
}

/// Append `entry` as one line (with its newline) to `line`.
fn format_into(line: &mut String, entry: &Entry<'_>, format: LogFormat, now: SystemTime) {
    let micros = entry.elapsed.as_micros();
    let (ms, frac) = (micros / 1000, micros % 1000);
    match format {
        LogFormat::Json => {
            line.push_str("{\"timestamp\":\"");
            rfc3339(line, now);
            line.push_str("\",\"level\":\"INFO\",\"target\":\"access\",\"client\":\"");
            escape_json(line, entry.client);
            line.push_str("\",\"method\":\"");
            escape_json(line, entry.method);
            line.push_str("\",\"uri\":\"");
            escape_json(line, entry.uri);
            line.push_str("\",\"status\":");
            push_number(line, u64::from(entry.status), 1);
            line.push_str(",\"upstream\":\"");
            escape_json(line, entry.upstream);
            line.push_str("\",\"ms\":");
            push_number(line, ms as u64, 1);
            line.push('.');
            push_number(line, frac as u64, 3);
            line.push_str(",\"request_id\":\"");
            escape_json(line, entry.request_id);
            line.push_str("\"}\n");
        }
        LogFormat::Text => {
            rfc3339(line, now);
            let _ = writeln!(
                line,
                " INFO access client={} method={} uri={:?} status={} upstream={} ms={ms}.{frac:03} request_id={}",
                entry.client,
                entry.method,
                entry.uri,
                entry.status,
                entry.upstream,
                entry.request_id
            );
        }
    }
}

/// Lines held back on a buffering thread before they are written regardless.
const FLUSH_AT: usize = 32 * 1024;

/// One thread's access-log output: its own handle on stdout (a duplicate descriptor, so
/// workers write whole lines without contending for the process-wide `Stdout` lock) and,
/// on a worker that asked for it, the lines not yet written.
struct Out {
    file: Option<File>,
    pending: String,
    buffered: bool,
}

impl Out {
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let _ = match self.file.as_mut() {
            Some(file) => file.write_all(self.pending.as_bytes()),
            None => std::io::stdout().lock().write_all(self.pending.as_bytes()),
        };
        self.pending.clear();
    }
}

thread_local! {
    static OUT: RefCell<Out> = RefCell::new(Out {
        file: std::io::stdout().as_fd().try_clone_to_owned().ok().map(File::from),
        pending: String::new(),
        buffered: false,
    });
}

/// Write `entry` to stdout (a failed write is dropped: logging must not fail requests): at
/// once, or on a thread that called [`buffer_this_thread`], at the next [`flush`] (or when
/// 32 KiB are pending).
pub fn write(entry: &Entry<'_>, format: LogFormat) {
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        format_into(&mut out.pending, entry, format, SystemTime::now());
        if !out.buffered || out.pending.len() >= FLUSH_AT {
            out.flush();
        }
    });
}

/// Hold this thread's lines until [`flush`]: one `write` for every line of a busy event-loop
/// turn instead of one per request. The thread must call [`flush`] when it goes idle (the
/// proxy's workers do it before they wait for events, and at least every 250 ms) and before
/// it ends.
pub fn buffer_this_thread() {
    OUT.with(|out| {
        let mut out = out.borrow_mut();
        out.buffered = true;
        out.pending.reserve(FLUSH_AT + 512);
    });
}

/// Write this thread's pending lines.
pub fn flush() {
    // `try_with`: also called from thread-exit paths, where the local may be gone.
    let _ = OUT.try_with(|out| {
        if let Ok(mut out) = out.try_borrow_mut() {
            out.flush();
        }
    });
}

fn escape_json(out: &mut String, text: &str) {
    if !text.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(text);
        return;
    }
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

/// `n` in decimal, zero-padded to at least `width` digits.
fn push_number(out: &mut String, mut n: u64, width: usize) {
    let mut digits = [b'0'; 20];
    let mut start = digits.len();
    while n > 0 || digits.len() - start < width.max(1) {
        start -= 1;
        digits[start] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.push_str(std::str::from_utf8(&digits[start..]).unwrap_or_default());
}

thread_local! {
    /// The last second formatted on this thread and its text: lines come many per second.
    static SECOND: std::cell::Cell<(u64, [u8; 19])> = const { std::cell::Cell::new((u64::MAX, [0; 19])) };
}

/// Append `2026-11-29T12:30:14.347368Z` (UTC, microseconds).
fn rfc3339(out: &mut String, at: SystemTime) {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (cached, mut text) = SECOND.get();
    if cached != secs {
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let (y, m, d) = civil_from_days(days);
        let mut formatted = String::with_capacity(19);
        let _ = write!(
            formatted,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60,
        );
        if let Ok(fixed) = <[u8; 19]>::try_from(formatted.as_bytes()) {
            text = fixed;
            SECOND.set((secs, text));
        } else {
            // A year beyond 9999: not cached.
            out.push_str(&formatted);
            out.push('.');
            push_number(out, u64::from(since.subsec_micros()), 6);
            out.push('Z');
            return;
        }
    }
    out.push_str(std::str::from_utf8(&text).unwrap_or_default());
    out.push('.');
    push_number(out, u64::from(since.subsec_micros()), 6);
    out.push('Z');
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
            client: "127.0.0.1",
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
    fn numbers_and_times_are_formatted_exactly() {
        let mut s = String::new();
        push_number(&mut s, 0, 1);
        s.push(' ');
        push_number(&mut s, 7, 3);
        s.push(' ');
        push_number(&mut s, 1234, 3);
        s.push(' ');
        push_number(&mut s, u64::MAX, 1);
        assert_eq!(s, "0 007 1234 18446744073709551615");
        let mut t = String::new();
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_795_000_000_000_007);
        rfc3339(&mut t, at);
        t.push(' ');
        // The same second again (from the cache), then the next one.
        rfc3339(&mut t, at + Duration::from_micros(500_000));
        t.push(' ');
        rfc3339(&mut t, at + Duration::from_secs(1));
        assert_eq!(
            t,
            "2026-11-18T11:06:40.000007Z 2026-11-18T11:06:40.500007Z 2026-11-18T11:06:41.000007Z"
        );
        let e = Entry {
            elapsed: Duration::from_micros(12_000_045),
            status: 404,
            ..entry()
        };
        let v: serde_json::Value = serde_json::from_str(&format(&e, LogFormat::Json, at)).unwrap();
        assert_eq!(v["ms"], 12000.045);
        assert_eq!(v["status"], 404);
        assert_eq!(v["client"], "127.0.0.1");
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

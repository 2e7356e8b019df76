//! Header rules of the proxy: hop-by-hop headers removed, `X-Forwarded-*` set, request ids,
//! and the security headers every response carries. Pure functions over `HeaderMap`.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// `X-Request-Id`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// The policy sent when an upstream did not set its own: same-origin everything, no framing.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; object-src 'none'; \
                       base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&HeaderName; 8] = [
    &header::CONNECTION,
    &KEEP_ALIVE,
    &PROXY_CONNECTION,
    &header::PROXY_AUTHENTICATE,
    &header::PROXY_AUTHORIZATION,
    &header::TE,
    &header::TRAILER,
    &header::TRANSFER_ENCODING,
];

/// Whether the request asks to switch protocols (e.g. a WebSocket handshake).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(header::UPGRADE) && connection_tokens(headers).any(|t| t == "upgrade")
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
}

/// Remove hop-by-hop headers, including those the `Connection` header names. With `upgrade`,
/// `Connection: upgrade` and `Upgrade` are kept so the handshake reaches the other side.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    // Most messages carry none of them: one pass over the names, no hashing, decides that.
    let present = headers
        .keys()
        .any(|name| name == header::UPGRADE || HOP_BY_HOP.contains(&name));
    if !present {
        if upgrade {
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        }
        return;
    }
    let named: Vec<String> = connection_tokens(headers).collect();
    for name in named {
        if let Ok(name) = HeaderName::from_bytes(name.as_bytes())
            && !(upgrade && name == header::UPGRADE)
        {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::UPGRADE);
    }
}

/// What the proxy knows about the client connection.
#[derive(Debug, Clone, Copy)]
pub struct ClientInfo<'a> {
    /// The peer address of the TCP connection, as text ([`ip_value`]).
    pub ip: &'a HeaderValue,
    /// Whether to keep client-supplied `X-Forwarded-*` (a trusted load balancer in front).
    pub trust_forwarded: bool,
}

/// `ip` as a header value (made once per connection, then shared by its requests).
pub fn ip_value(ip: IpAddr) -> HeaderValue {
    HeaderValue::from_str(&ip.to_string()).expect("an IP address is a valid header")
}

/// Set `X-Forwarded-For`, `-Proto` and `-Host` on a request going upstream. `host` is the
/// client's `Host` header (read before it was replaced).
pub fn set_forwarded(headers: &mut HeaderMap, client: ClientInfo<'_>, host: Option<HeaderValue>) {
    let prior = if client.trust_forwarded {
        let values: Vec<&str> = headers
            .get_all(&X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    } else {
        None
    };
    let xff = match prior {
        Some(prior) => {
            let ip = client.ip.to_str().unwrap_or_default();
            HeaderValue::from_str(&format!("{prior}, {ip}")).ok()
        }
        None => Some(client.ip.clone()),
    };
    if let Some(v) = xff {
        headers.insert(&X_FORWARDED_FOR, v);
    }
    if !(client.trust_forwarded && headers.contains_key(&X_FORWARDED_PROTO)) {
        headers.insert(&X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if !(client.trust_forwarded && headers.contains_key(&X_FORWARDED_HOST)) {
        match host {
            Some(h) => {
                headers.insert(&X_FORWARDED_HOST, h);
            }
            None => {
                headers.remove(&X_FORWARDED_HOST);
            }
        }
    }
}

/// The request's id: the client's `X-Request-Id` when it is 1 to 128 characters of
/// `[A-Za-z0-9._:-]`, otherwise a new one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    headers
        .get(&X_REQUEST_ID)
        .filter(|v| {
            let b = v.as_bytes();
            (1..=128).contains(&b.len())
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b':' | b'-'))
        })
        .cloned()
        .unwrap_or_else(new_request_id)
}

/// A new id: 64 random bits fixed per process, then a counter (unique, cheap, not secret).
pub fn new_request_id() -> HeaderValue {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PREFIX: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let prefix = *PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default(),
        );
        h.write_u32(std::process::id());
        h.finish()
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut text = [0u8; 32];
    hex16(prefix, &mut text[..16]);
    hex16(n, &mut text[16..]);
    HeaderValue::from_bytes(&text).expect("hex is a valid header")
}

/// `n` as 16 lower-case hex digits into `out`.
fn hex16(mut n: u64, out: &mut [u8]) {
    for digit in out.iter_mut().rev() {
        *digit = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// Add the security headers a response lacks (an upstream's own policy wins).
pub fn add_security_headers(headers: &mut HeaderMap) {
    let defaults: [(&HeaderName, &'static str); 4] = [
        (&header::CONTENT_SECURITY_POLICY, CSP),
        (&header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (&header::REFERRER_POLICY, "no-referrer"),
        (&header::X_FRAME_OPTIONS, "DENY"),
    ];
    for (name, value) in defaults {
        if !headers.contains_key(name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-secret-hop"),
            ("keep-alive", "timeout=5"),
            ("x-secret-hop", "1"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic abc"),
            ("upgrade", "websocket"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut h, false);
        let left: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(left, ["accept"]);
    }

    #[test]
    fn messages_without_hop_by_hop_headers_are_left_alone() {
        let mut h = map(&[("accept", "*/*"), ("x-custom", "1")]);
        strip_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 2);
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn an_upgrade_keeps_its_handshake_headers() {
        let mut h = map(&[
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "abc"),
        ]);
        assert!(is_upgrade(&h));
        strip_hop_by_hop(&mut h, true);
        assert_eq!(h["connection"], "upgrade");
        assert_eq!(h["upgrade"], "websocket");
        assert_eq!(h["sec-websocket-key"], "abc");
        assert!(!is_upgrade(&map(&[("upgrade", "websocket")])));
    }

    #[test]
    fn forwarded_headers_are_replaced_unless_trusted() {
        let ip = ip_value("10.1.2.3".parse().unwrap());
        let client = ClientInfo {
            ip: &ip,
            trust_forwarded: false,
        };
        let spoofed = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ];
        let mut h = map(&spoofed);
        set_forwarded(
            &mut h,
            client,
            Some(HeaderValue::from_static("numbers.dev")),
        );
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-host"], "numbers.dev");

        let trusted = ClientInfo {
            trust_forwarded: true,
            ..client
        };
        let mut h = map(&spoofed);
        set_forwarded(
            &mut h,
            trusted,
            Some(HeaderValue::from_static("numbers.dev")),
        );
        assert_eq!(h["x-forwarded-for"], "6.6.6.6, 10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "evil.example");
    }

    #[test]
    fn request_ids_pass_through_when_sane_and_are_made_otherwise() {
        let kept = request_id(&map(&[("x-request-id", "abc-123:x.y_z")]));
        assert_eq!(kept, "abc-123:x.y_z");
        let long = "a".repeat(129);
        for bad in ["has space", "quote\"", long.as_str(), ""] {
            let id = request_id(&map(&[("x-request-id", bad)]));
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32);
        }
        assert_ne!(new_request_id(), new_request_id());
        let mut text = [0u8; 16];
        hex16(0x0123_4567_89ab_cdef, &mut text);
        assert_eq!(&text, b"0123456789abcdef");
        hex16(0xa, &mut text);
        assert_eq!(&text, b"000000000000000a");
    }

    #[test]
    fn security_headers_fill_gaps_only() {
        let mut h = map(&[("x-frame-options", "SAMEORIGIN")]);
        add_security_headers(&mut h);
        assert_eq!(h["x-frame-options"], "SAMEORIGIN");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["referrer-policy"], "no-referrer");
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
    }
}

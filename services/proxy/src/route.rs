//! Where a request goes: the routing rule and the path normalisation it stands on. Pure.
//!
//! The rule is the seed's nginx: exactly `/api` and everything under `/api/` go to the API with
//! the `/api` prefix stripped; `/healthz` is the proxy's own; everything else goes to the
//! frontend. The rule is decided on a *canonical* path, and that same canonical path is what the
//! upstream receives, so an upstream can never read a request differently from how it was routed:
//!
//! - percent-encoded unreserved characters are decoded (`/%61pi` is `/api`), other escapes are
//!   kept with upper-case hex;
//! - `.` and `..` segments (also encoded: `%2e%2e`), encoded `/` or `\`, a raw `\`, an encoded
//!   NUL or control character, and a malformed escape are refused (400): there is no honest way
//!   to forward them;
//! - empty segments are merged (`//api///x` is `/api/x`), as nginx's `merge_slashes` does.

/// Where a request is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The proxy answers itself (`/healthz`).
    Health,
    /// The API, with this path and query (prefix stripped).
    Api(String),
    /// The frontend, with this path and query.
    Frontend(String),
}

/// A request target that is refused with 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadTarget {
    /// The path is not an origin-form path (does not start with `/`).
    #[error("the request target must be a path starting with /")]
    NotAPath,
    /// A `.` or `..` segment, literal or encoded.
    #[error("dot segments are not allowed in paths")]
    DotSegment,
    /// An encoded `/`, `\`, NUL or control character, or a raw `\`.
    #[error("encoded slashes, backslashes and control characters are not allowed in paths")]
    ForbiddenCharacter,
    /// A `%` not followed by two hex digits.
    #[error("malformed percent-encoding in the path")]
    MalformedEscape,
}

/// Decide the route of `path` (the raw request path) with its optional `query`.
pub fn route(path: &str, query: Option<&str>) -> Result<Route, BadTarget> {
    let normalised;
    let canonical = if is_canonical(path) {
        path
    } else {
        normalised = canonical_path(path)?;
        normalised.as_str()
    };
    let with_query = |p: &str| {
        let mut target = String::with_capacity(p.len() + query.map_or(0, |q| q.len() + 1));
        target.push_str(p);
        if let Some(q) = query {
            target.push('?');
            target.push_str(q);
        }
        target
    };
    if canonical == "/healthz" {
        return Ok(Route::Health);
    }
    if canonical == "/api" {
        return Ok(Route::Api(with_query("/")));
    }
    if canonical.starts_with("/api/") {
        // `/api/rest` is sent as `/rest`.
        return Ok(Route::Api(with_query(&canonical["/api".len()..])));
    }
    Ok(Route::Frontend(with_query(canonical)))
}

/// Whether `raw` is its own canonical path, checked without building it: it starts with `/`,
/// has no escape, backslash, empty segment (but a trailing `/`) or dot segment. Most paths
/// are; the others go through [`canonical_path`].
fn is_canonical(raw: &str) -> bool {
    let Some(rest) = raw.strip_prefix('/') else {
        return false;
    };
    if raw.contains(['%', '\\']) {
        return false;
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if (segment.is_empty() && !last) || segment == "." || segment == ".." {
            return false;
        }
    }
    true
}

/// The canonical form of a raw request path (see the module documentation).
pub fn canonical_path(raw: &str) -> Result<String, BadTarget> {
    if !raw.starts_with('/') {
        return Err(BadTarget::NotAPath);
    }
    let decoded = decode_unreserved(raw)?;
    let mut out = String::with_capacity(decoded.len());
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment == "." || segment == ".." {
            return Err(BadTarget::DotSegment);
        }
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || (decoded.ends_with('/') && !out.ends_with('/')) {
        out.push('/');
    }
    Ok(out)
}

/// Decode `%XX` escapes of unreserved characters; keep (upper-cased) the other safe escapes.
fn decode_unreserved(raw: &str) -> Result<String, BadTarget> {
    if !raw.contains(['%', '\\']) {
        return Ok(raw.to_owned());
    }
    let bytes = raw.as_bytes();
    let mut out = String::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => return Err(BadTarget::ForbiddenCharacter),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(BadTarget::MalformedEscape)?;
                let value = std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .filter(|_| hex.iter().all(u8::is_ascii_hexdigit))
                    .ok_or(BadTarget::MalformedEscape)?;
                if value.is_ascii_alphanumeric() || matches!(value, b'-' | b'.' | b'_' | b'~') {
                    out.push(char::from(value));
                } else if value == b'/' || value == b'\\' || value < 0x20 || value == 0x7f {
                    return Err(BadTarget::ForbiddenCharacter);
                } else {
                    out.push('%');
                    out.push_str(&format!("{value:02X}"));
                }
                i += 3;
            }
            _ => {
                // Multi-byte UTF-8 is copied whole; hyper only hands over visible ASCII anyway.
                let ch = raw[i..].chars().next().ok_or(BadTarget::MalformedEscape)?;
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(p: &str) -> Result<Route, BadTarget> {
        Ok(Route::Api(p.into()))
    }
    fn fe(p: &str) -> Result<Route, BadTarget> {
        Ok(Route::Frontend(p.into()))
    }

    #[test]
    fn the_routing_table() {
        let table: &[(&str, Option<&str>, Result<Route, BadTarget>)] = &[
            ("/", None, fe("/")),
            ("/index.html", None, fe("/index.html")),
            ("/healthz", None, Ok(Route::Health)),
            ("/api", None, api("/")),
            ("/api/", None, api("/")),
            ("/api", Some("x=1"), api("/?x=1")),
            (
                "/api/v1/numbers",
                Some("limit=5&cursor=abc"),
                api("/v1/numbers?limit=5&cursor=abc"),
            ),
            ("/api/values/all", None, api("/values/all")),
            ("/api/healthz", None, api("/healthz")),
            ("/apix", None, fe("/apix")),
            ("/apix/v1/numbers", None, fe("/apix/v1/numbers")),
            ("/api-docs", None, fe("/api-docs")),
            ("/API/v1/numbers", None, fe("/API/v1/numbers")),
            ("/x/api/v1", None, fe("/x/api/v1")),
            ("/%61pi/v1/numbers", None, api("/v1/numbers")),
            ("/api%2Dx", None, fe("/api-x")),
            ("//api//v1///numbers/", None, api("/v1/numbers/")),
            ("/api/v1/a%20b", None, api("/v1/a%20b")),
            ("/api/v1/a%3fb", None, api("/v1/a%3Fb")),
            ("/api/../etc/passwd", None, Err(BadTarget::DotSegment)),
            ("/api/..", None, Err(BadTarget::DotSegment)),
            ("/api/./v1", None, Err(BadTarget::DotSegment)),
            (
                "/static/../api/v1/numbers",
                None,
                Err(BadTarget::DotSegment),
            ),
            ("/api/%2e%2e/secret", None, Err(BadTarget::DotSegment)),
            ("/api/.%2E/secret", None, Err(BadTarget::DotSegment)),
            ("/apix/%2e%2e/api/v1", None, Err(BadTarget::DotSegment)),
            (
                "/api%2f..%2fsecret",
                None,
                Err(BadTarget::ForbiddenCharacter),
            ),
            ("/api%2Fv1", None, Err(BadTarget::ForbiddenCharacter)),
            (
                "/api/%5c..%5csecret",
                None,
                Err(BadTarget::ForbiddenCharacter),
            ),
            ("/api\\..\\secret", None, Err(BadTarget::ForbiddenCharacter)),
            ("/api/%00", None, Err(BadTarget::ForbiddenCharacter)),
            (
                "/api/%0d%0aX-Evil:%201",
                None,
                Err(BadTarget::ForbiddenCharacter),
            ),
            ("/api/%zz", None, Err(BadTarget::MalformedEscape)),
            ("/api/%4", None, Err(BadTarget::MalformedEscape)),
            ("/api/%+1", None, Err(BadTarget::MalformedEscape)),
            ("*", None, Err(BadTarget::NotAPath)),
            ("", None, Err(BadTarget::NotAPath)),
        ];
        for (path, query, want) in table {
            assert_eq!(&route(path, *query), want, "{path:?} {query:?}");
        }
    }

    #[test]
    fn dots_inside_names_are_not_dot_segments() {
        assert_eq!(route("/api/v1/a..b", None), api("/v1/a..b"));
        assert_eq!(
            route("/assets/app.1234.js", None),
            fe("/assets/app.1234.js")
        );
        assert_eq!(route("/.well-known/x", None), fe("/.well-known/x"));
    }

    #[test]
    fn the_quick_check_agrees_with_canonical_path() {
        let paths = [
            "/",
            "/a",
            "/a/",
            "/api",
            "/api/",
            "/api/v1/numbers",
            "//",
            "//a",
            "/a//b",
            "/a/./b",
            "/a/../b",
            "/.",
            "/..",
            "/a/.",
            "/a/..",
            "/.well-known/x",
            "/a..b/c.d",
            "/%61",
            "/a\\b",
            "a",
            "",
            "*",
            "/é/x",
        ];
        for raw in paths {
            if is_canonical(raw) {
                assert_eq!(canonical_path(raw).as_deref(), Ok(raw), "{raw:?}");
            } else {
                assert_ne!(canonical_path(raw).as_deref(), Ok(raw), "{raw:?}");
            }
        }
    }

    #[test]
    fn canonical_paths_are_fixed_points() {
        for raw in ["/%61pi/v1/%7euser", "//a//b/", "/a%20b/%C3%A9", "/"] {
            let once = canonical_path(raw).unwrap();
            assert_eq!(canonical_path(&once).unwrap(), once, "{raw}");
        }
    }
}

//! The embedded assets: content-hashed names, the page rewritten to use them, and every asset
//! precompressed once (brotli, gzip) with its own `ETag` per encoding. Pure: no I/O.

use std::collections::HashMap;
use std::io::Write;

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;

const INDEX_HTML: &str = include_str!("../static/index.html");
const APP_CSS: &[u8] = include_bytes!("../static/app.css");
const APP_JS: &[u8] = include_bytes!("../static/app.js");
const ICON_SVG: &[u8] = include_bytes!("../static/icon.svg");

/// `Cache-Control` of content-hashed assets: the name changes whenever the content does.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` of the page: always revalidate (cheap with `ETag`), so a deploy shows at once.
pub const NO_CACHE: &str = "no-cache";

/// A content encoding the server can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Brotli.
    Brotli,
    /// Gzip.
    Gzip,
    /// Uncompressed.
    Identity,
}

impl Encoding {
    /// The best encoding the client accepts (`Accept-Encoding` with q-values): br, then gzip.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let Some(accept) = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
        else {
            return Self::Identity;
        };
        let mut br = None;
        let mut gzip = None;
        let mut star = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match name.as_str() {
                "br" => br = Some(q),
                "gzip" | "x-gzip" => gzip = Some(q),
                "*" => star = Some(q),
                _ => {}
            }
        }
        let accepted = |q: Option<f32>| q.or(star).is_some_and(|q| q > 0.0);
        if accepted(br) {
            Self::Brotli
        } else if accepted(gzip) {
            Self::Gzip
        } else {
            Self::Identity
        }
    }

    /// The `Content-Encoding` value, none for identity.
    pub fn header_value(self) -> Option<HeaderValue> {
        match self {
            Self::Brotli => Some(HeaderValue::from_static("br")),
            Self::Gzip => Some(HeaderValue::from_static("gzip")),
            Self::Identity => None,
        }
    }
}

/// One encoded representation of an asset.
#[derive(Debug, Clone)]
pub struct Variant {
    /// How `body` is encoded.
    pub encoding: Encoding,
    /// The bytes sent.
    pub body: Bytes,
    /// Strong `ETag` of this representation.
    pub etag: HeaderValue,
}

/// An asset with its precomputed representations.
#[derive(Debug, Clone)]
pub struct Asset {
    /// `Content-Type`.
    pub content_type: HeaderValue,
    /// `Cache-Control`.
    pub cache_control: HeaderValue,
    identity: Variant,
    gzip: Option<Variant>,
    brotli: Option<Variant>,
}

impl Asset {
    fn new(content_type: &'static str, cache_control: &'static str, body: Vec<u8>) -> Self {
        let tag = hex16(fnv1a64(&body));
        let etag = |suffix: &str| {
            HeaderValue::from_str(&format!("\"{tag}{suffix}\"")).expect("hex is a valid header")
        };
        let gz = gzip(&body);
        let br = brotli(&body);
        // Tiny bodies can grow when compressed; keep a variant only when it is smaller.
        let smaller = |v: &Vec<u8>| v.len() < body.len();
        Self {
            content_type: HeaderValue::from_static(content_type),
            cache_control: HeaderValue::from_static(cache_control),
            gzip: smaller(&gz).then(|| Variant {
                encoding: Encoding::Gzip,
                body: Bytes::from(gz),
                etag: etag("-gz"),
            }),
            brotli: smaller(&br).then(|| Variant {
                encoding: Encoding::Brotli,
                body: Bytes::from(br),
                etag: etag("-br"),
            }),
            identity: Variant {
                encoding: Encoding::Identity,
                body: Bytes::from(body),
                etag: etag(""),
            },
        }
    }

    /// The representation to send for the client's preferred encoding.
    pub fn variant(&self, wanted: Encoding) -> &Variant {
        match wanted {
            Encoding::Brotli => self
                .brotli
                .as_ref()
                .or(self.gzip.as_ref())
                .unwrap_or(&self.identity),
            Encoding::Gzip => self.gzip.as_ref().unwrap_or(&self.identity),
            Encoding::Identity => &self.identity,
        }
    }

    /// The uncompressed bytes.
    pub fn bytes(&self) -> &Bytes {
        &self.identity.body
    }
}

/// Every servable asset by URL path.
#[derive(Debug, Clone)]
pub struct Site {
    by_path: HashMap<String, Asset>,
}

impl Site {
    /// The site compiled into this binary.
    pub fn embedded() -> Self {
        Self::build(INDEX_HTML, APP_CSS, APP_JS, ICON_SVG)
    }

    /// Hash-name the assets, point the page at them, precompress everything.
    pub fn build(index: &str, css: &[u8], js: &[u8], icon: &[u8]) -> Self {
        let mut by_path = HashMap::new();
        let mut page = index.to_owned();
        for (placeholder, stem, ext, content_type, body) in [
            (
                "/assets/app.css",
                "app",
                "css",
                "text/css; charset=utf-8",
                css,
            ),
            (
                "/assets/app.js",
                "app",
                "js",
                "text/javascript; charset=utf-8",
                js,
            ),
            ("/assets/icon.svg", "icon", "svg", "image/svg+xml", icon),
        ] {
            let hashed = format!("/assets/{stem}.{}.{ext}", &hex16(fnv1a64(body))[..10]);
            page = page.replace(placeholder, &hashed);
            by_path.insert(hashed, Asset::new(content_type, IMMUTABLE, body.to_vec()));
        }
        let index = Asset::new("text/html; charset=utf-8", NO_CACHE, page.into_bytes());
        by_path.insert("/index.html".into(), index.clone());
        by_path.insert("/".into(), index);
        Self { by_path }
    }

    /// The asset served at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Asset> {
        self.by_path.get(path)
    }

    /// Every served path, sorted.
    pub fn paths(&self) -> Vec<&str> {
        let mut paths: Vec<&str> = self.by_path.keys().map(String::as_str).collect();
        paths.sort_unstable();
        paths
    }
}

/// FNV-1a, 64 bits: a stable content hash for cache-busting names (not for security).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn hex16(n: u64) -> String {
    format!("{n:016x}")
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body)
        .and_then(|()| enc.finish())
        .expect("compressing into memory cannot fail")
}

fn brotli(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut enc = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        enc.write_all(body)
            .expect("compressing into memory cannot fail");
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(value).unwrap(),
        );
        h
    }

    #[test]
    fn encoding_follows_accept_encoding_and_q_values() {
        assert_eq!(Encoding::negotiate(&HeaderMap::new()), Encoding::Identity);
        assert_eq!(
            Encoding::negotiate(&accept("gzip, deflate, br")),
            Encoding::Brotli
        );
        assert_eq!(Encoding::negotiate(&accept("gzip")), Encoding::Gzip);
        assert_eq!(
            Encoding::negotiate(&accept("br;q=0, gzip;q=0.5")),
            Encoding::Gzip
        );
        assert_eq!(Encoding::negotiate(&accept("*")), Encoding::Brotli);
        assert_eq!(
            Encoding::negotiate(&accept("identity, *;q=0")),
            Encoding::Identity
        );
    }

    #[test]
    fn page_points_at_hashed_assets_that_exist() {
        let site = Site::embedded();
        let page = String::from_utf8(site.get("/").unwrap().bytes().to_vec()).unwrap();
        for stale in [
            "/assets/app.css\"",
            "/assets/app.js\"",
            "/assets/icon.svg\"",
        ] {
            assert!(!page.contains(stale), "{stale} was not rewritten");
        }
        let hashed: Vec<&str> = site
            .paths()
            .into_iter()
            .filter(|p| p.starts_with("/assets/"))
            .collect();
        assert_eq!(hashed.len(), 3, "{hashed:?}");
        for path in hashed {
            assert!(page.contains(path), "page does not reference {path}");
            assert_eq!(site.get(path).unwrap().cache_control, IMMUTABLE);
        }
        assert_eq!(site.get("/").unwrap().cache_control, NO_CACHE);
    }

    #[test]
    fn changing_an_asset_changes_its_name() {
        let a = Site::build("<link href=\"/assets/app.css\">", b"a{}", b"1", b"<svg/>");
        let b = Site::build("<link href=\"/assets/app.css\">", b"b{}", b"1", b"<svg/>");
        assert_ne!(a.paths(), b.paths());
    }

    #[test]
    fn compressed_variants_decode_to_the_original() {
        let site = Site::embedded();
        let js = site
            .paths()
            .into_iter()
            .find(|p| p.ends_with(".js"))
            .unwrap();
        let asset = site.get(js).unwrap();
        let gz = asset.variant(Encoding::Gzip);
        assert_eq!(gz.encoding, Encoding::Gzip);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz.body[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(&plain[..], &asset.bytes()[..]);
        let br = asset.variant(Encoding::Brotli);
        assert_eq!(br.encoding, Encoding::Brotli);
        let mut plain = Vec::new();
        brotli::Decompressor::new(&br.body[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(&plain[..], &asset.bytes()[..]);
        assert_ne!(gz.etag, br.etag);
        assert_ne!(gz.etag, asset.variant(Encoding::Identity).etag);
    }
}

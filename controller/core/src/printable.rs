//! Text that is safe to print: control characters escaped (a manifest cannot move the cursor,
//! color the terminal or forge an `ok …` line) and credentials recognized by their value (AWS
//! keys, PEM private keys, URLs with a password, common token formats) so that they are refused
//! in plain fields and masked in every message. Pure string functions; no I/O.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::LazyLock;

use regex::{Regex, RegexSet};

/// What a value printed in place of a hidden one looks like.
pub const HIDDEN: &str = "(value hidden)";

/// `text` with control characters, line breaks and bidirectional overrides escaped
/// (`\n`, `\t`, `\u{1b}`…), so one printed line is one line and shows what it says.
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}'
        )
}

/// Token formats matched anywhere in a value (the AWS secret key needs a closer look, below).
const PATTERNS: &[(&str, &str)] = &[
    (
        "an AWS access key id",
        r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AIPA|ANPA|ANVA|APKA|AROA|ASCA)[A-Z0-9]{16}\b",
    ),
    (
        "a PEM private key",
        r"-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----(?s:.*?)(?:-----END[A-Z0-9 ]*-----|\z)",
    ),
    (
        "a URL with a password",
        r"\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/?#@:]*:[^\s/?#@]+@",
    ),
    (
        "a GitHub token",
        r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,})",
    ),
    ("a GitLab token", r"\bglpat-[A-Za-z0-9_\-]{20,}"),
    ("a Slack token", r"\bxox[abposr]-[A-Za-z0-9\-]{10,}"),
    (
        "a Slack webhook URL",
        r"hooks\.slack\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+",
    ),
    (
        "a Stripe key",
        r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,}",
    ),
    ("a Google API key", r"\bAIza[0-9A-Za-z_\-]{35}"),
    (
        "a JSON Web Token",
        r"\beyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
    ),
    (
        "an API key (sk-…)",
        r"\bsk-(?:proj-|ant-[a-z0-9]{2,8}-|live-)?[A-Za-z0-9_\-]{20,}",
    ),
    ("an npm token", r"\bnpm_[A-Za-z0-9]{36}\b"),
    (
        "a SendGrid key",
        r"\bSG\.[A-Za-z0-9_\-]{16,}\.[A-Za-z0-9_\-]{16,}",
    ),
    ("a Vault token", r"\bhv[sbr]\.[A-Za-z0-9_\-]{20,}"),
    ("a PyPI token", r"\bpypi-AgE[A-Za-z0-9_\-]{40,}"),
    ("a Docker Hub token", r"\bdckr_pat_[A-Za-z0-9_\-]{20,}"),
    ("a Hugging Face token", r"\bhf_[A-Za-z0-9]{30,}\b"),
    ("a DigitalOcean token", r"\bdo[por]_v1_[a-f0-9]{64}\b"),
    ("a Shopify token", r"\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b"),
    ("a Twilio key", r"\bSK[0-9a-f]{32}\b"),
    (
        "an Azure storage key",
        r"(?i)\b(?:AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{20,}=*",
    ),
    (
        "a bearer token",
        r"(?i)\b(?:bearer|token)\s+[A-Za-z0-9._~+/\-]{20,}=*",
    ),
    (
        "basic credentials",
        r"(?i)\bbasic\s+[A-Za-z0-9+/]{16,}={0,2}",
    ),
];

/// A run of exactly 40 base64 characters: an AWS secret access key if it also looks random.
const AWS_SECRET: &str = r"(?:^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])";

static SET: LazyLock<RegexSet> = LazyLock::new(|| {
    RegexSet::new(PATTERNS.iter().map(|(_, p)| *p)).unwrap_or_else(|_| RegexSet::empty())
});
static EACH: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    PATTERNS
        .iter()
        .filter_map(|(_, p)| Regex::new(p).ok())
        .collect()
});
static AWS_SECRET_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(AWS_SECRET).ok());

/// What kind of credential `value` holds, if it holds one anywhere in it.
pub fn secret_kind(value: &str) -> Option<&'static str> {
    if value.len() < 16 {
        return None;
    }
    if let Some(i) = SET.matches(value).iter().next() {
        return PATTERNS.get(i).map(|(kind, _)| *kind);
    }
    aws_secret_spans(value)
        .next()
        .map(|_| "an AWS secret access key")
}

fn aws_secret_spans(value: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    AWS_SECRET_RE
        .as_ref()
        .into_iter()
        .flat_map(move |re| re.captures_iter(value))
        .filter_map(|c| c.get(1))
        .filter(|m| looks_random(m.as_str()))
        .map(|m| (m.start(), m.end()))
}

/// Mixed case and digits, few separators, many distinct characters: a random key, not a path,
/// a hex digest or a word.
fn looks_random(token: &str) -> bool {
    let b = token.as_bytes();
    let separators = b.iter().filter(|c| matches!(c, b'/' | b'+')).count();
    let mut seen = [false; 128];
    for &c in b {
        seen[usize::from(c & 0x7f)] = true;
    }
    let distinct = seen.iter().filter(|s| **s).count();
    b.iter().any(u8::is_ascii_uppercase)
        && b.iter().any(u8::is_ascii_lowercase)
        && b.iter().any(u8::is_ascii_digit)
        && separators <= 3
        && !token.starts_with('/')
        && distinct >= 24
}

/// `text` with every credential recognized by [`secret_kind`] replaced by `***`.
pub fn redact(text: &str) -> Cow<'_, str> {
    if secret_kind(text).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_owned();
    for re in EACH.iter() {
        if re.is_match(&out) {
            out = re.replace_all(&out, "***").into_owned();
        }
    }
    let spans: Vec<(usize, usize)> = aws_secret_spans(&out).collect();
    for (start, end) in spans.into_iter().rev() {
        out.replace_range(start..end, "***");
    }
    Cow::Owned(out)
}

/// Whether a manifest value may be quoted in a message: not a credential, not something that
/// was (or was meant to be) substituted from `${…}`.
pub fn may_show(value: &str) -> bool {
    !value.contains("${") && secret_kind(value).is_none()
}

/// `` `value` `` when it may be shown, else [`HIDDEN`]; long values are cut.
pub fn quote(value: &str) -> String {
    if !may_show(value) {
        return HIDDEN.to_owned();
    }
    if value.len() > 120 {
        format!("`{}…`", &value[..value.floor_char_boundary(117)])
    } else {
        format!("`{value}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_newlines_are_escaped() {
        assert_eq!(escape("plain name-1"), "plain name-1");
        assert_eq!(
            escape("a\nok dev: 1 service(s)\x1b[2K"),
            "a\\nok dev: 1 service(s)\\u{1b}[2K"
        );
        assert_eq!(escape("tab\there\r"), "tab\\there\\r");
        assert_eq!(escape("rtl\u{202e}txt"), "rtl\\u{202e}txt");
        assert_eq!(escape("c1\u{9b}x"), "c1\\u{9b}x");
    }

    #[test]
    fn credentials_are_recognized_by_value() {
        for secret in [
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----",
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "postgres://app:hunter2@db.internal:5432/numbers",
            "redis://:s3cret@cache:6379",
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnop",
            "glpat-abcdefghij0123456789",
            "xoxb-1234567890-abcdefghij",
            "sk_live_abcdefghijklmnop1234",
            "AIzaSyA-1234567890abcdefghijklmnopqrstu",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
            "Bearer abcdefghijklmnopqrstuvwxyz012345",
            "DefaultEndpointsProtocol=https;AccountName=x;AccountKey=abcdefghijklmnopqrstuvwxyz0123==",
        ] {
            assert!(secret_kind(secret).is_some(), "{secret}");
            assert!(
                !redact(&format!("x {secret} y")).contains(secret),
                "{secret}"
            );
        }
        for plain in [
            "numbers",
            "db.internal",
            "https://example.com/path?x=1",
            "https://user@example.com/",
            "0123456789abcdef0123456789abcdef01234567",
            "/usr/local/lib/python3/site-packages/app1/x",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCd:password::",
            "production",
            "ThisIsAnOrdinaryLongCamelCaseNameOfAThing",
        ] {
            assert_eq!(secret_kind(plain), None, "{plain}");
        }
    }

    #[test]
    fn quoting_hides_credentials_and_substitutions() {
        assert_eq!(quote("numbers-api"), "`numbers-api`");
        assert_eq!(quote("${db_password}"), HIDDEN);
        assert_eq!(quote("AKIAIOSFODNN7EXAMPLE"), HIDDEN);
    }
}

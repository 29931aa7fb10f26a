//! URLs that carry secrets, shown with the secrets masked (RFC 3986 §3.2.1 user
//! information, §3.4 query).
//!
//! Cameras, Icecast servers and packet servers take a password in the user information
//! (`rtsp://admin:hunter2@cam/`) or in the query (`?user=admin&password=hunter2`,
//! `?token=…`). Every message in the workspace names such a URL through [`SecretUrl`] or
//! [`redact`], so no password, token or key reaches a log line, an error or a status.
//! The masking works on the text, not on a parsed URL, so a string that does not parse
//! (the usual reason to print it) is masked too.

use std::fmt;

use percent_encoding::percent_decode_str;

/// Query parameter names whose values are masked, compared without regard to ASCII case
/// after percent-decoding.
pub const SECRET_QUERY_KEYS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "pass",
    "token",
    "key",
    "secret",
    "auth",
    "signature",
    "sig",
    "access_token",
    // SRT's encryption secret (`srt://host:port?passphrase=…`).
    "passphrase",
];

/// What a masked secret is shown as.
const MASK: &str = "***";

/// A URL that may carry credentials; `Display` and `Debug` mask them.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps a URL string.
    pub fn new(url: impl Into<String>) -> Self {
        SecretUrl(url.into())
    }

    /// The full URL, secrets included: pass it only to the code that connects.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL as shown to people: `scheme://user:***@host/path?password=***`.
    pub fn redacted(&self) -> String {
        redact(&self.0)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({:?})", self.redacted())
    }
}

/// Masks the userinfo password (`user:***@`) and the values of [`SECRET_QUERY_KEYS`] in
/// the query of `url`; everything else is kept exactly as written.
pub fn redact(url: &str) -> String {
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let (head, query) = match before_fragment.find('?') {
        Some(i) => (&before_fragment[..i], Some(&before_fragment[i + 1..])),
        None => (before_fragment, None),
    };
    let mut out = redact_userinfo(head);
    if let Some(query) = query {
        out.push('?');
        out.push_str(&redact_query(query));
    }
    out.push_str(fragment);
    out
}

/// [`redact`] applied to every URL inside free text, such as another library's error
/// message: each whitespace-separated word holding `://` is masked, the rest is kept.
pub fn redact_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let (word, tail) = rest.split_at(word_end);
        if word.contains("://") {
            // Punctuation that closes a sentence or a quote is not part of the URL.
            let url = word.trim_end_matches([';', ',', '.', ')', ']', '}', '>', '"', '\'']);
            out.push_str(&redact(url));
            out.push_str(&word[url.len()..]);
        } else {
            out.push_str(word);
        }
        let space_end = tail
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(tail.len());
        out.push_str(&tail[..space_end]);
        rest = &tail[space_end..];
    }
    out
}

/// `scheme://user:password@rest` → `scheme://user:***@rest`. A user name alone stays.
fn redact_userinfo(head: &str) -> String {
    let Some(scheme_end) = head.find("://") else {
        return head.to_owned();
    };
    let rest = &head[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return head.to_owned();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _password)) => format!(
            "{}://{user}:{MASK}@{}",
            &head[..scheme_end],
            &rest[at + 1..]
        ),
        None => head.to_owned(),
    }
}

/// `a=1&password=x` → `a=1&password=***`.
fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        let (key, value) = match pair.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (pair, None),
        };
        out.push_str(key);
        if let Some(value) = value {
            out.push('=');
            if is_secret_key(key) {
                out.push_str(MASK);
            } else {
                out.push_str(value);
            }
        }
    }
    out
}

fn is_secret_key(key: &str) -> bool {
    let spaced = key.replace('+', " ");
    let decoded = percent_decode_str(&spaced).decode_utf8_lossy();
    let key = decoded.trim();
    SECRET_QUERY_KEYS
        .iter()
        .any(|secret| key.eq_ignore_ascii_case(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_userinfo_password() {
        assert_eq!(
            redact("rtsp://bob:pw@cam:554/x"),
            "rtsp://bob:***@cam:554/x"
        );
        assert_eq!(
            redact("icecast://source:pw@h/live"),
            "icecast://source:***@h/live"
        );
        assert_eq!(redact("rtsp://a:b@c@cam/x"), "rtsp://a:***@cam/x");
    }

    #[test]
    fn keeps_what_is_not_secret() {
        for url in [
            "rtsp://cam/x",
            "rtsp://bob@cam/x?user=bob",
            "out.mp4",
            "-",
            "tcp://h:1",
        ] {
            assert_eq!(redact(url), url);
        }
    }

    #[test]
    fn masks_secret_query_values_in_any_case() {
        assert_eq!(
            redact("rtsp://cam/x?user=admin&password=hunter2&channel=1"),
            "rtsp://cam/x?user=admin&password=***&channel=1"
        );
        assert_eq!(
            redact("tcp://h:1?Token=t&SIG=s&access_token=a&pass%77ord=p#frag"),
            "tcp://h:1?Token=***&SIG=***&access_token=***&pass%77ord=***#frag"
        );
    }

    #[test]
    fn masks_every_url_in_free_text() {
        assert_eq!(
            redact_text(
                "Invalid argument: Bad URL rtsps://h:9/x?password=pw&token=t; only rtsp\n  ok"
            ),
            "Invalid argument: Bad URL rtsps://h:9/x?password=***&token=***; only rtsp\n  ok"
        );
        assert_eq!(
            redact_text("see \"icecast://s:pw@h/m\" and tcp://h:1"),
            "see \"icecast://s:***@h/m\" and tcp://h:1"
        );
        for plain in ["", "  ", "no url here", "a://", "π ∞ \t x"] {
            assert_eq!(redact_text(plain), plain);
        }
    }

    #[test]
    fn masks_both_and_in_debug() {
        let url = SecretUrl::new("rtsp://u:hunter2@cam/x?key=s3cret");
        for shown in [url.to_string(), format!("{url:?}")] {
            assert!(
                !shown.contains("hunter2") && !shown.contains("s3cret"),
                "{shown}"
            );
        }
        assert_eq!(url.expose(), "rtsp://u:hunter2@cam/x?key=s3cret");
    }

    proptest::proptest! {
        #[test]
        fn never_shows_a_password(user in "[a-z]{0,8}", password in "[A-Za-z0-9]{6,12}",
                                  host in "[a-z@:]{1,10}", key in proptest::sample::select(SECRET_QUERY_KEYS)) {
            let marked = format!("Q{password}");
            let url = format!("rtsp://{user}:{password}@{host}/p?x=1&{key}={marked}");
            let shown = redact(&url);
            proptest::prop_assert!(!shown.contains(&password), "{}", shown);
        }
    }
}

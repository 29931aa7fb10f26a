//! Client authentication as RTSP clients do it (RFC 2326 §D.1, RFC 2617): Digest with
//! MD5, the scheme cameras use and every client (ffmpeg, VLC, GStreamer, retina) answers,
//! and Basic (taken, not offered). The server has one password and takes any user name with it (the user names
//! who plays, the password is the stream's token). Each connection has its own nonce.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use md5::{Digest as _, Md5};

/// The realm named in the challenge.
pub(crate) const REALM: &str = "media-toolkit";

/// The challenge of a 401 answer: Digest only. Every RTSP client answers it, and a second
/// `WWW-Authenticate` line for Basic would be folded into this one by the message writer
/// (`Digest …, Basic …`), which clients misread. A client that sends Basic unasked is
/// still let in.
pub(crate) fn challenge(nonce: &str) -> String {
    format!("Digest realm=\"{REALM}\", nonce=\"{nonce}\", algorithm=MD5")
}

/// Whether `authorization` (the header's value) proves `password` for a request of
/// `method` to `uri`, against this connection's `nonce`.
pub(crate) fn authorized(authorization: &str, method: &str, password: &str, nonce: &str) -> bool {
    let (scheme, rest) = authorization
        .trim()
        .split_once(' ')
        .unwrap_or((authorization, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = STANDARD.decode(rest.trim()) else {
            return false;
        };
        let text = String::from_utf8_lossy(&decoded);
        return text
            .split_once(':')
            .is_some_and(|(_, given)| same(given.as_bytes(), password.as_bytes()));
    }
    if !scheme.eq_ignore_ascii_case("digest") {
        return false;
    }
    let params = digest_params(rest);
    let get = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    };
    let (Some(user), Some(uri), Some(response)) = (get("username"), get("uri"), get("response"))
    else {
        return false;
    };
    if get("nonce") != Some(nonce) || get("realm") != Some(REALM) {
        return false;
    }
    let ha1 = md5_hex(&format!("{user}:{REALM}:{password}"));
    let ha2 = md5_hex(&format!("{method}:{uri}"));
    let expected = match (get("qop"), get("nc"), get("cnonce")) {
        (Some(qop), Some(nc), Some(cnonce)) => {
            md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"))
        }
        _ => md5_hex(&format!("{ha1}:{nonce}:{ha2}")),
    };
    same(
        response.to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    )
}

/// `key=value` and `key="value"` pairs, comma-separated (commas inside quotes kept).
fn digest_params(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => match quoted.split_once('"') {
                Some((value, next)) => (value, next),
                None => (quoted, ""),
            },
            None => after.split_once(',').map_or((after, ""), |(v, n)| (v, n)),
        };
        out.push((key.trim().to_owned(), value.trim().to_owned()));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

fn md5_hex(text: &str) -> String {
    Md5::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_as_rfc_2617_computes_it_with_and_without_qop() {
        let nonce = "abc123";
        let ha1 = md5_hex(&format!("viewer:{REALM}:s3cret"));
        let ha2 = md5_hex("DESCRIBE:rtsp://h:8554/cam");
        let response = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
        let header = format!(
            "Digest username=\"viewer\", realm=\"{REALM}\", nonce=\"{nonce}\", \
             uri=\"rtsp://h:8554/cam\", response=\"{response}\""
        );
        assert!(authorized(&header, "DESCRIBE", "s3cret", nonce));
        assert!(!authorized(&header, "DESCRIBE", "other", nonce));
        assert!(!authorized(&header, "DESCRIBE", "s3cret", "another-nonce"));
        assert!(!authorized(&header, "SETUP", "s3cret", nonce));
        let qop = md5_hex(&format!("{ha1}:{nonce}:00000001:xyz:auth:{ha2}"));
        let header = format!(
            "Digest username=\"viewer\", realm=\"{REALM}\", nonce=\"{nonce}\", \
             uri=\"rtsp://h:8554/cam\", qop=auth, nc=00000001, cnonce=\"xyz\", response=\"{qop}\""
        );
        assert!(authorized(&header, "DESCRIBE", "s3cret", nonce));
    }

    #[test]
    fn basic_takes_any_user_with_the_password_and_junk_is_refused() {
        let header = format!("Basic {}", STANDARD.encode("anyone:s3cret"));
        assert!(authorized(&header, "PLAY", "s3cret", "n"));
        let wrong = format!("Basic {}", STANDARD.encode("anyone:s3cre"));
        assert!(!authorized(&wrong, "PLAY", "s3cret", "n"));
        for junk in [
            "",
            "Basic",
            "Basic !!!",
            "Digest",
            "Digest a",
            "Bearer s3cret",
        ] {
            assert!(!authorized(junk, "PLAY", "s3cret", "n"), "{junk}");
        }
    }
}

//! Where and how to connect: parsed from `icecast://user:pass@host:port/mount` (or
//! `http://…`), plus the stream's `ice-*` description.

use std::fmt;

use crate::Error;
use crate::endpoint::redact;

/// The stream's public description, sent as `ice-*` headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamInfo {
    /// `ice-name`.
    pub name: Option<String>,
    /// `ice-description`.
    pub description: Option<String>,
    /// `ice-genre`.
    pub genre: Option<String>,
    /// `ice-url`.
    pub url: Option<String>,
    /// `ice-public` (listed in directories); off by default.
    pub public: bool,
    /// Bitrate in kbit/s, for `ice-audio-info` (taken from the stream).
    pub bitrate_kbps: Option<u32>,
    /// Sample rate in Hz, for `ice-audio-info`.
    pub sample_rate: Option<u32>,
    /// Channel count, for `ice-audio-info`.
    pub channels: Option<u8>,
}

/// A source connection's target and credentials. `Debug`/`Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct IcecastConfig {
    /// Server host name or address.
    pub host: String,
    /// Server port.
    pub port: u16,
    /// Mount point, starting with `/`.
    pub mount: String,
    /// Source user (usually `source`).
    pub user: String,
    /// Source password.
    pub password: String,
    /// Stream description.
    pub info: StreamInfo,
    /// `User-Agent` header.
    pub user_agent: String,
}

impl IcecastConfig {
    /// Parses `icecast://user:pass@host:port/mount` or `http://user:pass@host:port/mount`.
    /// The user defaults to `source`, the port to 8000.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidUrl {
            url: redact(url),
            reason: why.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(parsed.scheme(), "icecast" | "http") {
            return Err(bad("scheme must be icecast:// or http://"));
        }
        let host = parsed.host_str().ok_or_else(|| bad("no host"))?.to_owned();
        let mount = parsed.path().to_owned();
        if mount.len() < 2 {
            return Err(bad("no mount point (e.g. /live)"));
        }
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = match parsed.username() {
            "" => "source".to_owned(),
            u => decode(u),
        };
        Ok(IcecastConfig {
            host,
            port: parsed.port().unwrap_or(8000),
            mount,
            user,
            password: parsed.password().map(decode).unwrap_or_default(),
            info: StreamInfo::default(),
            user_agent: concat!("media-toolkit-pipeline/", env!("CARGO_PKG_VERSION")).to_owned(),
        })
    }

    /// `host:port` for connecting.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Authorization: Basic …` value.
    pub(crate) fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            base64(format!("{}:{}", self.user, self.password).as_bytes())
        )
    }
}

impl fmt::Display for IcecastConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "icecast://{}:***@{}:{}{}",
            self.user, self.host, self.port, self.mount
        )
    }
}

impl fmt::Debug for IcecastConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcecastConfig")
            .field("target", &self.to_string())
            .field("info", &self.info)
            .field("user_agent", &self.user_agent)
            .finish()
    }
}

/// Standard base64 with padding (RFC 4648), for the Basic auth header.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(input.len().div_ceil(3) * 4);
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            let symbol = ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char;
            out.push(if i <= chunk.len() { symbol } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_gives_target_and_credentials() {
        let c = IcecastConfig::from_url("icecast://source:p%40ss@127.0.0.1:8123/live").unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.mount.as_str()),
            ("127.0.0.1", 8123, "/live")
        );
        assert_eq!((c.user.as_str(), c.password.as_str()), ("source", "p@ss"));
        assert_eq!(c.basic_auth(), "Basic c291cmNlOnBAc3M=");
        let d = IcecastConfig::from_url("http://:pw@example.org/m").unwrap();
        assert_eq!((d.user.as_str(), d.port), ("source", 8000));
    }

    #[test]
    fn password_never_shown() {
        let c = IcecastConfig::from_url("icecast://source:hackme@h:8000/live").unwrap();
        assert!(!format!("{c} {c:?}").contains("hackme"));
        let err = IcecastConfig::from_url("icecast://source:hackme@h:8000/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hackme") && err.contains("mount"), "{err}");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }
}

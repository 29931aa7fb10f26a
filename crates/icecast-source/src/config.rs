//! Where and how to connect: parsed from `icecast://user:pass@host:port/mount` (or
//! `http://…`), plus the stream's content type and `ice-*` description.

use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use media_core::redact;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::Error;

/// What the stream carries, sent as `Content-Type`. Icecast 2.4 relays both through its
/// generic (MP3-style) format, ICY titles included (`format_get_type` in `src/format.c`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentType {
    /// MPEG audio frames (`audio/mpeg`).
    #[default]
    Mpeg,
    /// ADTS AAC frames (`audio/aac`; Icecast also knows `audio/aacp` for HE-AAC).
    Aac,
    /// ADTS HE-AAC frames (`audio/aacp`).
    AacPlus,
    /// Ogg pages of Opus or Vorbis (`application/ogg`), one logical stream per song.
    Ogg,
    /// The same as [`ContentType::Ogg`], announced as `audio/ogg` (Icecast takes both).
    OggAudio,
}

impl ContentType {
    /// The `Content-Type` header value.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Mpeg => "audio/mpeg",
            ContentType::Aac => "audio/aac",
            ContentType::AacPlus => "audio/aacp",
            ContentType::Ogg => "application/ogg",
            ContentType::OggAudio => "audio/ogg",
        }
    }

    /// Whether frames are ADTS AAC.
    pub fn is_aac(self) -> bool {
        matches!(self, ContentType::Aac | ContentType::AacPlus)
    }

    /// Whether frames are Ogg pages.
    pub fn is_ogg(self) -> bool {
        matches!(self, ContentType::Ogg | ContentType::OggAudio)
    }
}

impl fmt::Display for ContentType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stream's public description, sent as `ice-*` headers (more may come: start from
/// `default()` and set the fields).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Bitrate in kbit/s, for `ice-audio-info` (taken from the stream when unset).
    pub bitrate_kbps: Option<u32>,
    /// Sample rate in Hz, for `ice-audio-info`.
    pub sample_rate: Option<u32>,
    /// Channel count, for `ice-audio-info`.
    pub channels: Option<u8>,
}

/// A source connection's target and credentials. `Debug`/`Display` never show the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// `Content-Type` of the stream (MP3 unless set).
    pub content_type: ContentType,
    /// Stream description.
    pub info: StreamInfo,
    /// `User-Agent` header.
    pub user_agent: String,
    /// Admin user and password, sent with status requests when set (never shown).
    pub admin: Option<(String, String)>,
    /// Connect with TLS (`icecasts://` or `https://` URLs set it).
    pub tls: bool,
    /// A PEM file of CA certificates trusted besides the webpki roots (e.g. a server's
    /// self-signed certificate).
    pub tls_ca: Option<PathBuf>,
}

impl IcecastConfig {
    /// Parses `icecast://user:pass@host:port/mount` or `http://user:pass@host:port/mount`;
    /// `icecasts://` and `https://` connect with TLS.
    /// The user defaults to `source`, the port to 8000, the content type to MP3.
    pub fn from_url(url: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::InvalidUrl {
            url: redact(url),
            reason: why.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        let tls = match parsed.scheme() {
            "icecast" | "http" => false,
            "icecasts" | "https" => true,
            _ => {
                return Err(bad(
                    "scheme must be icecast://, icecasts://, http:// or https://",
                ));
            }
        };
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
            content_type: ContentType::default(),
            info: StreamInfo::default(),
            user_agent: concat!("icecast-source/", env!("CARGO_PKG_VERSION")).to_owned(),
            admin: None,
            tls,
            tls_ca: None,
        })
    }

    /// The same target with another content type.
    pub fn with_content_type(mut self, content_type: ContentType) -> Self {
        self.content_type = content_type;
        self
    }

    /// `host:port` for connecting.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Authorization: Basic …` value (RFC 7617).
    pub fn basic_auth(&self) -> String {
        format!(
            "Basic {}",
            BASE64.encode(format!("{}:{}", self.user, self.password))
        )
    }
}

impl fmt::Display for IcecastConfig {
    /// `icecast://user:***@host:port/mount`, masked by [`media_core::redact`]. User and
    /// password are percent-encoded first, so a `/` or `@` in them cannot hide the password
    /// from the masking.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = format!(
            "icecast{}://{}:{}@{}:{}{}",
            if self.tls { "s" } else { "" },
            utf8_percent_encode(&self.user, NON_ALPHANUMERIC),
            utf8_percent_encode(&self.password, NON_ALPHANUMERIC),
            self.host,
            self.port,
            self.mount
        );
        f.write_str(&redact(&url))
    }
}

impl fmt::Debug for IcecastConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IcecastConfig")
            .field("target", &self.to_string())
            .field("content_type", &self.content_type)
            .field("info", &self.info)
            .field("user_agent", &self.user_agent)
            .field(
                "admin",
                &self.admin.as_ref().map(|(user, _)| format!("{user}:***")),
            )
            .finish()
    }
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
        assert_eq!(c.content_type, ContentType::Mpeg);
        let d = IcecastConfig::from_url("http://:pw@example.org/m").unwrap();
        assert_eq!((d.user.as_str(), d.port), ("source", 8000));
        assert!(!d.tls);
        let t = IcecastConfig::from_url("icecasts://source:pw@example.org:8443/m").unwrap();
        assert!(t.tls && IcecastConfig::from_url("https://h/m").unwrap().tls);
        assert_eq!(t.to_string(), "icecasts://source:***@example.org:8443/m");
    }

    #[test]
    fn password_never_shown() {
        let c = IcecastConfig::from_url("icecast://source:hackme@h:8000/live").unwrap();
        assert_eq!(c.to_string(), "icecast://source:***@h:8000/live");
        assert!(!format!("{c} {c:?}").contains("hackme"));
        let err = IcecastConfig::from_url("icecast://source:hackme@h:8000/")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hackme") && err.contains("mount"), "{err}");
        let mut odd = c.clone();
        odd.password = "a/b@c:d".into();
        assert!(!odd.to_string().contains("a/b"), "{odd}");
        odd.admin = Some(("admin".into(), "adminpw".into()));
        assert!(!format!("{odd} {odd:?}").contains("adminpw"), "{odd:?}");
    }

    #[test]
    fn basic_auth_is_rfc4648_base64() {
        let mut c = IcecastConfig::from_url("icecast://h/m").unwrap();
        for (user, password, want) in [
            ("source", "hackme", "c291cmNlOmhhY2ttZQ=="),
            ("f", "", "Zjo="),
            ("fo", "o", "Zm86bw=="),
        ] {
            c.user = user.into();
            c.password = password.into();
            assert_eq!(c.basic_auth(), format!("Basic {want}"));
        }
    }
}

//! Camera URLs with the credentials kept apart (RFC 2326 section 3.2 `rtsp://` URLs,
//! RFC 3986 section 3.2.1 user information).
//!
//! A camera URL often carries `user:password@`. The password must never reach a log line,
//! an error message or a `Debug` dump, and it must not travel on the wire inside the
//! request URI either: it is split off once, here, and handed to retina as separate
//! credentials. Every message of this crate names the camera through [`CameraUrl`]'s
//! `Display`, which prints `rtsp://user:***@host/path`.

use std::fmt;

use crate::Error;

/// User name and password for Basic or Digest authentication.
///
/// `Debug` shows the user name and hides the password.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

impl Credentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Credentials {
            username: username.into(),
            password: password.into(),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"***")
            .finish()
    }
}

/// An `rtsp://` URL without credentials, plus the credentials it carried (if any).
#[derive(Clone, PartialEq, Eq)]
pub struct CameraUrl {
    /// The URL sent to the server: no user information.
    url: url::Url,
    /// What was in the URL's user information, percent-decoded.
    credentials: Option<Credentials>,
}

impl CameraUrl {
    /// Parses `text`, splitting off `user:password@` if present.
    ///
    /// Only `rtsp` is accepted: retina speaks plain RTSP, and an `rtsps` URL handed to it
    /// came back as an error quoting the whole URL, query secrets included, and was
    /// retried as if the camera might change its mind. Errors never contain the password
    /// or a secret query parameter.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut url = url::Url::parse(text).map_err(|e| Error::InvalidUrl {
            url: redact_unparsed(text),
            reason: e.to_string(),
        })?;
        if url.scheme() == "rtsps" {
            return Err(Error::InvalidUrl {
                url: redact_unparsed(text),
                reason: "rtsps:// (RTSP over TLS) is not supported; use the camera's rtsp:// URL"
                    .into(),
            });
        }
        if url.scheme() != "rtsp" {
            return Err(Error::InvalidUrl {
                url: redact_unparsed(text),
                reason: format!("scheme {:?} is not rtsp", url.scheme()),
            });
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(Error::InvalidUrl {
                url: redact_unparsed(text),
                reason: "no host".into(),
            });
        }
        let credentials = if url.username().is_empty() && url.password().is_none() {
            None
        } else {
            let username = percent_decode(url.username());
            let password = percent_decode(url.password().unwrap_or(""));
            // Clearing cannot fail on a URL that has a host (checked above).
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(Credentials { username, password })
        };
        Ok(CameraUrl { url, credentials })
    }

    /// The URL without user information, as sent to the server. Crate-private: the `url`
    /// crate's type stays out of the public API (see README, foreign types).
    pub(crate) fn url(&self) -> &url::Url {
        &self.url
    }

    /// The credentials that were in the URL.
    pub fn credentials(&self) -> Option<&Credentials> {
        self.credentials.as_ref()
    }

    /// Host and port, for names of session groups and log lines.
    pub fn authority(&self) -> String {
        match self.url.port() {
            Some(port) => format!("{}:{port}", self.url.host_str().unwrap_or("")),
            None => self.url.host_str().unwrap_or("").to_owned(),
        }
    }

    /// The URL as shown to people, with `user:***@` when credentials are known.
    pub fn redacted(&self, credentials: Option<&Credentials>) -> String {
        let mut shown = self.url.clone();
        if let Some(c) = credentials.or(self.credentials.as_ref()) {
            let _ = shown.set_username(&c.username);
            let _ = shown.set_password(Some("***"));
        }
        // The query may hold secrets too (`?user=admin&password=...`).
        media_core::redact(shown.as_str())
    }
}

impl fmt::Display for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted(None))
    }
}

impl fmt::Debug for CameraUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CameraUrl({:?})", self.redacted(None))
    }
}

/// Best effort for a string that did not parse: cut everything between `://` and the last
/// `@` of the authority, so a password cannot leak through a parse error.
fn redact_unparsed(text: &str) -> String {
    let Some(scheme_end) = text.find("://") else {
        return text.to_owned();
    };
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let shown = match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &text[..scheme_end + 3], &rest[at + 1..]),
        None => text.to_owned(),
    };
    media_core::redact(&shown)
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_credentials_and_redacts() {
        let u = CameraUrl::parse("rtsp://admin:s%40cret@cam.local:554/Streaming/101").unwrap();
        assert_eq!(u.url().as_str(), "rtsp://cam.local:554/Streaming/101");
        let c = u.credentials().unwrap();
        assert_eq!(c.username, "admin");
        assert_eq!(c.password, "s@cret");
        assert_eq!(
            u.to_string(),
            "rtsp://admin:***@cam.local:554/Streaming/101"
        );
        assert!(!format!("{u:?}").contains("cret"));
        assert!(!format!("{c:?}").contains("cret"));
        assert_eq!(u.authority(), "cam.local:554");
    }

    #[test]
    fn separate_credentials_are_shown_redacted() {
        let u = CameraUrl::parse("rtsp://cam/x").unwrap();
        assert!(u.credentials().is_none());
        assert_eq!(u.to_string(), "rtsp://cam/x");
        let c = Credentials::new("bob", "hunter2");
        assert_eq!(u.redacted(Some(&c)), "rtsp://bob:***@cam/x");
    }

    #[test]
    fn query_secrets_are_hidden() {
        let u = CameraUrl::parse("rtsp://cam/live?user=admin&password=hunter2&ch=1").unwrap();
        let shown = u.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(
            shown.contains("ch=1") && shown.contains("user=admin"),
            "{shown}"
        );
        // The real URL keeps the query: the camera needs it.
        assert!(u.url().as_str().contains("hunter2"));
        let plain = CameraUrl::parse("rtsp://cam/live?ch=1&subtype=0").unwrap();
        assert_eq!(plain.to_string(), "rtsp://cam/live?ch=1&subtype=0");
    }

    #[test]
    fn bad_urls_do_not_leak_the_password() {
        for text in [
            "rtsp://admin:hunter2@[bad/x",
            "http://admin:hunter2@cam/x",
            "rtsp://admin:hunter2@:99999/x",
        ] {
            let e = CameraUrl::parse(text).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(!shown.contains("hunter2"), "{shown}");
        }
    }

    #[test]
    fn rtsps_is_refused_with_the_secrets_masked() {
        let e = CameraUrl::parse("rtsps://admin:S3cretPW@127.0.0.1:9/x?password=QueryS3cret")
            .unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(
            !shown.contains("S3cretPW") && !shown.contains("QueryS3cret"),
            "{shown}"
        );
        assert!(
            shown.contains("rtsps:// (RTSP over TLS) is not supported"),
            "{shown}"
        );
        assert!(e.is_permanent());
    }

    #[test]
    fn percent_decoding_is_total() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// Any text: parsing never panics, and a valid URL round-trips its parts.
            #[test]
            fn any_text_is_handled(text in ".{0,80}") {
                if let Ok(u) = CameraUrl::parse(&text) {
                    let _ = (u.to_string(), format!("{u:?}"), u.authority());
                }
            }

            /// A password (marked so it cannot occur by chance elsewhere) never shows in
            /// Display, Debug or an error, whatever surrounds it.
            #[test]
            fn passwords_never_show(
                user in "[a-zA-Z0-9._-]{0,8}",
                secret in "[a-zA-Z0-9!$&'()*+,;=._~-]{1,12}",
                host in prop::sample::select(vec!["cam", "192.0.2.7", "[::1]", "", "[bad", "cam:99999"]),
                scheme in prop::sample::select(vec!["rtsp", "rtsps", "http", "rtsp:"]),
                tail in "[a-z0-9/?=&]{0,12}",
            ) {
                let password = format!("PW{secret}QX");
                let text = format!("{scheme}://{user}:{password}@{host}/{tail}");
                match CameraUrl::parse(&text) {
                    Ok(u) => {
                        let c = u.credentials().expect("credentials were in the URL");
                        prop_assert_eq!(&c.password, &password);
                        prop_assert!(!u.url().as_str().contains(&password));
                        for shown in [u.to_string(), format!("{u:?}"), format!("{c:?}")] {
                            prop_assert!(!shown.contains(&password), "{}", shown);
                        }
                    }
                    Err(e) => {
                        let shown = format!("{e} {e:?}");
                        prop_assert!(!shown.contains(&password), "{}", shown);
                    }
                }
            }
        }
    }
}

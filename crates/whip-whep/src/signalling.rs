//! The client side of WHEP/WHIP signalling over HTTP/1.1 (RFC 9725 §4.2): `POST` the
//! offer as `application/sdp`, expect `201 Created` with the answer and a `Location`;
//! `DELETE` the location at the end. One request per connection, every step bounded by
//! a timeout, the response bounded by [`MAX_RESPONSE`]. A bearer token goes in the
//! `Authorization` header only: never in an error or a log line.
//!
//! `https://` (feature `tls`, on by default): rustls, the server's certificate checked
//! against the webpki roots (Mozilla's list, built in) plus the CA file given, if any
//! (how a self-signed server is trusted); the server name is the URL's host.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::Error;

/// A connection to the server, plain or TLS.
trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

/// Largest response read (an SDP answer is a few KiB).
pub const MAX_RESPONSE: usize = 64 * 1024;

/// A WHEP or WHIP endpoint URL, `http://host[:port]/path[?query]`.
#[derive(Clone, PartialEq, Eq)]
pub struct EndpointUrl {
    tls: bool,
    host: String,
    port: u16,
    /// The path and query as sent in requests.
    target: String,
}

impl std::fmt::Debug for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EndpointUrl({self})")
    }
}

/// The URL without its query (which may hold a secret).
impl std::fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.target.split(['?', '#']).next().unwrap_or("/");
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}{path}", self.host, self.port)
    }
}

impl EndpointUrl {
    /// Reads `http://host[:port]/path` (port 80 by default) or, with the feature `tls`,
    /// `https://host[:port]/path` (port 443 by default).
    pub fn parse(url: &str) -> Result<EndpointUrl, Error> {
        let shown = url.split(['?', '#']).next().unwrap_or("");
        // Userinfo may hold a password: never shown.
        let shown = match (shown.find("://"), shown.rfind('@')) {
            (Some(s), Some(at)) if at > s => format!("{}***{}", &shown[..s + 3], &shown[at..]),
            _ => shown.to_owned(),
        };
        let invalid = |reason: &str| Error::Signalling {
            url: shown.clone(),
            reason: reason.to_owned(),
        };
        let (tls, rest) = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => (false, rest),
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") => {
                if !cfg!(feature = "tls") {
                    return Err(invalid("https needs whip-whep's `tls` feature"));
                }
                (true, rest)
            }
            _ => return Err(invalid("not an http:// or https:// URL")),
        };
        let (authority, target) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains('@') {
            return Err(invalid(
                "user names in the URL are not taken: use a bearer token",
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                (h, p.parse().map_err(|_| invalid("bad port"))?)
            }
            _ => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(invalid("no host"));
        }
        let target = if target.starts_with('?') {
            format!("/{target}")
        } else {
            target.to_owned()
        };
        Ok(EndpointUrl {
            tls,
            host: host.to_owned(),
            port,
            target,
        })
    }

    /// The server's address (the first the host name resolves to).
    pub async fn resolve(&self) -> Result<SocketAddr, Error> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        let mut addrs = tokio::net::lookup_host((host, self.port))
            .await
            .map_err(|e| Error::io(format!("resolving {self}"), e))?;
        addrs.next().ok_or_else(|| Error::Signalling {
            url: self.to_string(),
            reason: "the host resolves to no address".into(),
        })
    }

    /// The URL of a session's `Location` (absolute, or relative to this URL).
    fn session(&self, location: &str) -> Result<EndpointUrl, Error> {
        if location.contains("://") {
            return EndpointUrl::parse(location);
        }
        let target = if location.starts_with('/') {
            location.to_owned()
        } else {
            let path = self.target.split(['?', '#']).next().unwrap_or("/");
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Ok(EndpointUrl {
            target,
            ..self.clone()
        })
    }
}

/// A session on the server: where to DELETE it.
#[derive(Debug, Clone)]
pub struct SessionUrl(EndpointUrl);

/// Posts `offer`; returns the server's answer and the session's URL.
/// The server's certificate is checked against the webpki roots and the certificates of
/// the PEM file `tls_ca`, if given (https only).
pub async fn post_offer(
    url: &EndpointUrl,
    token: Option<&str>,
    tls_ca: Option<&Path>,
    offer: &str,
    timeout: Duration,
) -> Result<(String, SessionUrl), Error> {
    let response = exchange(url, "POST", token, tls_ca, Some(offer), timeout).await?;
    if response.status != 201 {
        return Err(refused(url, &response, token));
    }
    let location = response.location.ok_or_else(|| Error::Signalling {
        url: url.to_string(),
        reason: "the 201 answer has no Location".into(),
    })?;
    let answer = String::from_utf8(response.body).map_err(|_| Error::Signalling {
        url: url.to_string(),
        reason: "the answer is not UTF-8 text".into(),
    })?;
    Ok((answer, SessionUrl(url.session(&location)?)))
}

/// Ends the session on the server (`DELETE`; 200 or 204 expected).
pub async fn delete(
    session: &SessionUrl,
    token: Option<&str>,
    tls_ca: Option<&Path>,
    timeout: Duration,
) -> Result<(), Error> {
    let response = exchange(&session.0, "DELETE", token, tls_ca, None, timeout).await?;
    if !(200..300).contains(&response.status) {
        return Err(refused(&session.0, &response, token));
    }
    Ok(())
}

pub(crate) struct Response {
    status: u16,
    location: Option<String>,
    body: Vec<u8>,
}

fn refused(url: &EndpointUrl, response: &Response, token: Option<&str>) -> Error {
    let text = String::from_utf8_lossy(&response.body);
    let mut reason: String = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("(no body)")
        .chars()
        .take(200)
        .collect();
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        reason = reason.replace(t, "***");
    }
    Error::Refused {
        url: url.to_string(),
        status: response.status,
        reason,
    }
}

async fn exchange(
    url: &EndpointUrl,
    method: &str,
    token: Option<&str>,
    tls_ca: Option<&Path>,
    body: Option<&str>,
    timeout: Duration,
) -> Result<Response, Error> {
    let work = async {
        let addr = url.resolve().await?;
        let tcp = TcpStream::connect(addr)
            .await
            .map_err(|e| Error::io(format!("connecting to {url}"), e))?;
        let mut stream: Box<dyn Wire> = if url.tls {
            tls(url, tls_ca, tcp).await?
        } else {
            Box::new(tcp)
        };
        let mut head = format!(
            "{method} {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n",
            url.target, url.host, url.port
        );
        if let Some(body) = body {
            head.push_str(&format!(
                "Content-Type: application/sdp\r\nContent-Length: {}\r\n",
                body.len()
            ));
        } else {
            head.push_str("Content-Length: 0\r\n");
        }
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        head.push_str("\r\n");
        let mut request = head.into_bytes();
        request.extend_from_slice(body.unwrap_or("").as_bytes());
        stream
            .write_all(&request)
            .await
            .map_err(|e| Error::io(format!("sending to {url}"), e))?;
        read_response(&mut stream, url).await
    };
    tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| Error::Signalling {
            url: url.to_string(),
            reason: format!("no answer within {} s", timeout.as_secs_f64()),
        })?
}

#[cfg(feature = "tls")]
async fn tls(
    url: &EndpointUrl,
    tls_ca: Option<&Path>,
    tcp: TcpStream,
) -> Result<Box<dyn Wire>, Error> {
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName};

    let failed = |reason: String| Error::Signalling {
        url: url.to_string(),
        reason,
    };
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = tls_ca {
        let unreadable = |e: &dyn std::fmt::Display| {
            failed(format!("reading the CA file {}: {e}", path.display()))
        };
        for certificate in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
            let certificate = certificate.map_err(|e| unreadable(&e))?;
            roots.add(certificate).map_err(|e| unreadable(&e))?;
        }
    }
    // The provider is named, not taken from the process default: another crate enabling
    // a second provider must not change (or break) ours.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| failed(format!("TLS server name {host:?}: {e}")))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .map_err(|e| failed(format!("TLS: {e}")))?;
    Ok(Box::new(stream))
}

#[cfg(not(feature = "tls"))]
async fn tls(
    url: &EndpointUrl,
    _tls_ca: Option<&Path>,
    _tcp: TcpStream,
) -> Result<Box<dyn Wire>, Error> {
    Err(Error::Signalling {
        url: url.to_string(),
        reason: "https needs whip-whep's `tls` feature".into(),
    })
}

async fn read_response(stream: &mut Box<dyn Wire>, url: &EndpointUrl) -> Result<Response, Error> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // A TLS server that closes without close_notify: the end of its answer.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !buf.is_empty() => 0,
            Err(e) => return Err(Error::io(format!("reading from {url}"), e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        match parse_response(&buf, n == 0) {
            Ok(Some(response)) => return Ok(response),
            Ok(None) => {}
            Err(reason) => {
                return Err(Error::Signalling {
                    url: url.to_string(),
                    reason: reason.to_owned(),
                });
            }
        }
    }
}

/// The response in the bytes read so far (sans-I/O): `None` to read more; `closed`: the
/// server has closed the connection (the end of a body without `Content-Length`).
pub(crate) fn parse_response(buf: &[u8], closed: bool) -> Result<Option<Response>, &'static str> {
    if buf.len() > MAX_RESPONSE {
        return Err("the response is larger than 64 KiB");
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let head_len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if !closed => return Ok(None),
        Ok(httparse::Status::Partial) => return Err("the connection closed mid-response"),
        Err(_) => return Err("the response is not HTTP/1.1"),
    };
    let mut length = None;
    let mut location = None;
    for h in parsed.headers.iter() {
        let value = String::from_utf8_lossy(h.value).trim().to_owned();
        if h.name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if h.name.eq_ignore_ascii_case("location") {
            location = Some(value);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked responses are not read");
        }
    }
    let have = buf.len() - head_len;
    let complete = match length {
        Some(l) => have >= l,
        None => closed,
    };
    if !complete {
        return if closed {
            Err("the connection closed mid-response")
        } else {
            Ok(None)
        };
    }
    let end = head_len + length.unwrap_or(have).min(have);
    Ok(Some(Response {
        status: parsed.code.unwrap_or(0),
        location,
        body: buf[head_len..end].to_vec(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_locations() {
        let u = EndpointUrl::parse("http://127.0.0.1:8889/cam/whep?token=s3cret").unwrap();
        assert_eq!(u.to_string(), "http://127.0.0.1:8889/cam/whep");
        assert!(!format!("{u:?}").contains("s3cret"));
        assert_eq!(u.session("/cam/whep/42").unwrap().target, "/cam/whep/42");
        assert_eq!(u.session("whep/42").unwrap().target, "/cam/whep/42");
        let abs = u.session("http://h:1/x/1").unwrap();
        assert_eq!(abs.to_string(), "http://h:1/x/1");
        assert_eq!(
            EndpointUrl::parse("http://h").unwrap().to_string(),
            "http://h:80/"
        );
        assert_eq!(
            EndpointUrl::parse("https://h/x").unwrap().to_string(),
            "https://h:443/x"
        );
        for bad in ["ftp://h/x", "http://u:pw@h/x", "http://:80/x", "h/x"] {
            let e = EndpointUrl::parse(bad).unwrap_err().to_string();
            assert!(!e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn responses_are_read_whole_or_refused() {
        let created = b"HTTP/1.1 201 Created\r\nLocation: /cam/whep/1\r\n\
                        Content-Length: 4\r\n\r\nv=0\n";
        let r = parse_response(created, false).unwrap().unwrap();
        assert_eq!(
            (r.status, r.location.as_deref()),
            (201, Some("/cam/whep/1"))
        );
        assert_eq!(r.body, b"v=0\n");
        // Wait for the rest of the body, or for the end without Content-Length.
        assert!(
            parse_response(&created[..created.len() - 1], false)
                .unwrap()
                .is_none()
        );
        assert!(parse_response(&created[..created.len() - 1], true).is_err());
        let open = b"HTTP/1.1 404 Not Found\r\n\r\nno stream";
        assert!(parse_response(open, false).unwrap().is_none());
        assert_eq!(
            parse_response(open, true).unwrap().unwrap().body,
            b"no stream"
        );
        let chunked = b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_response(chunked, false).is_err());
        assert!(parse_response(b"\x16\x03\x01 not http\r\n\r\n", false).is_err());
        assert!(parse_response(&vec![b'a'; MAX_RESPONSE + 1], false).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(0u8..=255, 0..300), closed: bool) {
            let _ = parse_response(&bytes, closed);
            let mut head = b"HTTP/1.1 201 Created\r\nContent-Length: 3\r\n".to_vec();
            head.extend_from_slice(&bytes);
            let _ = parse_response(&head, closed);
        }
    }
}

//! The source connection: request, answer, then raw MP3 bytes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{IcecastConfig, IcecastRefusal};
use crate::Error;

/// Largest answer head or error body we read; Icecast's are a few hundred bytes.
const MAX_ANSWER: usize = 16 * 1024;

/// How long we wait for the final answer after `100 Continue` before taking silence as
/// consent (RFC 9110 lets a client send the body without waiting).
const AFTER_CONTINUE: Duration = Duration::from_millis(500);

/// A connected Icecast source: write MP3 bytes with [`IcecastSource::send`].
#[derive(Debug)]
pub struct IcecastSource {
    stream: TcpStream,
    method: &'static str,
}

/// An HTTP answer head: status code and any bytes read past the head.
struct Answer {
    status: u16,
    rest: Vec<u8>,
}

impl IcecastSource {
    /// Connects and authenticates as a source, with PUT (Icecast ≥ 2.4), falling back once
    /// to SOURCE for older servers. `timeout` bounds each connect and each answer.
    pub async fn connect(config: &IcecastConfig, timeout: Duration) -> Result<Self, Error> {
        match Self::connect_with(config, "PUT", timeout).await {
            Err(Error::Icecast { refusal, .. }) if refusal_means_no_put(&refusal) => {
                tracing::info!(target = %config, "server does not take PUT; trying SOURCE");
                Self::connect_with(config, "SOURCE", timeout).await
            }
            other => other,
        }
    }

    /// Which method the server accepted (`PUT` or `SOURCE`).
    pub fn method(&self) -> &'static str {
        self.method
    }

    /// Sends stream bytes (whole MP3 frames, paced by the caller).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(data)
            .await
            .map_err(|e| Error::io("sending to icecast", e))
    }

    async fn connect_with(
        config: &IcecastConfig,
        method: &'static str,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let refused = |refusal| Error::Icecast {
            target: config.to_string(),
            refusal,
        };
        let mut stream = tokio::time::timeout(timeout, TcpStream::connect(config.address()))
            .await
            .map_err(|_| Error::Timeout {
                what: format!("connecting to {config}"),
            })?
            .map_err(|e| Error::io(format!("connecting to {config}"), e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| Error::io("set TCP_NODELAY", e))?;
        stream
            .write_all(request(config, method).as_bytes())
            .await
            .map_err(|e| Error::io(format!("sending {method} to {config}"), e))?;

        let Some(mut answer) = read_answer(&mut stream, Vec::new(), timeout).await? else {
            return Err(refused(IcecastRefusal::Protocol(format!(
                "connection closed without an answer to {method}"
            ))));
        };
        if answer.status == 100 {
            // Icecast 2.4 sends its 200 right after the 100; silence means go ahead.
            match tokio::time::timeout(
                AFTER_CONTINUE,
                read_answer(&mut stream, answer.rest, timeout),
            )
            .await
            {
                Ok(Ok(Some(next))) => answer = next,
                Ok(Ok(None)) => {
                    return Err(refused(IcecastRefusal::Protocol(
                        "connection closed after 100 Continue".into(),
                    )));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    answer = Answer {
                        status: 200,
                        rest: Vec::new(),
                    }
                }
            }
        }
        if (200..300).contains(&answer.status) {
            return Ok(IcecastSource { stream, method });
        }
        let body = read_body(&mut stream, answer.rest, timeout).await;
        Err(refused(IcecastRefusal::from_answer(answer.status, &body)))
    }
}

/// A PUT refused in a way that says "I do not know PUT" (pre-2.4 servers).
fn refusal_means_no_put(refusal: &IcecastRefusal) -> bool {
    match refusal {
        IcecastRefusal::Status { status, .. } => matches!(status, 400 | 405 | 501),
        IcecastRefusal::Protocol(_) => true,
        _ => false,
    }
}

fn request(config: &IcecastConfig, method: &str) -> String {
    let (version, expect) = match method {
        "PUT" => ("HTTP/1.1", "Expect: 100-continue\r\n"),
        _ => ("HTTP/1.0", ""),
    };
    let info = &config.info;
    let mut r = format!(
        "{method} {mount} {version}\r\nHost: {address}\r\nAuthorization: {auth}\r\nUser-Agent: {agent}\r\n\
         Content-Type: audio/mpeg\r\nice-public: {public}\r\n",
        mount = config.mount,
        address = config.address(),
        auth = config.basic_auth(),
        agent = header_value(&config.user_agent),
        public = u8::from(info.public),
    );
    for (key, value) in [
        ("name", &info.name),
        ("description", &info.description),
        ("genre", &info.genre),
        ("url", &info.url),
    ] {
        if let Some(value) = value {
            r += &format!("ice-{key}: {}\r\n", header_value(value));
        }
    }
    let audio: Vec<String> = [
        ("bitrate", info.bitrate_kbps),
        ("samplerate", info.sample_rate),
        ("channels", info.channels.map(u32::from)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some(format!("{k}={}", v?)))
    .collect();
    if !audio.is_empty() {
        r += &format!("ice-audio-info: {}\r\n", audio.join(";"));
    }
    r += expect;
    r += "\r\n";
    r
}

/// A header value without line breaks (a title or name must not inject headers).
fn header_value(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Reads one answer head (`HTTP/x.y NNN ...` up to the blank line). `None` when the server
/// closed before sending any status line.
async fn read_answer(
    stream: &mut TcpStream,
    mut buf: Vec<u8>,
    timeout: Duration,
) -> Result<Option<Answer>, Error> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            let status = head
                .split_whitespace()
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| Error::Icecast {
                    target: String::new(),
                    refusal: IcecastRefusal::Protocol(format!(
                        "not an HTTP status line: {:?}",
                        head.lines().next().unwrap_or("")
                    )),
                })?;
            return Ok(Some(Answer {
                status,
                rest: buf[end + 4..].to_vec(),
            }));
        }
        if buf.len() > MAX_ANSWER {
            return Err(Error::Icecast {
                target: String::new(),
                refusal: IcecastRefusal::Protocol("answer head too long".into()),
            });
        }
        let mut chunk = [0u8; 2048];
        let n = match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
            Err(_) => {
                return Err(Error::Timeout {
                    what: "waiting for the icecast server's answer".into(),
                });
            }
            Ok(Err(e)) if buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok(None);
            }
            Ok(Err(e)) => return Err(Error::io("reading the icecast server's answer", e)),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(Error::Icecast {
                    target: String::new(),
                    refusal: IcecastRefusal::Protocol("answer cut short".into()),
                })
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads an error body until the server closes (bounded in size and time).
async fn read_body(stream: &mut TcpStream, mut body: Vec<u8>, timeout: Duration) -> String {
    let mut chunk = [0u8; 2048];
    while body.len() < MAX_ANSWER {
        match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_request_has_the_headers_icecast_needs_and_no_length() {
        let mut c = IcecastConfig::from_url("icecast://source:hackme@127.0.0.1:8000/live").unwrap();
        c.info.name = Some("Name\r\nX-Injected: 1".into());
        c.info.bitrate_kbps = Some(128);
        c.info.sample_rate = Some(44100);
        c.info.channels = Some(2);
        let r = request(&c, "PUT");
        assert!(r.starts_with("PUT /live HTTP/1.1\r\n"), "{r}");
        for h in [
            "Authorization: Basic c291cmNlOmhhY2ttZQ==",
            "Content-Type: audio/mpeg",
            "ice-public: 0",
            "Expect: 100-continue",
        ] {
            assert!(r.contains(&format!("{h}\r\n")), "{h} missing in {r}");
        }
        assert!(r.contains("ice-audio-info: bitrate=128;samplerate=44100;channels=2\r\n"));
        assert!(!r.contains("Content-Length") && !r.contains("chunked"));
        assert!(!r.contains("\r\nX-Injected"), "header injection: {r}");
        assert!(r.ends_with("\r\n\r\n"));
        assert!(request(&c, "SOURCE").starts_with("SOURCE /live HTTP/1.0\r\n"));
    }
}

//! The source connection over tokio: request, answer, then raw frames. The request and
//! answer formats are in [`crate::protocol`]; this module only moves the bytes.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::protocol::{self, AnswerHead, MAX_ANSWER, Method};
use crate::transport::{self, Connection};
use crate::{Error, IcecastConfig, IcecastRefusal};

/// How long we wait for the final answer after `100 Continue` before taking silence as
/// consent (RFC 9110 §10.1.1 lets a client send the body without waiting).
const AFTER_CONTINUE: Duration = Duration::from_millis(500);

/// A connected Icecast source: write frames with [`IcecastSource::send`].
#[derive(Debug)]
pub struct IcecastSource {
    stream: Connection,
    method: Method,
    /// The server and mount, password masked, for messages.
    target: String,
}

impl IcecastSource {
    /// Connects and authenticates as a source, with PUT (Icecast ≥ 2.4), falling back once
    /// to SOURCE for older servers. `timeout` bounds each connect and each answer.
    pub async fn connect(config: &IcecastConfig, timeout: Duration) -> Result<Self, Error> {
        match Self::connect_with(config, Method::Put, timeout).await {
            Err(Error::Refused { refusal, .. }) if protocol::means_no_put(&refusal) => {
                tracing::info!(target = %config, "server does not take PUT; trying SOURCE");
                Self::connect_with(config, Method::Source, timeout).await
            }
            other => other,
        }
    }

    /// Which method the server accepted (`PUT` or `SOURCE`).
    pub fn method(&self) -> &'static str {
        self.method.as_str()
    }

    /// Sends stream bytes (whole frames, paced by the caller).
    pub async fn send(&mut self, data: &[u8]) -> Result<(), Error> {
        self.stream
            .write_all(data)
            .await
            .map_err(|e| Error::io(format!("sending to {}", self.target), e))
    }

    async fn connect_with(
        config: &IcecastConfig,
        method: Method,
        timeout: Duration,
    ) -> Result<Self, Error> {
        let refused = |refusal| Error::Refused {
            target: config.to_string(),
            refusal,
        };
        let mut stream = tokio::time::timeout(timeout, transport::connect(config))
            .await
            .map_err(|_| Error::Timeout {
                what: format!("connecting to {config}"),
            })?
            .map_err(|e| Error::io(format!("connecting to {config}"), e))?;
        stream
            .write_all(protocol::source_request(config, method).as_bytes())
            .await
            .map_err(|e| Error::io(format!("sending {} to {config}", method.as_str()), e))?;

        let mut buf = Vec::new();
        let Some(mut head) = read_head(&mut stream, &mut buf, config, timeout).await? else {
            return Err(refused(IcecastRefusal::Protocol(format!(
                "connection closed without an answer to {}",
                method.as_str()
            ))));
        };
        if head.status == 100 {
            buf.drain(..head.len);
            // Icecast 2.4 sends its 200 right after the 100; silence means go ahead.
            let next = read_head(&mut stream, &mut buf, config, timeout);
            match tokio::time::timeout(AFTER_CONTINUE, next).await {
                Ok(Ok(Some(next))) => head = next,
                Ok(Ok(None)) => {
                    return Err(refused(IcecastRefusal::Protocol(
                        "connection closed after 100 Continue".into(),
                    )));
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {
                    return Ok(IcecastSource {
                        stream,
                        method,
                        target: config.to_string(),
                    });
                }
            }
        }
        if (200..300).contains(&head.status) {
            return Ok(IcecastSource {
                stream,
                method,
                target: config.to_string(),
            });
        }
        buf.drain(..head.len);
        let body = read_body(&mut stream, buf, timeout).await;
        Err(refused(IcecastRefusal::from_answer(head.status, &body)))
    }
}

/// Reads one answer head into `buf` (which may already hold some bytes). `None` when the
/// server closed before sending any status line.
async fn read_head(
    stream: &mut Connection,
    buf: &mut Vec<u8>,
    config: &IcecastConfig,
    timeout: Duration,
) -> Result<Option<AnswerHead>, Error> {
    let refused = |refusal| Error::Refused {
        target: config.to_string(),
        refusal,
    };
    loop {
        if let Some(head) = protocol::parse_answer_head(buf).map_err(refused)? {
            return Ok(Some(head));
        }
        let mut chunk = [0u8; 2048];
        let n = match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
            Err(_) => {
                return Err(Error::Timeout {
                    what: format!("waiting for the answer of {config}"),
                });
            }
            Ok(Err(e)) if buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Ok(None);
            }
            Ok(Err(e)) => return Err(Error::io(format!("reading the answer of {config}"), e)),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(refused(IcecastRefusal::Protocol(format!(
                    "answer cut short after {} bytes: {}",
                    buf.len(),
                    protocol::quote(buf)
                ))))
            };
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Reads an error body until the server closes (bounded in size and time).
async fn read_body(stream: &mut Connection, mut body: Vec<u8>, timeout: Duration) -> String {
    let mut chunk = [0u8; 2048];
    while body.len() < MAX_ANSWER {
        match tokio::time::timeout(timeout, stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

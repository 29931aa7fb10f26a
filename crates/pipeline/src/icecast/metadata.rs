//! Title updates: `GET /admin/metadata?mode=updinfo&charset=UTF-8&mount=…&song=…` on a
//! separate connection with the source credentials (Icecast 2.4 `admin.c` command_metadata).
//! Giving `charset=UTF-8` is what keeps non-ASCII titles intact (libshout's legacy call
//! omits it and Icecast then assumes Latin-1).

use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{IcecastConfig, IcecastRefusal};
use crate::Error;

/// Sets the stream title shown to listeners (`StreamTitle`) and in status pages.
pub async fn update_title(
    config: &IcecastConfig,
    title: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let path = format!(
        "/admin/metadata?mode=updinfo&charset=UTF-8&mount={}&song={}",
        utf8_percent_encode(&config.mount, NON_ALPHANUMERIC),
        utf8_percent_encode(title, NON_ALPHANUMERIC)
    );
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {}\r\nAuthorization: {}\r\nUser-Agent: {}\r\n\r\n",
        config.address(),
        config.basic_auth(),
        config.user_agent
    );
    let exchange = async {
        let mut stream = TcpStream::connect(config.address()).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        // HTTP/1.0: the server closes after its answer. Bounded: the answer is tiny.
        (&mut stream)
            .take(64 * 1024)
            .read_to_end(&mut answer)
            .await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Timeout {
            what: format!("updating the title on {config}"),
        })?
        .map_err(|e| Error::io(format!("updating the title on {config}"), e))?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let refused = |refusal| Error::Icecast {
        target: config.to_string(),
        refusal,
    };
    if status == 200 && body.contains("<return>1</return>") {
        Ok(())
    } else if status == 0 {
        Err(refused(IcecastRefusal::Protocol(
            "no HTTP answer to the metadata update".into(),
        )))
    } else {
        Err(refused(IcecastRefusal::from_answer(
            if status == 200 { 500 } else { status },
            body,
        )))
    }
}

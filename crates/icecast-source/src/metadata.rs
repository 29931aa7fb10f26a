//! Title updates over tokio: the request and answer of [`crate::protocol::title_request`]
//! on a connection of their own, so a slow answer never stalls the audio.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::{Error, IcecastConfig, protocol};

/// Sets the stream title shown to listeners (`StreamTitle`) and in status pages.
pub async fn update_title(
    config: &IcecastConfig,
    title: &str,
    timeout: Duration,
) -> Result<(), Error> {
    let request = protocol::title_request(config, title);
    let exchange = async {
        let mut stream = crate::transport::connect(config).await?;
        stream.write_all(request.as_bytes()).await?;
        // HTTP/1.0: the server closes after its answer. Bounded: the answer is tiny.
        crate::transport::read_to_close(&mut stream, 64 * 1024).await
    };
    let answer = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| Error::Timeout {
            what: format!("updating the title on {config}"),
        })?
        .map_err(|e| Error::io(format!("updating the title on {config}"), e))?;
    protocol::parse_title_answer(&answer).map_err(|refusal| Error::Refused {
        target: config.to_string(),
        refusal,
    })
}

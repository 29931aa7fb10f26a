//! `whep://host:port/path`: pulls a stream from a WHEP server (ours, MediaMTX, …) at
//! `http://host:port/path` with [`whip_whep::WhepPull`]. Its H.264, VP8, VP9 or AV1 and
//! Opus frames become tracks and packets as a `whip-listen://` publish's do (see
//! [`super::whip::Publish`]); the input ends when the server ends the session. The
//! bearer token is `Options::remote.token` (`--token`), as for `whep-listen://`. A key
//! frame request from the sink (a `whep-listen://` relay's viewer) goes to the server.

use tokio::sync::{mpsc, watch};
use whip_whep::{ClientSettings, WhepPull};

use super::whip::Publish;
use crate::contract::InputEvent;
use crate::{Error, Options};

pub(crate) async fn run(
    url: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let endpoint = format!("whep{}", url.strip_prefix("http").unwrap_or(url));
    let webrtc = |source| Error::Webrtc {
        endpoint: endpoint.clone(),
        source,
    };
    let mut settings = ClientSettings::default();
    settings.token = options.remote.token.clone();
    let connect = WhepPull::connect(url, settings);
    let mut pull = tokio::select! {
        _ = stop.changed() => return Ok(()),
        pull = connect => pull.map_err(webrtc)?,
    };
    let (video, audio) = pull.tracks();
    tracing::info!(video, audio, "{endpoint}: connected");
    let mut publish = Publish::new(audio);
    let result = loop {
        let frame = tokio::select! {
            _ = stop.changed() => break Ok(()),
            // A viewer of this pipeline (a `whep-listen://` relay) asked for a key frame:
            // ask the server we pull from.
            _ = options.keyframe_requests.asked() => {
                pull.request_keyframe();
                continue;
            }
            f = pull.next() => f,
        };
        let Some(frame) = frame else {
            tracing::info!("{endpoint}: the server ended the session");
            break Ok(());
        };
        if let Err(e) = publish.take(frame, &endpoint, tx).await {
            break Err(e);
        }
    };
    let dropped = pull.dropped();
    if dropped > 0 {
        tracing::warn!("{endpoint}: {dropped} frames dropped (the pipeline was behind)");
    }
    if let Err(e) = pull.close().await {
        tracing::info!("{endpoint}: ending the session: {e}");
    }
    result
}

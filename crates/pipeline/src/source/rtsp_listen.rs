//! `rtsp-listen://[addr]:port/path` as input: an RTSP server that a publisher pushes to
//! (`ffmpeg -f rtsp`, GStreamer's `rtspclientsink`: what MediaMTX takes), `ANNOUNCE`,
//! `SETUP` of each stream over the RTSP connection, `RECORD`
//! ([`rtsp_server::Server::bind_ingest`]). The announced SDP's streams are rebuilt as an
//! `.sdp` input's are (`rtp::streams`, `rtp::receive`: reordering, depacketizing, the
//! tracks announced once video has its parameter sets); the input ends when the publisher
//! leaves (or sends nothing for 10 s). With `Options::remote.token` the publisher authenticates with it as the
//! password; off loopback it is required.

use std::collections::HashMap;
use std::time::Instant;

use rtp_media::Session;
use rtsp_server::{Server, Settings};
use tokio::sync::{mpsc, watch};

use super::rtp;
use crate::contract::InputEvent;
use crate::{Error, Options};

/// A publisher still connected but sending nothing ends the input after this long
/// (MediaMTX's `readTimeout`). GStreamer's `rtspclientsink` may hang at its end without
/// closing (its own bug: against gst-rtsp-server's RECORD mount too): the recording is
/// then finalized this long after its last packet.
const PUBLISHER_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

pub(crate) async fn run(
    addr: &str,
    path: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let endpoint = format!("rtsp-listen://{addr}/{path}");
    let mut settings = Settings::default();
    settings.password = options.remote.token.clone();
    let (server, mut publishers) =
        Server::bind_ingest(addr, path, settings).map_err(|source| Error::RtspServer {
            endpoint: endpoint.clone(),
            source,
        })?;
    tracing::info!("rtsp-listen: waiting for a publisher at {}", server.url());
    let publish = tokio::select! {
        p = publishers.recv() => p,
        _ = stop.changed() => return Ok(()),
    };
    let Some(publish) = publish else {
        return Ok(());
    };
    // One publisher per input: the next is answered 503.
    publishers.close();
    tracing::info!(input = endpoint, publisher = %publish.peer, "recording a publisher");
    let session = Session::parse(&publish.sdp).map_err(|e| Error::Input {
        input: endpoint.clone(),
        reason: format!("the publisher's SDP: {e}"),
    })?;
    let (streams, positions) = rtp::streams(&session, &endpoint)?;
    // Each RTP channel to its stream; RTCP and channels of streams left out are dropped.
    let by_channel: HashMap<u8, usize> = publish
        .channels
        .iter()
        .filter_map(|(channel, media)| Some((*channel, (*positions.get(*media)?)?)))
        .collect();
    let (datagrams, received) = mpsc::channel(1024);
    let (mut packets, peer) = (publish.packets, publish.peer);
    let forward = tokio::spawn(async move {
        while let Some((channel, packet)) = packets.recv().await {
            let Some(index) = by_channel.get(&channel) else {
                continue;
            };
            if datagrams
                .send((*index, packet, Instant::now(), peer))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    let result = rtp::receive(endpoint, streams, received, PUBLISHER_IDLE, tx, stop).await;
    forward.abort();
    drop(server);
    result
}

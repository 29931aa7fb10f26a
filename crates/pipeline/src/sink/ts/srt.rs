//! SRT output (`srt://` caller, `srt-listen://` listener): the TS of the parent module
//! in SRT messages of seven TS packets (1316 bytes, as libsrt's live mode and ffmpeg
//! send), each sent as soon as it is full. The connection starts when the pipeline
//! does (a listener takes its caller from then on); packets wait for it in a bounded
//! queue, so a listener with no caller yet holds the input back (backpressure) rather
//! than dropping the start of the stream. A connection that fails or breaks fails the
//! pipeline with one line naming the endpoint.

use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures::SinkExt;
use media_core::{SecretUrl, Track};
use srt_tokio::SrtSocket;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::{TsOutput, TsSink, carriage, mux_setup};
use crate::Error;
use crate::contract::{Sink, SinkFactory};
use crate::srt::SrtConfig;

/// Seven TS packets: the SRT message size of live mode.
const MESSAGE: usize = 7 * 188;
/// SRT messages waiting to be sent: about 1.3 MB.
const QUEUE: usize = 1024;
/// How long closing may take (the peer acknowledging what is in flight).
const CLOSE: Duration = Duration::from_secs(5);
/// Added to the latency for the wait before closing: a libsrt receiver drops what it
/// still holds for delivery when the sender closes, so the sender waits until the last
/// message has been delivered (measured: with 1 s latency and no wait, ffmpeg lost the
/// last 0.9 s).
const LINGER_MARGIN: Duration = Duration::from_millis(250);

pub(crate) fn factory(url: &SecretUrl) -> Result<Box<dyn SinkFactory>, Error> {
    let config = SrtConfig::parse(url.expose())?;
    let runtime = Handle::try_current().map_err(|e| Error::Output {
        output: url.to_string(),
        reason: format!("needs a tokio runtime: {e}"),
    })?;
    let pending = Some(connect(&runtime, &config));
    Ok(Box::new(SrtFactory {
        config,
        runtime,
        pending,
    }))
}

fn connect(runtime: &Handle, config: &SrtConfig) -> JoinHandle<Result<SrtSocket, Error>> {
    let config = config.clone();
    runtime.spawn(async move { config.connect().await })
}

struct SrtFactory {
    config: SrtConfig,
    runtime: Handle,
    /// The connection started with the pipeline, until the first output takes it.
    pending: Option<JoinHandle<Result<SrtSocket, Error>>>,
}

impl Drop for SrtFactory {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.abort();
        }
    }
}

impl SinkFactory for SrtFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        let endpoint = self.config.url.to_string();
        for (index, track) in tracks.iter().enumerate() {
            carriage(index, track, &endpoint)?;
        }
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let endpoint = self.config.url.to_string();
        let (muxer, carriages) = mux_setup(tracks, &endpoint)?;
        // After a discontinuity of the input, a new connection (the last one was closed).
        let connection = match self.pending.take() {
            Some(pending) => pending,
            None => connect(&self.runtime, &self.config),
        };
        let (tx, rx) = mpsc::channel(QUEUE);
        let linger = self.config.latency() + LINGER_MARGIN;
        let sender = self
            .runtime
            .spawn(send(connection, rx, endpoint.clone(), linger));
        let output = SrtOutput {
            tx: Some(tx),
            sender: Some(sender),
            runtime: self.runtime.clone(),
            endpoint: endpoint.clone(),
        };
        Ok(Box::new(TsSink::new(
            muxer, carriages, tracks, endpoint, MESSAGE, output,
        )))
    }
}

/// Waits for the connection, then sends the messages as they come; when the queue
/// ends, waits `linger` (the peer delivers what it holds) and closes the connection.
async fn send(
    connection: JoinHandle<Result<SrtSocket, Error>>,
    mut rx: mpsc::Receiver<Bytes>,
    endpoint: String,
    linger: Duration,
) -> Result<(), Error> {
    let mut socket = connection.await.map_err(|e| Error::Output {
        output: endpoint.clone(),
        reason: format!("connection task failed: {e}"),
    })??;
    let broken = |e: std::io::Error| Error::Srt {
        endpoint: endpoint.clone(),
        what: "sending (the peer is gone)".into(),
        source: e,
    };
    while let Some(message) = rx.recv().await {
        socket
            .send((Instant::now(), message))
            .await
            .map_err(broken)?;
    }
    tokio::time::sleep(linger).await;
    match tokio::time::timeout(CLOSE, socket.close_and_finish()).await {
        Ok(result) => result.map_err(|e| Error::Srt {
            endpoint: endpoint.clone(),
            what: "closing".into(),
            source: e,
        }),
        Err(_) => {
            tracing::warn!(
                endpoint,
                "the SRT peer did not acknowledge the end within 5 s"
            );
            Ok(())
        }
    }
}

struct SrtOutput {
    tx: Option<mpsc::Sender<Bytes>>,
    sender: Option<JoinHandle<Result<(), Error>>>,
    runtime: Handle,
    endpoint: String,
}

impl SrtOutput {
    /// The sender's result, once it has ended (its error says why the queue closed).
    fn sender_result(&mut self) -> Result<(), Error> {
        let Some(sender) = self.sender.take() else {
            return Ok(());
        };
        // On the recorder's blocking thread: waiting here is allowed.
        self.runtime.block_on(sender).map_err(|e| Error::Output {
            output: self.endpoint.clone(),
            reason: format!("sender task failed: {e}"),
        })?
    }
}

impl TsOutput for SrtOutput {
    fn write(&mut self, buffer: &mut Vec<u8>) -> Result<(), Error> {
        let whole = buffer.len() / MESSAGE * MESSAGE;
        if whole == 0 {
            return Ok(());
        }
        let rest = buffer.split_off(whole);
        let data = Bytes::from(std::mem::replace(buffer, rest));
        let Some(tx) = &self.tx else {
            return Ok(());
        };
        for start in (0..whole).step_by(MESSAGE) {
            if tx
                .blocking_send(data.slice(start..start + MESSAGE))
                .is_err()
            {
                self.tx = None;
                self.sender_result()?;
                return Err(Error::Output {
                    output: self.endpoint.clone(),
                    reason: "the SRT connection ended".into(),
                });
            }
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, rest: Vec<u8>) -> Result<Option<std::path::PathBuf>, Error> {
        // The last message may be shorter: its TS packets are whole all the same.
        if let (false, Some(tx)) = (rest.is_empty(), &self.tx) {
            let _ = tx.blocking_send(Bytes::from(rest));
        }
        self.tx = None;
        self.sender_result()?;
        tracing::info!(endpoint = %self.endpoint, "finished");
        Ok(None)
    }
}

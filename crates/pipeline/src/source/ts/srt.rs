//! SRT input (`srt://` caller, `srt-listen://` listener): the MPEG-TS carried in SRT
//! messages goes through the same reader as a `.ts` file (the parent module), on a
//! blocking thread fed by a channel. The stream ends when the peer closes; a peer that
//! vanishes (no packet within SRT's 5 s peer idle timeout) ends it with an error, after
//! which the recorder finalizes the file as for any input error.

use std::io;
use std::time::{Duration, Instant};

use futures::StreamExt;
use media_core::SecretUrl;
use tokio::sync::{mpsc, watch};

use super::Reader;
use crate::Error;
use crate::contract::InputEvent;
use crate::source::ChannelReader;
use crate::source::FileSender;
use crate::srt::SrtConfig;

/// SRT messages waiting for the reader: about 1.3 MB of TS.
const QUEUE: usize = 1024;
/// srt-tokio ends the stream the same way for a peer's shutdown and for its peer idle
/// timeout (5 s without a packet): a stream that ends this long after the last message
/// reached the network (its delivery came one latency later) ended by the timeout.
const PEER_IDLE: Duration = Duration::from_millis(4500);

pub(crate) async fn run(
    url: &SecretUrl,
    tx: mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let config = SrtConfig::parse(url.expose())?;
    let mut socket = tokio::select! {
        socket = config.connect() => socket?,
        _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
    };
    let (chunks_tx, chunks_rx) = mpsc::channel(QUEUE);
    let name = url.to_string();
    let reader_stop = stop.clone();
    let reader = crate::source::on_reader_thread(name.clone(), move || {
        Reader::new(name, FileSender::unbatched(tx))
            .read(ChannelReader::new(chunks_rx), &reader_stop)
    });
    let mut last = Instant::now();
    let mut received = 0u64;
    loop {
        tokio::select! {
            message = socket.next() => match message {
                Some(Ok((_, data))) => {
                    last = Instant::now();
                    received += 1;
                    if chunks_tx.send(Ok(data)).await.is_err() {
                        break; // the reader ended (duration reached, or an error)
                    }
                }
                Some(Err(e)) => {
                    let _ = chunks_tx.send(Err(e)).await;
                    break;
                }
                None => {
                    if last.elapsed() + config.latency() >= PEER_IDLE {
                        let e = io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("the peer stopped answering ({} s without a packet, after {received} messages)", last.elapsed().as_secs()),
                        );
                        let _ = chunks_tx.send(Err(e)).await;
                    }
                    break;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(chunks_tx);
    drop(socket);
    reader.await
}

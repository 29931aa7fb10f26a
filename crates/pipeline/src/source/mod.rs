//! Sources, one file each: every input endpoint becomes a task that sends
//! [`InputEvent`]s (see [`crate::contract`]) to the recorder. This file is the input
//! side of the endpoint table: adding a source is one file and one line in [`run`].

mod adts;
mod annexb;
pub(crate) mod byte_stream;
mod flv_file;
mod flv_tags;
mod http;
pub(crate) mod matroska;
mod mp3;
pub(crate) mod mp4;
pub(crate) mod ogg;
pub(crate) mod pace;
mod playlist;
mod raw;
mod rtmp_listen;
mod rtp;
mod rtsp;
mod rtsp_listen;
mod tcp;
pub(crate) mod ts;
mod whep;
mod whip;

use std::time::Duration;

use elementary::VideoCodec;
use tokio::sync::{mpsc, oneshot, watch};

use crate::contract::InputEvent;
use crate::{Endpoint, Error, Options};

/// Starts the source of `input`: a task on the current runtime, or with `burst` a thread
/// of its own (see [`crate::burst`]). The receiver completes when the source has ended.
pub(crate) fn spawn(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
    burst: Option<Duration>,
) -> oneshot::Receiver<()> {
    let name = input.to_string();
    let source = run(input, options, tx.clone(), stop, burst);
    if burst.is_some() {
        return crate::burst::spawn_on_own_thread(source).unwrap_or_else(|e| {
            let _ = tx.try_send(InputEvent::End(Err(Error::Input {
                input: name,
                reason: format!("cannot start the source thread: {e}"),
            })));
            oneshot::channel().1
        });
    }
    let (done_tx, done_rx) = oneshot::channel();
    tokio::spawn(async move {
        source.await;
        let _ = done_tx.send(());
    });
    done_rx
}

/// A file reader's way to the recorder, from the reader's own thread. A file is read
/// about as fast as it is written, so with one packet per message the two threads woke
/// each other for nearly every packet (4.3k futex calls in a 120 s remux, a tenth of its
/// CPU time); packets go in batches of [`FileSender::PACKETS`] instead, and any other
/// event sends what is pending with it. What is pending is sent when dropped.
pub(crate) struct FileSender {
    tx: mpsc::Sender<InputEvent>,
    pending: Vec<InputEvent>,
    /// Packets per batch: 1 for a live stream read by a file's code (stdin, SRT).
    batch: usize,
}

impl FileSender {
    /// Packets in a batch; the queue of a file input holds
    /// [`Options::queue_for`] batches.
    pub(crate) const PACKETS: usize = 64;

    pub(crate) fn new(tx: mpsc::Sender<InputEvent>) -> FileSender {
        FileSender {
            tx,
            pending: Vec::with_capacity(Self::PACKETS),
            batch: Self::PACKETS,
        }
    }

    /// Each event at once: a live stream read by a file's code (stdin, SRT's MPEG-TS),
    /// where a batch would only add latency.
    pub(crate) fn unbatched(tx: mpsc::Sender<InputEvent>) -> FileSender {
        FileSender {
            tx,
            pending: Vec::with_capacity(1),
            batch: 1,
        }
    }

    /// Queues `event`; `false` once the recorder is gone.
    pub(crate) fn send(&mut self, event: InputEvent) -> bool {
        let packet = matches!(event, InputEvent::Packet(..));
        self.pending.push(event);
        if packet && self.pending.len() < self.batch {
            return true;
        }
        self.flush()
    }

    /// Sends what is pending; `false` once the recorder is gone.
    pub(crate) fn flush(&mut self) -> bool {
        let event = match self.pending.len() {
            0 => return true,
            1 => match self.pending.pop() {
                Some(event) => event,
                None => return true,
            },
            _ => InputEvent::Batch(std::mem::replace(
                &mut self.pending,
                Vec::with_capacity(self.batch),
            )),
        };
        self.tx.blocking_send(event).is_ok()
    }
}

impl Drop for FileSender {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Runs the source of `input` until it ends or `stop` turns true; the last event sent is
/// always [`InputEvent::End`] (unless the recorder is gone). `pause`: an RTSP source
/// sleeps this long whenever nothing is ready (see [`crate::burst`]).
async fn run(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
    pause: Option<Duration>,
) {
    if pace::applies(&input, &options) {
        return pace::run(input, options, tx, stop).await;
    }
    let end = run_source(input, options, tx.clone(), stop, pause).await;
    let _ = tx.send(InputEvent::End(end)).await;
}

/// Runs the source of `input` until it ends or `stop` turns true, without the final
/// [`InputEvent::End`] (its result is returned).
async fn run_source(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
    pause: Option<Duration>,
) -> Result<(), Error> {
    match input {
        Endpoint::Rtsp(url) => rtsp::run(&url, &options, &tx, stop, pause).await,
        Endpoint::Mp3File(path) => mp3::run_file(path, tx.clone(), stop).await,
        Endpoint::Mp4Input(path) => {
            mp4::run_file(path, options.track_ids.clone(), tx.clone(), stop).await
        }
        Endpoint::HlsInput(path) => {
            playlist::run(path, options.track_ids.clone(), tx.clone(), stop).await
        }
        Endpoint::OggFile(path) => ogg::run_file(path, tx.clone(), stop).await,
        Endpoint::MatroskaFile(path) => matroska::run_file(path, tx.clone(), stop).await,
        Endpoint::AacFile(path) => adts::run_file(path, tx.clone(), stop).await,
        Endpoint::FlvFile(path) => flv_file::run_file(path, tx.clone(), stop).await,
        Endpoint::H264File(path) => {
            let rate = options.frame_rate;
            annexb::run_file(path, VideoCodec::H264, rate, tx.clone(), stop).await
        }
        Endpoint::H265File(path) => {
            let rate = options.frame_rate;
            annexb::run_file(path, VideoCodec::H265, rate, tx.clone(), stop).await
        }
        Endpoint::Stdin => byte_stream::run(tx.clone(), stop).await,
        Endpoint::Http(url) => http::run(&url, &options, tx.clone(), stop).await,
        Endpoint::TsFile(path) => ts::run_file(path, tx.clone(), stop).await,
        Endpoint::RtmpListen(url) => rtmp_listen::run(&url, &tx, stop).await,
        Endpoint::Srt(url) | Endpoint::SrtListen(url) => ts::srt::run(&url, tx.clone(), stop).await,
        Endpoint::RawInput(raw) => raw::run(raw, &tx, stop).await,
        Endpoint::Tcp(addr) => tcp::run(&addr, &options, &tx, stop).await,
        Endpoint::WhipListen { addr, path } => whip::run(&addr, &path, &options, &tx, stop).await,
        Endpoint::Whep(url) => whep::run(&url, &options, &tx, stop).await,
        Endpoint::SdpFile(path) => rtp::run(&path, &tx, stop).await,
        Endpoint::RtspListen { addr, path } => {
            rtsp_listen::run(&addr, &path, &options, &tx, stop).await
        }
        other => Err(Error::UnsupportedEndpoint {
            endpoint: other.to_string(),
            direction: crate::Direction::Input,
        }),
    }
}

/// The decode timeline of an H.264/H.265 track received over RTP (RTP times are
/// presentation times): a frame lasts the SPS's frame period when it names one, which
/// lets B-frames' decode times be placed before the first reorder is seen.
pub(crate) fn video_timeline(
    codec: VideoCodec,
    sps: Option<&[u8]>,
    timescale: u32,
) -> rtsp_source::timeline::TrackTimeline {
    let step = sps
        .and_then(|sps| elementary::sps_info(codec, sps).ok())
        .and_then(|info| info.frame_rate)
        .filter(|r| *r > 0.0)
        .map(|r| (f64::from(timescale) / r) as u32);
    rtsp_source::timeline::TrackTimeline::video(timescale, None, step)
}

/// An AC-3 track from one of its frames (a container that names the codec but carries no
/// configuration: TS, Matroska's `A_AC3`).
pub(crate) fn ac3_track(frame: &[u8]) -> Option<crate::Track> {
    let f = elementary::Ac3Frame::parse(frame)?;
    let config = bytes::Bytes::copy_from_slice(&f.dac3);
    Some(crate::Track::audio(
        crate::Codec::Ac3 { config },
        f.sample_rate,
        f.channels,
    ))
}

/// An E-AC-3 track from one access unit (1536 samples, with its dependent substreams).
pub(crate) fn eac3_track(unit: &[u8]) -> Option<crate::Track> {
    let (dec3, rate, channels) = elementary::eac3_config(unit)?;
    let config = bytes::Bytes::from(dec3);
    Some(crate::Track::audio(
        crate::Codec::Eac3 { config },
        rate,
        channels,
    ))
}

/// Starts a blocking reader on tokio's blocking threads at once (before the returned
/// future is awaited: a reader fed by a channel must run while it is filled); a panic out
/// of it (which a reader's own code never lets out) becomes an error naming `input`.
pub(crate) fn on_reader_thread(
    input: String,
    read: impl FnOnce() -> Result<(), Error> + Send + 'static,
) -> impl std::future::Future<Output = Result<(), Error>> {
    let reader = tokio::task::spawn_blocking(read);
    async move {
        reader.await.map_err(|e| Error::Input {
            input,
            reason: format!("reader thread failed: {e}"),
        })?
    }
}

/// A channel of byte chunks (an HTTP body's, SRT's messages) as one byte stream for a
/// blocking reader: an error sent ends it with that error, the senders gone end it.
pub(crate) struct ChannelReader {
    rx: mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
}

impl ChannelReader {
    pub(crate) fn new(rx: mpsc::Receiver<std::io::Result<bytes::Bytes>>) -> ChannelReader {
        ChannelReader {
            rx,
            chunk: bytes::Bytes::new(),
        }
    }
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.chunk = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// Reads until `buf` is full or the stream ends: how many bytes came (`offset` names
/// where, in a failure's message).
pub(crate) fn fill<R: std::io::Read>(
    input: &mut R,
    buf: &mut [u8],
    offset: u64,
    name: &str,
) -> Result<usize, Error> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(format!("reading {name} at byte {offset}"), e)),
        }
    }
    Ok(got)
}

/// The MPEG audio frames at the start of `data` (a TS PES payload, an FLV tag) and their
/// sample counts; stops at the first byte that does not start a frame.
pub(crate) fn mpeg_audio_frames(data: &bytes::Bytes) -> Vec<(bytes::Bytes, u32)> {
    let mut frames = Vec::new();
    let mut at = 0;
    while let Some(Ok((_, header))) = data.get(at..).map(mp3_frames::FrameHeader::parse_decodable) {
        let Some(len) = header.frame_len().map(|l| l as usize).filter(|&l| l > 4) else {
            break;
        };
        let end = (at + len).min(data.len());
        frames.push((data.slice(at..end), header.samples()));
        at = end;
    }
    frames
}

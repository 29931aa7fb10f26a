//! Decoded raw endpoints (`codec` feature): read decoded video frames and PCM out of any
//! input, write them into any output, as Boombox's `RawData` endpoints.
//!
//! They wrap the packet endpoints of [`crate::raw`]: [`FrameReader`] decodes the packets
//! a raw output gives (H.264/H.265 to frames in the asked pixel format and size, AAC/MP3/
//! Opus to PCM in the asked sample format, rate and channels); [`FrameWriter`] encodes
//! frames (H.264 with libx264, AAC/Opus/MP3) and writes the packets into a raw input.
//! Decoding and encoding run on the caller's thread or task; backpressure is the packet
//! endpoints' (the pipeline waits for a slow reader, a writer waits for a busy pipeline).
//!
//! Timestamps: `pts` in the track's clock, exact (`timescale` ticks per second);
//! `pts_ms()` in milliseconds as Boombox's packets.
//!
//! ```no_run
//! use pipeline::raw_frames::{self, DecodedFormat, Frame};
//! use pipeline::{Direction, Endpoint, Pipeline};
//!
//! # fn demo() -> Result<(), pipeline::Error> {
//! let runtime = tokio::runtime::Runtime::new().map_err(|e| pipeline::Error::InvalidOptions(e.to_string()))?;
//! let (mut reader, output) = raw_frames::output(DecodedFormat::default(), 8);
//! let input = Endpoint::parse("in.mp4", Direction::Input)?;
//! let handle = runtime.spawn(Pipeline::new(input, output).run());
//! for frame in reader.blocking_iter() {
//!     match frame? {
//!         Frame::Video { frame, .. } => println!("{}x{} at {} ms", frame.width, frame.height, frame.pts_ms()),
//!         Frame::Audio { frame, .. } => println!("{} samples at {} ms", frame.frames(), frame.pts_ms()),
//!         _ => {}
//!     }
//! }
//! # drop(handle);
//! # Ok(())
//! # }
//! ```

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::Stream;
use media_codec::{AudioDecoder, AudioEncoder, VideoDecoder, VideoEncoder};
pub use media_codec::{
    AudioEncoderSettings, AudioFormat, AudioFrame, EncodedAudio, PixelFormat, SampleFormat,
    VideoEncoderSettings, VideoFormat, VideoFrame,
};

use crate::raw::{self, Flow, RawReader, RawWriter};
use crate::{Endpoint, Error, MediaKind, Packet, Track};

/// One decoded frame and the index of its track.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Frame {
    /// A picture.
    Video {
        /// The track's index.
        track: usize,
        /// The picture.
        frame: VideoFrame,
    },
    /// PCM.
    Audio {
        /// The track's index.
        track: usize,
        /// The samples.
        frame: AudioFrame,
    },
}

/// What a [`FrameReader`] gives out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct DecodedFormat {
    /// Pixel format and size of video frames (default RGB24 at the stream's size).
    pub video: VideoFormat,
    /// Sample format, rate and channels of audio (default f32 at the stream's).
    pub audio: AudioFormat,
}

impl DecodedFormat {
    /// Video in `video`, audio in `audio`.
    pub fn new(video: VideoFormat, audio: AudioFormat) -> DecodedFormat {
        DecodedFormat { video, audio }
    }
}

/// A decoded raw output: frames out of the pipeline built with the returned endpoint.
/// `capacity` packets may wait between the pipeline and the reader.
pub fn output(format: DecodedFormat, capacity: usize) -> (FrameReader, Endpoint) {
    let (packets, endpoint) = raw::output(capacity);
    let reader = FrameReader {
        packets,
        format,
        decoders: Vec::new(),
        ready: VecDeque::new(),
        finished: false,
    };
    (reader, endpoint)
}

enum TrackDecoder {
    Video(VideoDecoder),
    Audio(AudioDecoder),
    /// A codec this build does not decode (said once in the log).
    Skipped,
}

/// Decoded frames out of a pipeline (see [`output`]): an async [`Stream`], or a blocking
/// iterator with [`FrameReader::blocking_iter`].
pub struct FrameReader {
    packets: RawReader,
    format: DecodedFormat,
    decoders: Vec<Option<TrackDecoder>>,
    ready: VecDeque<Frame>,
    finished: bool,
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("format", &self.format)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl FrameReader {
    /// The input's tracks, known once the first packet arrived.
    pub fn tracks(&self) -> Option<Vec<Track>> {
        self.packets.tracks()
    }

    /// The next frame; `None` when the pipeline has finished and every decoder is drained.
    pub async fn read(&mut self) -> Option<Result<Frame, Error>> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Some(Ok(frame));
            }
            if self.finished {
                return None;
            }
            let packet = self.packets.read().await;
            if let Err(e) = self.take(packet) {
                return Some(Err(e));
            }
        }
    }

    /// A blocking iterator over the frames, for code outside the async runtime.
    pub fn blocking_iter(&mut self) -> impl Iterator<Item = Result<Frame, Error>> + '_ {
        std::iter::from_fn(move || {
            loop {
                if let Some(frame) = self.ready.pop_front() {
                    return Some(Ok(frame));
                }
                if self.finished {
                    return None;
                }
                let packet = self.packets.blocking_iter().next();
                if let Err(e) = self.take(packet) {
                    return Some(Err(e));
                }
            }
        })
    }

    /// Stops reading: the pipeline finishes at its next packet.
    pub fn close(self) {
        self.packets.close();
    }

    /// Decodes one packet, or drains every decoder at the end (`None`).
    fn take(&mut self, packet: Option<Packet>) -> Result<(), Error> {
        let Some(packet) = packet else {
            self.finished = true;
            for track in 0..self.decoders.len() {
                self.drain(track, true)?;
            }
            return Ok(());
        };
        let track = packet.track;
        if self.decoders.len() <= track {
            self.decoders.resize_with(track + 1, || None);
        }
        if self.decoders[track].is_none() {
            let tracks = self.packets.tracks().unwrap_or_default();
            self.decoders[track] = Some(match tracks.get(track) {
                Some(t) => open_decoder(track, t, self.format),
                None => TrackDecoder::Skipped,
            });
        }
        let pushed = match &mut self.decoders[track] {
            Some(TrackDecoder::Video(d)) => d.push(&packet),
            Some(TrackDecoder::Audio(d)) => d.push(&packet),
            _ => return Ok(()),
        };
        pushed.map_err(|source| codec_error(format!("decoding track {track}"), source))?;
        self.drain(track, false)
    }

    fn drain(&mut self, track: usize, end: bool) -> Result<(), Error> {
        let context = || format!("decoding track {track}");
        match self.decoders.get_mut(track) {
            Some(Some(TrackDecoder::Video(d))) => {
                if end {
                    d.finish().map_err(|e| codec_error(context(), e))?;
                }
                while let Some(frame) = d.pull().map_err(|e| codec_error(context(), e))? {
                    self.ready.push_back(Frame::Video { track, frame });
                }
            }
            Some(Some(TrackDecoder::Audio(d))) => {
                if end {
                    d.finish().map_err(|e| codec_error(context(), e))?;
                }
                while let Some(frame) = d.pull().map_err(|e| codec_error(context(), e))? {
                    self.ready.push_back(Frame::Audio { track, frame });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

fn open_decoder(index: usize, track: &Track, format: DecodedFormat) -> TrackDecoder {
    let opened = match track.kind {
        MediaKind::Video => VideoDecoder::new(track, format.video).map(TrackDecoder::Video),
        _ => AudioDecoder::for_track(track, format.audio).map(TrackDecoder::Audio),
    };
    opened.unwrap_or_else(|e| {
        tracing::warn!(
            "raw frames: track {index} ({}) is left out: {e}",
            track.codec.name()
        );
        TrackDecoder::Skipped
    })
}

impl Stream for FrameReader {
    type Item = Result<Frame, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(frame) = self.ready.pop_front() {
                return Poll::Ready(Some(Ok(frame)));
            }
            if self.finished {
                return Poll::Ready(None);
            }
            let packet = match Pin::new(&mut self.packets).poll_next(cx) {
                Poll::Ready(packet) => packet,
                Poll::Pending => return Poll::Pending,
            };
            if let Err(e) = self.take(packet) {
                return Poll::Ready(Some(Err(e)));
            }
        }
    }
}

/// A track of a decoded raw input: how its frames are encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodedTrack {
    /// Video frames encoded to H.264.
    Video(VideoEncoderSettings),
    /// PCM encoded to AAC, Opus or MP3.
    Audio(AudioEncoderSettings),
}

enum TrackEncoder {
    Video(Box<VideoEncoder>),
    /// With the shift that moves the encoder's priming (negative times) to 0.
    Audio(Box<AudioEncoder>, Option<i64>),
}

/// A decoded raw input with these tracks: frames written to the returned [`FrameWriter`]
/// are encoded and enter the pipeline built with the returned endpoint. The tracks'
/// codec configurations are known at once (see `VideoEncoder::probe`).
pub fn input(tracks: Vec<EncodedTrack>, capacity: usize) -> Result<(FrameWriter, Endpoint), Error> {
    let mut declared = Vec::with_capacity(tracks.len());
    let mut encoders = Vec::with_capacity(tracks.len());
    for (index, track) in tracks.into_iter().enumerate() {
        let context = || format!("opening the encoder of track {index}");
        match track {
            EncodedTrack::Video(settings) => {
                let codec =
                    VideoEncoder::probe(&settings).map_err(|e| codec_error(context(), e))?;
                declared.push(Track::video(
                    codec,
                    settings.timescale,
                    settings.width,
                    settings.height,
                ));
                let encoder = VideoEncoder::new(settings).map_err(|e| codec_error(context(), e))?;
                encoders.push(TrackEncoder::Video(Box::new(encoder)));
            }
            EncodedTrack::Audio(settings) => {
                let codec =
                    AudioEncoder::probe(&settings).map_err(|e| codec_error(context(), e))?;
                let encoder =
                    AudioEncoder::new(settings.clone()).map_err(|e| codec_error(context(), e))?;
                declared.push(Track::audio(codec, encoder.timescale(), settings.channels));
                encoders.push(TrackEncoder::Audio(Box::new(encoder), None));
            }
        }
    }
    let timescales = declared.iter().map(|t| t.timescale.max(1)).collect();
    let pending = declared.iter().map(|_| VecDeque::new()).collect();
    let (packets, endpoint) = raw::input(declared, capacity);
    let writer = FrameWriter {
        packets,
        encoders,
        pending,
        timescales,
    };
    Ok((writer, endpoint))
}

/// Encodes frames into a pipeline (see [`input`]). Close it with [`FrameWriter::close`]
/// (or `blocking_close`): that drains the encoders; dropping it loses their last frames.
pub struct FrameWriter {
    packets: RawWriter,
    encoders: Vec<TrackEncoder>,
    /// Encoded packets per track, released in time order across tracks: encoders hold
    /// frames back differently (x264's lookahead: 0.4 s), and a sink starting at the
    /// first key frame would drop the audio that came before it.
    pending: Vec<VecDeque<Packet>>,
    timescales: Vec<u32>,
}

/// Packets a track may hold back before the others are released regardless (a track
/// written to rarely or never must not hold everything).
const MAX_PENDING: usize = 256;

impl std::fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameWriter")
            .field("tracks", &self.encoders.len())
            .finish_non_exhaustive()
    }
}

impl FrameWriter {
    /// Encodes a video frame of `track` and hands its packets to the pipeline, waiting
    /// while it is busy.
    pub async fn write_video(&mut self, track: usize, frame: &VideoFrame) -> Result<Flow, Error> {
        let packets = self.encode(track, Some(frame), None)?;
        self.send(packets).await
    }

    /// Encodes PCM of `track` likewise.
    pub async fn write_audio(&mut self, track: usize, frame: &AudioFrame) -> Result<Flow, Error> {
        let packets = self.encode(track, None, Some(frame))?;
        self.send(packets).await
    }

    /// [`write_video`](Self::write_video) for code outside the async runtime.
    pub fn blocking_write_video(
        &mut self,
        track: usize,
        frame: &VideoFrame,
    ) -> Result<Flow, Error> {
        let packets = self.encode(track, Some(frame), None)?;
        Ok(self.blocking_send(packets))
    }

    /// [`write_audio`](Self::write_audio) for code outside the async runtime.
    pub fn blocking_write_audio(
        &mut self,
        track: usize,
        frame: &AudioFrame,
    ) -> Result<Flow, Error> {
        let packets = self.encode(track, None, Some(frame))?;
        Ok(self.blocking_send(packets))
    }

    /// Drains the encoders into the pipeline and ends the input.
    pub async fn close(mut self) -> Result<(), Error> {
        let packets = self.drain()?;
        self.send(packets).await?;
        self.packets.close();
        Ok(())
    }

    /// [`close`](Self::close) for code outside the async runtime.
    pub fn blocking_close(mut self) -> Result<(), Error> {
        let packets = self.drain()?;
        self.blocking_send(packets);
        self.packets.close();
        Ok(())
    }

    async fn send(&self, packets: Vec<Packet>) -> Result<Flow, Error> {
        for packet in packets {
            if self.packets.write(packet).await == Flow::Finished {
                return Ok(Flow::Finished);
            }
        }
        Ok(Flow::Continue)
    }

    fn blocking_send(&self, packets: Vec<Packet>) -> Flow {
        for packet in packets {
            if self.packets.blocking_write(packet) == Flow::Finished {
                return Flow::Finished;
            }
        }
        Flow::Continue
    }

    fn encode(
        &mut self,
        track: usize,
        video: Option<&VideoFrame>,
        audio: Option<&AudioFrame>,
    ) -> Result<Vec<Packet>, Error> {
        let context = || format!("encoding track {track}");
        let declared = self.encoders.len();
        let encoder = self.encoders.get_mut(track).ok_or_else(|| Error::Input {
            input: "raw frames".into(),
            reason: format!("frame for track {track} but {declared} track(s) declared"),
        })?;
        let pushed = match (encoder, video, audio) {
            (TrackEncoder::Video(e), Some(frame), _) => e.push(frame),
            (TrackEncoder::Audio(e, _), _, Some(frame)) => e.push(frame),
            _ => {
                return Err(Error::Input {
                    input: "raw frames".into(),
                    reason: format!(
                        "track {track} is of the other kind than the frame written to it"
                    ),
                });
            }
        };
        pushed.map_err(|e| codec_error(context(), e))?;
        let packets = self.pull(track)?;
        self.pending[track].extend(packets);
        Ok(self.release(false))
    }

    fn drain(&mut self) -> Result<Vec<Packet>, Error> {
        for track in 0..self.encoders.len() {
            let finished = match &mut self.encoders[track] {
                TrackEncoder::Video(e) => e.finish(),
                TrackEncoder::Audio(e, _) => e.finish(),
            };
            finished.map_err(|e| codec_error(format!("encoding track {track}"), e))?;
            let packets = self.pull(track)?;
            self.pending[track].extend(packets);
        }
        Ok(self.release(true))
    }

    /// The pending packets that can go: in time order, while every track has one (or a
    /// track holds too many); all of them at the end.
    fn release(&mut self, end: bool) -> Vec<Packet> {
        let mut out = Vec::new();
        loop {
            let all = self.pending.iter().all(|q| !q.is_empty());
            let full = self.pending.iter().any(|q| q.len() > MAX_PENDING);
            if !(all || full || end) {
                return out;
            }
            let earliest = self
                .pending
                .iter()
                .enumerate()
                .filter_map(|(i, q)| q.front().map(|p| (i, p)))
                .min_by(|(i, a), (j, b)| {
                    let ta = i128::from(a.dts) * i128::from(self.timescales[*j]);
                    let tb = i128::from(b.dts) * i128::from(self.timescales[*i]);
                    ta.cmp(&tb)
                })
                .map(|(i, _)| i);
            match earliest.and_then(|i| self.pending[i].pop_front()) {
                Some(packet) => out.push(packet),
                None => return out,
            }
        }
    }

    fn pull(&mut self, track: usize) -> Result<Vec<Packet>, Error> {
        let mut out = Vec::new();
        let context = || format!("encoding track {track}");
        match self.encoders.get_mut(track) {
            Some(TrackEncoder::Video(e)) => {
                while let Some(mut packet) = e.pull().map_err(|e| codec_error(context(), e))? {
                    packet.track = track;
                    out.push(packet);
                }
            }
            Some(TrackEncoder::Audio(e, shift)) => {
                while let Some(mut packet) = e.pull().map_err(|e| codec_error(context(), e))? {
                    // The priming samples come first with negative times; MP4 and the
                    // other sinks start at 0, so the track is moved by them (21 ms for
                    // AAC at 48 kHz), as a file without an edit list plays it.
                    let by = *shift.get_or_insert((-packet.dts).max(0));
                    packet.dts += by;
                    packet.track = track;
                    out.push(packet);
                }
            }
            None => {}
        }
        Ok(out)
    }
}

fn codec_error(context: String, source: media_codec::Error) -> Error {
    Error::Codec { context, source }
}

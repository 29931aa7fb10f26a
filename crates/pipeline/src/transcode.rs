//! The transcoding stage (`codec` feature): between the source and the recorder, tracks
//! the output cannot take (or every track, with `always`) are decoded and encoded again
//! with media-codec; the rest pass through untouched. See [`crate::transcoding`].

use media_codec::{
    AudioCodec, AudioDecoder, AudioEncoder, AudioEncoderSettings, AudioFormat, AudioFrame,
    EncodedAudio, PixelFormat, SampleFormat, VideoDecoder, VideoEncoder, VideoEncoderSettings,
    VideoFormat,
};

use crate::contract::InputEvent;
use crate::transcoding::{AudioTarget, TranscodePolicy, Transcoding};
use crate::{Codec, Error, MediaKind, Packet, Track};

/// Rate of transcoded audio: Opus's only rate, and AAC's and MP3's most common one (an
/// 8 kHz G.711 track would otherwise get 128 ms of AAC priming; at 48 kHz it is 21 ms).
const AUDIO_RATE: u32 = 48_000;

enum Plan {
    /// The encoder's packets keep its times: the input's, less its priming (AAC: the
    /// first packet, 1024 samples before the first input sample, decodes to the delay).
    /// So each packet is stamped with the instant of the input it decodes to, and a player
    /// plays the sound with its picture; moving the first packet to the first input sample
    /// would play everything 21 ms late. The priming leads in like a file's (the recorder
    /// keeps it only if it covers the first picture).
    ///
    /// Until the first video key frame passes (when video is recorded), decoded audio
    /// waits in `waiting`: a camera may send no audio of the picture's instant (the test
    /// camera's first G.711 frame begins 128 ms after its first picture), and the file
    /// would start without sound for that long. The gap, up to [`MAX_PAD`], is filled with
    /// silence, so the audio starts with the picture (ffmpeg's `aresample=async`,
    /// GStreamer's `audiorate` do the same). Audio from before the picture is encoded as it
    /// is: the recorder keeps what covers the picture.
    Audio {
        decoder: AudioDecoder,
        encoder: Box<AudioEncoder>,
        waiting: Option<Vec<AudioFrame>>,
    },
    Video {
        decoder: VideoDecoder,
        encoder: Box<VideoEncoder>,
    },
}

/// Silence fills at most this gap between the first picture and the first audio sample; an
/// audio track that starts later does start later (the MP4's edit list says so).
const MAX_PAD: f64 = 0.5;

/// Decoded audio waits at most this long (seconds of audio) for the first picture.
const MAX_WAIT: f64 = 2.0;

/// Transcoded packets held back at most (a track that stopped must not hold the others).
const MAX_HELD: usize = 256;

/// What the transcoder asks of the output: whether it takes a set of tracks
/// ([`crate::contract::SinkFactory::check`]), and which of them it would leave out
/// although it takes the set ([`crate::contract::SinkFactory::left_out`]).
pub(crate) trait Fit {
    fn check(&self, tracks: &[Track]) -> Result<(), Error>;
    fn left_out(&self, _tracks: &[Track]) -> Vec<usize> {
        Vec::new()
    }
}

/// A plain check (an output that leaves nothing out).
impl<F: Fn(&[Track]) -> Result<(), Error> + ?Sized> Fit for F {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        self(tracks)
    }
}

impl Fit for crate::recorder::Recorder {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        crate::recorder::Recorder::check(self, tracks)
    }
    fn left_out(&self, tracks: &[Track]) -> Vec<usize> {
        crate::recorder::Recorder::left_out(self, tracks)
    }
}

/// Decodes and encodes again the tracks its plan names.
pub(crate) struct Transcoder {
    settings: Transcoding,
    /// The kinds the recorder keeps (`--no-video`, `--no-audio`): the others are never
    /// transcoded, and left out of the fit check.
    video: bool,
    audio: bool,
    /// The output takes G.711 as it is (WebRTC, raw packets); others do not play it.
    plays_g711: bool,
    plans: Vec<Option<Plan>>,
    decode_errors: u64,
    /// Timescale of every output track, and the latest time (seconds) seen on each.
    timescales: Vec<u32>,
    seen: Vec<f64>,
    kinds: Vec<MediaKind>,
    /// Transcoded packets waiting until every other track has reached their time: an
    /// encoder's packets for audio that arrived before the first picture would otherwise
    /// reach the recorder before it, which starts the file at that picture and drops them.
    held: std::collections::VecDeque<(Packet, std::time::SystemTime)>,
    /// Whether a video track is recorded, and the first video key frame has passed.
    video_recorded: bool,
    first_picture: Option<f64>,
}

impl Transcoder {
    pub(crate) fn new(settings: Transcoding, kinds: (bool, bool), plays_g711: bool) -> Transcoder {
        Transcoder {
            settings,
            video: kinds.0,
            audio: kinds.1,
            plays_g711,
            plans: Vec::new(),
            decode_errors: 0,
            timescales: Vec::new(),
            seen: Vec::new(),
            kinds: Vec::new(),
            held: std::collections::VecDeque::new(),
            video_recorded: false,
            first_picture: None,
        }
    }

    fn seconds(&self, packet: &Packet) -> f64 {
        let timescale = self
            .timescales
            .get(packet.track)
            .copied()
            .unwrap_or(1)
            .max(1);
        packet.dts as f64 / f64::from(timescale)
    }

    /// Notes `packet`'s time; returns the held packets every other track has caught up
    /// with (all of them with `all`).
    fn release(&mut self, packet: Option<&Packet>, all: bool) -> Vec<InputEvent> {
        if let Some(p) = packet {
            let t = self.seconds(p);
            if let Some(seen) = self.seen.get_mut(p.track) {
                *seen = seen.max(t);
            }
        }
        let mut out = Vec::new();
        while let Some((front, _)) = self.held.front() {
            let t = self.seconds(front);
            let track = front.track;
            let caught_up = self
                .seen
                .iter()
                .enumerate()
                .all(|(j, seen)| j == track || *seen >= t);
            if !(all || caught_up || self.held.len() > MAX_HELD) {
                break;
            }
            if let Some((p, wall)) = self.held.pop_front() {
                out.push(InputEvent::Packet(p, wall));
            }
        }
        out
    }

    /// One event in, the events for the recorder out; `output` says what fits.
    pub(crate) fn process(
        &mut self,
        event: InputEvent,
        output: &dyn Fit,
    ) -> Result<Vec<InputEvent>, Error> {
        match event {
            InputEvent::Tracks(tracks) => {
                let mut events = self.release(None, true);
                let out = self.plan(tracks, output)?;
                self.timescales = out.iter().map(|t| t.timescale.max(1)).collect();
                self.seen = out.iter().map(|_| f64::NEG_INFINITY).collect();
                self.kinds = out.iter().map(|t| t.kind).collect();
                events.push(InputEvent::Tracks(out));
                Ok(events)
            }
            InputEvent::TrackUpdated { index, track } => match self.plans.get_mut(index) {
                Some(Some(Plan::Video { decoder, .. })) => {
                    decoder
                        .set_config(&track.codec)
                        .map_err(|e| codec_error(index, "decoding", e))?;
                    Ok(Vec::new())
                }
                Some(Some(Plan::Audio { .. })) => Ok(Vec::new()),
                _ => Ok(vec![InputEvent::TrackUpdated { index, track }]),
            },
            InputEvent::Packet(packet, wall) => {
                let index = packet.track;
                let video = self.kinds.get(index) == Some(&MediaKind::Video);
                if video && packet.keyframe && self.first_picture.is_none() {
                    let t = self.seconds(&packet);
                    self.first_picture = Some(t);
                    for i in 0..self.plans.len() {
                        let packets = self.start_audio(i, Some(t))?;
                        self.held.extend(packets.into_iter().map(|p| (p, wall)));
                    }
                }
                if !matches!(self.plans.get(index), Some(Some(_))) {
                    // The packet goes first: when it is the first picture, the recorder
                    // opens the file with it and then takes the audio held before it.
                    let released = self.release(Some(&packet), false);
                    let mut events = vec![InputEvent::Packet(packet, wall)];
                    events.extend(released);
                    return Ok(events);
                }
                let packets = self.transcode(index, Some(&packet))?;
                let mut events = Vec::new();
                for p in packets {
                    self.held.push_back((p.clone(), wall));
                    events.extend(self.release(Some(&p), false));
                }
                Ok(events)
            }
            InputEvent::End(result) => {
                let mut out = Vec::new();
                let wall = std::time::SystemTime::now();
                for index in 0..self.plans.len() {
                    if self.plans[index].is_some() {
                        let packets = self.transcode(index, None)?;
                        self.held.extend(packets.into_iter().map(|p| (p, wall)));
                    }
                }
                out.extend(self.release(None, true));
                out.push(InputEvent::End(result));
                Ok(out)
            }
            InputEvent::Batch(events) => {
                let mut out = Vec::new();
                for event in events {
                    out.extend(self.process(event, output)?);
                }
                Ok(out)
            }
            other => Ok(vec![other]),
        }
    }

    /// Chooses the tracks to transcode and opens their decoders and encoders.
    fn plan(&mut self, tracks: Vec<Track>, output: &dyn Fit) -> Result<Vec<Track>, Error> {
        self.plans = tracks.iter().map(|_| None).collect();
        // Another kind of track is not transcoded: it passes as it is (the recorder
        // leaves it out, with a warning).
        let kept = |t: &Track| match t.kind {
            MediaKind::Video => self.video,
            MediaKind::Audio => self.audio,
            _ => false,
        };
        // The recorded tracks, and where each stands in `tracks`.
        let (at, recorded): (Vec<usize>, Vec<Track>) = tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| kept(t))
            .map(|(i, t)| (i, t.clone()))
            .unzip();
        self.video_recorded = recorded.iter().any(|t| t.kind == MediaKind::Video);
        self.first_picture = None;
        let all_fit = output.check(&recorded).is_ok();
        let dropped = output.left_out(&recorded);
        let mut out = Vec::with_capacity(tracks.len());
        for (index, track) in tracks.into_iter().enumerate() {
            if !kept(&track) {
                out.push(track);
                continue;
            }
            let g711 = AudioCodec::is_g711(&track.codec) && !self.plays_g711;
            // Its place among the recorded tracks.
            let place = at.iter().position(|&i| i == index);
            let left_out = place.is_some_and(|p| dropped.contains(&p));
            let reason = match self.settings.policy {
                TranscodePolicy::Always => Some("--transcode always".to_owned()),
                TranscodePolicy::IfNeeded if g711 => {
                    Some("the output does not play G.711".to_owned())
                }
                TranscodePolicy::IfNeeded if left_out => {
                    Some(format!("the output would leave {} out", track.codec.name()))
                }
                TranscodePolicy::IfNeeded if !all_fit => output
                    .check(std::slice::from_ref(&track))
                    .err()
                    .map(|e| e.to_string()),
                _ => None,
            };
            let Some(reason) = reason else {
                out.push(track);
                continue;
            };
            let audio = match self.settings.policy {
                TranscodePolicy::Always => Some(self.settings.audio_codec),
                // The first codec the output takes, the chosen one first.
                _ => self.targets().into_iter().find(|&a| {
                    let target = self.target(&track, a);
                    match place {
                        Some(p) if left_out => {
                            let mut with = recorded.clone();
                            with[p] = target;
                            output.check(&with).is_ok() && !output.left_out(&with).contains(&p)
                        }
                        _ => output.check(std::slice::from_ref(&target)).is_ok(),
                    }
                }),
            };
            let Some(audio) = audio.or(g711.then_some(self.settings.audio_codec)) else {
                // The output takes no codec the transcoder makes more than this one: the
                // recorder's misfit error (or left-out line) says so, nothing is transcoded.
                out.push(track);
                continue;
            };
            let (plan, encoded) = match self.open(index, &track, audio) {
                Ok(opened) => opened,
                // A track we cannot decode (a raw sample entry, say) stays as it is when
                // transcoding is only "if needed": the output's own error then names what
                // does not fit, which is the real problem.
                Err(e) if self.settings.policy == TranscodePolicy::IfNeeded && !g711 => {
                    tracing::debug!("track {index} not transcoded: {e}");
                    out.push(track);
                    continue;
                }
                Err(e) => return Err(e),
            };
            // Video or audio: `open` refuses any other kind.
            let (kind, bitrate) = match track.kind {
                MediaKind::Video => ("video", self.settings.video_bitrate),
                _ => ("audio", self.settings.audio_bitrate),
            };
            let from = if AudioCodec::is_g711(&track.codec) {
                "G.711"
            } else {
                track.codec.name()
            };
            tracing::info!(
                "transcoding track {index} ({from} {kind}) to {} at {} kbit/s: {reason}",
                encoded.codec.name(),
                bitrate / 1000
            );
            self.plans[index] = Some(plan);
            out.push(encoded);
        }
        Ok(out)
    }

    /// The audio codecs to try, the configured one first (video has one: H.264).
    fn targets(&self) -> Vec<AudioTarget> {
        let mut all = vec![self.settings.audio_codec];
        for a in [AudioTarget::Aac, AudioTarget::Opus, AudioTarget::Mp3] {
            if !all.contains(&a) {
                all.push(a);
            }
        }
        all
    }

    /// What `track` would become with `audio` as the audio codec, for the fit check
    /// (configuration left empty).
    fn target(&self, track: &Track, audio: AudioTarget) -> Track {
        let empty = bytes::Bytes::new();
        match track.kind {
            MediaKind::Video => Track::video(
                Codec::H264 { config: empty },
                track.timescale,
                track.width,
                track.height,
            ),
            MediaKind::Audio => {
                let codec = match audio {
                    AudioTarget::Aac => Codec::Aac { config: empty },
                    AudioTarget::Opus => Codec::Opus { head: empty },
                    _ => Codec::Mp3,
                };
                Track::audio(codec, AUDIO_RATE, track.channels.clamp(1, 2))
            }
            // Not transcoded (see `plan`): it would stay as it is.
            _ => track.clone(),
        }
    }

    fn open(
        &self,
        index: usize,
        track: &Track,
        audio: AudioTarget,
    ) -> Result<(Plan, Track), Error> {
        let fail = |e| codec_error(index, "opening the transcoder of", e);
        match track.kind {
            MediaKind::Audio => {
                let channels = track.channels.clamp(1, 2);
                let codec = match audio {
                    AudioTarget::Aac => EncodedAudio::Aac,
                    AudioTarget::Opus => EncodedAudio::Opus,
                    _ => EncodedAudio::Mp3,
                };
                let mut settings = AudioEncoderSettings::new(codec, AUDIO_RATE, channels);
                settings.bitrate = self.settings.audio_bitrate;
                let format = AudioFormat::new(SampleFormat::F32).resampled(AUDIO_RATE, channels);
                let decoder = AudioDecoder::for_track(track, format).map_err(fail)?;
                let config = AudioEncoder::probe(&settings).map_err(fail)?;
                let encoder = AudioEncoder::new(settings).map_err(fail)?;
                let encoded = Track::audio(config, encoder.timescale(), channels);
                let plan = Plan::Audio {
                    decoder,
                    encoder: Box::new(encoder),
                    waiting: self.video_recorded.then(Vec::new),
                };
                Ok((plan, encoded))
            }
            MediaKind::Video => {
                let (width, height) = (track.width & !1, track.height & !1);
                let format = VideoFormat::new(PixelFormat::I420).scaled(width, height);
                let decoder = VideoDecoder::new(track, format).map_err(fail)?;
                let mut settings = VideoEncoderSettings::new(width, height);
                settings.timescale = track.timescale.max(1);
                settings.bitrate = self.settings.video_bitrate;
                let config = VideoEncoder::probe(&settings).map_err(fail)?;
                let encoder = VideoEncoder::new(settings).map_err(fail)?;
                let mut encoded = Track::video(config, track.timescale, width, height);
                encoded.pixel_aspect = track.pixel_aspect;
                encoded.display_matrix = track.display_matrix;
                let plan = Plan::Video {
                    decoder,
                    encoder: Box::new(encoder),
                };
                Ok((plan, encoded))
            }
            other => Err(Error::InvalidOptions(format!(
                "track {index}: no transcoder for {other:?} tracks"
            ))),
        }
    }

    /// Decodes `packet` (or drains, with `None`) and encodes what came out.
    fn transcode(&mut self, index: usize, packet: Option<&Packet>) -> Result<Vec<Packet>, Error> {
        let mut out = Vec::new();
        let errors = &mut self.decode_errors;
        let picture = self.first_picture;
        match self.plans.get_mut(index) {
            Some(Some(Plan::Audio {
                decoder,
                encoder,
                waiting,
            })) => {
                let pushed = match packet {
                    Some(p) => decoder.push(p),
                    None => decoder.finish(),
                };
                if let Err(e) = pushed {
                    // A damaged packet loses its samples, not the recording.
                    note_decode_error(errors, index, &e);
                }
                while let Some(frame) = decoder
                    .pull()
                    .map_err(|e| codec_error(index, "decoding", e))?
                {
                    match waiting {
                        Some(w) => w.push(frame),
                        None => encoder
                            .push(&frame)
                            .map_err(|e| codec_error(index, "encoding", e))?,
                    }
                }
                let overdue = waiting.as_ref().is_some_and(|w| match (w.first(), w.last()) {
                    (Some(a), Some(b)) => (b.pts - a.pts) as f64 / f64::from(a.timescale.max(1)),
                    _ => 0.0,
                } > MAX_WAIT);
                if overdue || packet.is_none() {
                    // No picture came (yet): the audio goes on without one.
                    out.extend(self.start_audio(index, None)?);
                } else if picture.is_some() {
                    // The picture came before any audio.
                    out.extend(self.start_audio(index, picture)?);
                }
                let Some(Some(Plan::Audio { encoder, .. })) = self.plans.get_mut(index) else {
                    return Ok(out);
                };
                if packet.is_none() {
                    encoder
                        .finish()
                        .map_err(|e| codec_error(index, "encoding", e))?;
                }
                while let Some(mut p) = encoder
                    .pull()
                    .map_err(|e| codec_error(index, "encoding", e))?
                {
                    p.track = index;
                    out.push(p);
                }
            }
            Some(Some(Plan::Video { decoder, encoder })) => {
                let pushed = match packet {
                    Some(p) => decoder.push(p),
                    None => decoder.finish(),
                };
                if let Err(e) = pushed {
                    note_decode_error(errors, index, &e);
                }
                while let Some(frame) = decoder
                    .pull()
                    .map_err(|e| codec_error(index, "decoding", e))?
                {
                    encoder
                        .push(&frame)
                        .map_err(|e| codec_error(index, "encoding", e))?;
                }
                if packet.is_none() {
                    encoder
                        .finish()
                        .map_err(|e| codec_error(index, "encoding", e))?;
                }
                while let Some(mut p) = encoder
                    .pull()
                    .map_err(|e| codec_error(index, "encoding", e))?
                {
                    p.track = index;
                    out.push(p);
                }
            }
            _ => {}
        }
        Ok(out)
    }
}

impl Transcoder {
    /// Encodes the audio of track `index` that waited for the first picture (at `picture`
    /// seconds), after silence from the picture to its first sample; returns the packets.
    fn start_audio(&mut self, index: usize, picture: Option<f64>) -> Result<Vec<Packet>, Error> {
        let Some(Some(Plan::Audio {
            encoder, waiting, ..
        })) = self.plans.get_mut(index)
        else {
            return Ok(Vec::new());
        };
        let Some(frames) = waiting.take() else {
            return Ok(Vec::new());
        };
        if frames.is_empty() && picture.is_some() {
            // No audio yet: it starts (after its silence) when it comes.
            *waiting = Some(frames);
            return Ok(Vec::new());
        }
        let fail = |e| codec_error(index, "encoding", e);
        if let (Some(t), Some(first)) = (picture, frames.first()) {
            let gap = first.pts as f64 / f64::from(first.timescale.max(1)) - t;
            if gap > 0.0 && gap <= MAX_PAD {
                let samples = (gap * f64::from(first.rate)).round() as usize;
                let bytes = samples * usize::from(first.channels) * first.format.bytes();
                let pts = (t * f64::from(first.timescale)).round() as i64;
                let silence = bytes::Bytes::from(vec![0; bytes]); // f32 zeros
                let (rate, channels, format) = (first.rate, first.channels, first.format);
                if let Some(frame) =
                    AudioFrame::new(silence, rate, channels, format, pts, first.timescale)
                {
                    encoder.push(&frame).map_err(fail)?;
                }
            }
        }
        for frame in &frames {
            encoder.push(frame).map_err(fail)?;
        }
        let mut out = Vec::new();
        while let Some(mut p) = encoder.pull().map_err(fail)? {
            p.track = index;
            out.push(p);
        }
        Ok(out)
    }
}

fn note_decode_error(count: &mut u64, index: usize, error: &media_codec::Error) {
    *count += 1;
    if count.is_power_of_two() {
        tracing::warn!("track {index}: a packet could not be decoded ({count} so far): {error}");
    }
}

fn codec_error(index: usize, doing: &str, source: media_codec::Error) -> Error {
    Error::Codec {
        context: format!("{doing} track {index}"),
        source,
    }
}

#[cfg(test)]
#[path = "transcode_tests.rs"]
mod tests;

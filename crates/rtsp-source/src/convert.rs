//! From retina's stream descriptions and frames to this crate's neutral types.
//!
//! The only module besides `session` that names retina types, so a retina upgrade
//! touches two files.

use bytes::Bytes;
use retina::codec::{ParametersRef, VideoParametersCodec};

use crate::event::Frame;
use crate::select::Offer;
use crate::track::{AudioInfo, Codec, MediaKind, ParameterSets, TrackInfo, VideoInfo};
use crate::track::{fps_from_duration, fps_from_sdp};

/// The selection view of a retina stream.
pub(crate) fn offer(index: usize, stream: &retina::client::Stream) -> Offer {
    Offer {
        index,
        media: stream.media().to_owned(),
        encoding_name: stream.encoding_name().to_owned(),
        clock_rate: stream.clock_rate_hz(),
        has_parameters: stream.parameters().is_some(),
    }
}

/// Describes a set-up stream as track `index`.
pub(crate) fn track_info(
    index: usize,
    stream_index: usize,
    codec: Codec,
    stream: &retina::client::Stream,
) -> TrackInfo {
    let mut info = TrackInfo {
        index,
        stream_index,
        kind: codec.kind(),
        codec,
        encoding_name: stream.encoding_name().to_owned(),
        payload_type: stream.rtp_payload_type(),
        clock_rate: stream.clock_rate_hz(),
        codec_string: None,
        video: None,
        audio: None,
        sample_entry: None,
        sample_entry_missing: None,
    };
    match stream.parameters() {
        Some(ParametersRef::Video(p)) => {
            let parameter_sets = match p.codec_params() {
                VideoParametersCodec::H264 { sps, pps } => ParameterSets::H264 {
                    sps: sps.clone(),
                    pps: pps.clone(),
                },
                VideoParametersCodec::H265 { vps, sps, pps } => ParameterSets::H265 {
                    vps: vps.clone(),
                    sps: sps.clone(),
                    pps: pps.clone(),
                },
                _ => ParameterSets::None,
            };
            let (width, height) = p.pixel_dimensions();
            let (coded_width, coded_height) = p.coded_pixel_dimensions();
            let frame_rate = p
                .frame_rate()
                .and_then(fps_from_duration)
                .or_else(|| stream.framerate().and_then(fps_from_sdp));
            info.codec_string = Some(p.rfc6381_codec().to_owned());
            info.video = Some(VideoInfo {
                width,
                height,
                coded_width,
                coded_height,
                pixel_aspect_ratio: p.pixel_aspect_ratio(),
                frame_rate,
                parameter_sets,
                decoder_config: Bytes::copy_from_slice(p.extra_data()),
            });
            let mut builder = p.mp4_sample_entry();
            // retina writes `pasp` only when asked; pass the ratio the stream states.
            if let Some((h, v)) = p.pixel_aspect_ratio()
                && let (Ok(h), Ok(v)) = (u16::try_from(h), u16::try_from(v))
            {
                builder = builder.with_aspect_ratio((h, v));
            }
            set_sample_entry(&mut info, builder.build());
        }
        Some(ParametersRef::Audio(p)) => {
            info.codec_string = p.rfc6381_codec().map(str::to_owned);
            info.audio = Some(AudioInfo {
                sample_rate: p.clock_rate(),
                channels: p.channels().get(),
                samples_per_frame: p.frame_length().map(|n| n.get()),
                audio_specific_config: (codec == Codec::Aac && !p.extra_data().is_empty())
                    .then(|| Bytes::copy_from_slice(p.extra_data())),
            });
            set_sample_entry(&mut info, p.mp4_sample_entry().build());
        }
        Some(_) => {}
        None if info.kind == MediaKind::Video => {
            info.sample_entry_missing =
                Some("video parameters not known yet (they come in-band)".to_owned());
        }
        None => {
            info.sample_entry_missing = Some("no parameters".to_owned());
        }
    }
    info
}

fn set_sample_entry(info: &mut TrackInfo, built: Result<Vec<u8>, retina::Error>) {
    match built {
        Ok(entry) => info.sample_entry = Some(Bytes::from(entry)),
        Err(e) => {
            info.sample_entry_missing = Some(format!(
                "retina builds no MP4 sample entry for {}: {e}",
                info.encoding_name
            ))
        }
    }
}

/// Which output slot a retina item fills.
pub(crate) struct Received {
    pub(crate) stream_id: usize,
    pub(crate) keyframe: bool,
    pub(crate) new_parameters: bool,
    pub(crate) frame: Frame,
}

/// Converts a video frame; the payload moves without a copy.
pub(crate) fn video_frame(f: retina::codec::VideoFrame) -> Received {
    let ts = f.timestamp();
    let ctx = *f.end_ctx();
    let stream_id = f.stream_id();
    let keyframe = f.is_random_access_point();
    let new_parameters = f.has_new_parameters();
    let loss = f.loss();
    let disposable = f.is_disposable();
    Received {
        stream_id,
        keyframe,
        new_parameters,
        frame: Frame {
            track: usize::MAX,
            timestamp: ts.elapsed(),
            decode_timestamp: ts.elapsed(), // until the session's timeline says otherwise
            clock_rate: ts.clock_rate().get(),
            duration: None,
            received_wall: ctx.received_wall().into(),
            received: ctx.received(),
            data: Bytes::from(f.into_data()),
            keyframe,
            loss,
            new_parameters,
            disposable,
        },
    }
}

/// Converts an audio frame (retina lends the payload, so it is copied: audio frames are
/// small).
pub(crate) fn audio_frame(f: &retina::codec::AudioFrame) -> Received {
    let ts = f.timestamp();
    let ctx = f.ctx();
    Received {
        stream_id: f.stream_id(),
        keyframe: true,
        new_parameters: false,
        frame: Frame {
            track: usize::MAX,
            timestamp: ts.elapsed(),
            decode_timestamp: ts.elapsed(), // until the session's timeline says otherwise
            clock_rate: ts.clock_rate().get(),
            duration: Some(f.frame_length().get()),
            received_wall: ctx.received_wall().into(),
            received: ctx.received(),
            data: Bytes::copy_from_slice(f.data()),
            keyframe: true,
            loss: f.loss(),
            new_parameters: false,
            disposable: false,
        },
    }
}

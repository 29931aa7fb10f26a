//! What a receiving session (a WHIP server's [`crate::Publisher`], a
//! [`crate::WhepClient`]) gives: str0m's depacketized media (RFC 6184 for H.264, RFC 7798
//! for H.265, RFC 7741
//! for VP8, RFC 9628 for VP9, the AOM's "RTP Payload Format for AV1", RFC 7587 for Opus)
//! as [`ReceivedFrame`]s, key frames told apart.

use bytes::Bytes;
use str0m::format::{Codec, CodecExtra};
use str0m::media::{KeyframeRequestKind, MediaData, Mid};
use str0m::{Rtc, RtcConfig};

use crate::annex_b::split_annex_b;
use crate::media::TrackKind;

/// The codec of a received track.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishedCodec {
    /// H.264; frames are Annex B access units.
    H264,
    /// H.265; frames are Annex B access units.
    H265,
    /// VP8; one frame per frame.
    Vp8,
    /// VP9; one frame (or superframe) per frame.
    Vp9,
    /// AV1; one temporal unit per frame: low-overhead OBUs, each with its size field,
    /// without temporal delimiters.
    Av1,
    /// Opus at 48 kHz; one packet per frame.
    Opus,
}

/// A frame the peer sent.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedFrame {
    /// Video or audio.
    pub track: TrackKind,
    /// Its codec.
    pub codec: PublishedCodec,
    /// RTP time, extended to 64 bits, at `clock_rate`.
    pub rtp_time: u64,
    /// The RTP clock rate.
    pub clock_rate: u32,
    /// A key frame (video: an IDR, a VP8 or VP9 key frame, an AV1 temporal unit that
    /// starts a coded video sequence; audio: always).
    pub keyframe: bool,
    /// The payload.
    pub data: Bytes,
    /// Whether frames were lost before this one (the depacketizer saw a gap).
    pub after_loss: bool,
}

/// The video codecs a receiving session takes, by their SDP `rtpmap` names.
pub(crate) const VIDEO_CODECS: [&str; 5] = ["H264", "H265", "VP8", "VP9", "AV1"];

/// The str0m configuration of a receiving session: the codecs the pipeline can take
/// (H.264 with every profile str0m knows, H.265, VP8, VP9, AV1, Opus), the video ones in
/// `video_order` (names of [`VIDEO_CODECS`]; str0m answers an offer in its own
/// configuration's order), ICE role left to the caller.
pub(crate) fn config(video_order: &[&str]) -> RtcConfig {
    let mut config = RtcConfig::new()
        .set_crypto_provider(std::sync::Arc::new(str0m::crypto::from_feature_flags()))
        .clear_codecs();
    for name in video_order {
        config = match *name {
            "H264" => config.enable_h264(true),
            "H265" => config.enable_h265(true),
            "VP8" => config.enable_vp8(true),
            "VP9" => config.enable_vp9(true),
            "AV1" => config.enable_av1(true),
            _ => config,
        };
    }
    config.enable_opus(true, false)
}

/// The frame of one piece of str0m's depacketized media, `None` for a codec we do not
/// take.
pub(crate) fn frame(d: &MediaData) -> Option<ReceivedFrame> {
    let (track, codec) = match d.params.spec().codec {
        Codec::H264 => (TrackKind::Video, PublishedCodec::H264),
        Codec::H265 => (TrackKind::Video, PublishedCodec::H265),
        Codec::Vp8 => (TrackKind::Video, PublishedCodec::Vp8),
        Codec::Vp9 => (TrackKind::Video, PublishedCodec::Vp9),
        Codec::Av1 => (TrackKind::Video, PublishedCodec::Av1),
        Codec::Opus => (TrackKind::Audio, PublishedCodec::Opus),
        _ => return None,
    };
    let keyframe = match codec {
        PublishedCodec::H264 => h264_idr(&d.data),
        PublishedCodec::H265 => h265_irap(&d.data),
        // VP8 frame tag: bit 0 clear is a key frame (RFC 6386 §9.1).
        PublishedCodec::Vp8 => d.data.first().is_some_and(|b| b & 1 == 0),
        // VP9 uncompressed header: frame_type 0 (§6.2); the bits before it depend on
        // the profile.
        PublishedCodec::Vp9 => vp9_key_frame(&d.data),
        // The RTP aggregation header's N bit: a new coded video sequence starts (AV1
        // RTP payload §4.4), as str0m reports it.
        PublishedCodec::Av1 => matches!(d.codec_extra, CodecExtra::Av1(e) if e.is_keyframe),
        PublishedCodec::Opus => true,
    };
    Some(ReceivedFrame {
        track,
        codec,
        rtp_time: d.time.numer(),
        clock_rate: d.time.denom(),
        keyframe,
        data: Bytes::copy_from_slice(&d.data),
        after_loss: !d.contiguous,
    })
}

/// Asks the sender for a key frame (RTCP PLI) on every media that can.
pub(crate) fn request_keyframe(rtc: &mut Rtc, mids: &[Mid]) {
    for &mid in mids {
        if let Some(mut w) = rtc.writer(mid)
            && w.is_request_keyframe_possible(KeyframeRequestKind::Pli)
        {
            let _ = w.request_keyframe(None, KeyframeRequestKind::Pli);
        }
    }
}

/// Whether a VP9 frame is a key frame: frame_marker 2, profile bits (and a reserved
/// bit in profile 3), show_existing_frame 0, frame_type 0 (VP9 bitstream §6.2).
fn vp9_key_frame(data: &[u8]) -> bool {
    let Some(&b) = data.first() else {
        return false;
    };
    if b >> 6 != 2 {
        return false;
    }
    let profile = (b >> 5 & 1) | (b >> 4 & 1) << 1;
    // Bits 7-4 are the marker and profile; profile 3 adds a reserved bit 3.
    let at = if profile == 3 { 3 } else { 2 };
    let show_existing = b >> (5 - at) & 1;
    let frame_type = b >> (4 - at) & 1;
    show_existing == 0 && frame_type == 0
}

/// Whether an Annex B access unit holds an IDR slice (NAL type 5).
fn h264_idr(data: &[u8]) -> bool {
    split_annex_b(data).any(|nal| nal.first().is_some_and(|h| h & 0x1f == 5))
}

/// Whether an H.265 Annex B access unit holds an IRAP picture (NAL types 16-21: BLA,
/// IDR, CRA; H.265 §7.4.2.2), where decoding can start.
fn h265_irap(data: &[u8]) -> bool {
    split_annex_b(data).any(|nal| {
        nal.first()
            .is_some_and(|h| (16..=21).contains(&(h >> 1 & 0x3f)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn h264_idr_in_an_access_unit() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9,
        ];
        assert!(h264_idr(&au));
        assert!(!h264_idr(&[0, 0, 1, 0x41, 7]));
    }

    #[test]
    fn vp9_key_frames_by_their_header() {
        // Profile 0: 10 0 0, show_existing 0, frame_type 0 / 1.
        assert!(vp9_key_frame(&[0b1000_0010]));
        assert!(!vp9_key_frame(&[0b1000_0110]));
        // show_existing_frame: no frame of its own.
        assert!(!vp9_key_frame(&[0b1000_1000]));
        // Profile 3 has a reserved bit before show_existing_frame.
        assert!(vp9_key_frame(&[0b1011_0001]));
        assert!(!vp9_key_frame(&[0b1011_0011]));
        assert!(!vp9_key_frame(&[0b0100_0000]));
        assert!(!vp9_key_frame(&[]));
    }
}

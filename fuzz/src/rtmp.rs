//! RTMP input targets: what a publisher hands `rtmp-listen://` after the handshake.
//!
//! - `rtmp_ingest`: rml_rtmp's server session (chunk streams, AMF0 commands) fed the
//!   bytes in slices (the first byte picks the slice size), every request accepted as
//!   the pipeline's source does, and every video and audio message read by the `flv`
//!   crate (tags with lying sizes included), then written back by the crate's writer and
//!   read again: the same tag. The corpus holds a real ffmpeg 5.1 publish
//!   (H.264 + AAC) captured after the handshake.

use bytes::Bytes;
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[("rtmp_ingest", rtmp_ingest)];

/// The server session and the FLV tag readers.
pub fn rtmp_ingest(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let Ok((mut session, _)) = ServerSession::new(ServerSessionConfig::new()) else {
        return;
    };
    let slice = usize::from(first).max(1) * 16;
    for chunk in rest.chunks(slice) {
        let Ok(results) = session.handle_input(chunk) else {
            return;
        };
        let mut pending = results;
        // Bounded: each accepted request yields responses, not new requests.
        for _ in 0..4 {
            let mut more = Vec::new();
            for result in pending.drain(..) {
                let ServerSessionResult::RaisedEvent(event) = result else {
                    continue;
                };
                match event {
                    ServerSessionEvent::ConnectionRequested { request_id, .. }
                    | ServerSessionEvent::PublishStreamRequested { request_id, .. } => {
                        if let Ok(r) = session.accept_request(request_id) {
                            more.extend(r);
                        }
                    }
                    ServerSessionEvent::VideoDataReceived { data, .. } => tags(&data),
                    ServerSessionEvent::AudioDataReceived { data, .. } => tags(&data),
                    _ => {}
                }
            }
            pending = more;
        }
    }
}

fn tags(data: &Bytes) {
    if let Ok(tag) = flv::video(data) {
        // What the writer makes of a tag read reads back as that tag.
        if let Ok(written) = flv::write_video(&tag) {
            assert_eq!(
                flv::video(&written).ok(),
                Some(tag.clone()),
                "video round trip"
            );
        }
        if let flv::VideoTag::SequenceHeader { config, .. } = tag {
            let _ = mpeg_ts::nal::avc_parameter_sets(&config);
            let _ = mpeg_ts::nal::hevc_parameter_sets(&config);
        }
    }
    if let Ok(tag) = flv::audio(data) {
        let written = flv::write_audio(&tag);
        assert_eq!(
            flv::audio(&written).ok(),
            Some(tag.clone()),
            "audio round trip"
        );
        if let flv::AudioTag::AacConfig(config) = tag {
            let _ = flv::aac_rate_channels(&config);
        }
    }
}

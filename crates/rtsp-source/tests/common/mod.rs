//! Helpers shared by the integration tests: collecting events with a deadline, and
//! writing received frames in forms ffmpeg reads (Annex B, ADTS, WAV) so a real decoder
//! checks them.
#![allow(clippy::unwrap_used, dead_code)]

pub mod mock;

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::{Stream, StreamExt};
use rtsp_source::{Event, Frame, ParameterSets, TrackInfo, Tracks};

/// Collects events until `stop` says so, the stream ends, or `limit` passes (then panics
/// with what was collected, so a hung test fails fast and clearly).
pub async fn collect_until<S>(
    stream: &mut S,
    limit: Duration,
    mut stop: impl FnMut(&[Event]) -> bool,
) -> Vec<Event>
where
    S: Stream<Item = Event> + Unpin,
{
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(ev)) => {
                events.push(ev);
                if stop(&events) {
                    return events;
                }
            }
            Ok(None) => return events,
            Err(_) => panic!(
                "no end condition within {limit:?}; got {} events: {:?}",
                events.len(),
                summary(&events)
            ),
        }
    }
}

/// Collects until `n` frames of `track` arrived.
pub async fn collect_frames<S>(
    stream: &mut S,
    track: usize,
    n: usize,
    limit: Duration,
) -> Vec<Event>
where
    S: Stream<Item = Event> + Unpin,
{
    collect_until(stream, limit, |evs| frames(evs, track).len() >= n).await
}

/// One short line per event, for failure messages.
pub fn summary(events: &[Event]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut run = 0;
    for ev in events {
        if let Event::Frame(_) = ev {
            run += 1;
            continue;
        }
        if run > 0 {
            out.push(format!("{run} frames"));
            run = 0;
        }
        out.push(match ev {
            Event::Tracks(t) => format!("Tracks({} tracks)", t.tracks.len()),
            Event::Disconnected { reason, frames } => format!("Disconnected({frames}: {reason})"),
            other => format!("{other:?}"),
        });
    }
    if run > 0 {
        out.push(format!("{run} frames"));
    }
    out
}

pub fn frames(events: &[Event], track: usize) -> Vec<Frame> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Frame(f) if f.track == track => Some(f.clone()),
            _ => None,
        })
        .collect()
}

pub fn tracks(events: &[Event]) -> Tracks {
    events
        .iter()
        .find_map(|e| match e {
            Event::Tracks(t) => Some(t.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Tracks event in {:?}", summary(events)))
}

/// Splits MP4-framed data (4-byte big-endian lengths) into NAL units; panics on bad framing.
pub fn nals(data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "truncated length prefix");
        let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        assert!(len > 0 && rest.len() >= 4 + len, "bad NAL length {len}");
        out.push(&rest[4..4 + len]);
        rest = &rest[4 + len..];
    }
    out
}

/// An Annex B elementary stream: parameter sets from the track, then every frame.
pub fn annex_b(track: &TrackInfo, frames: &[Frame]) -> Vec<u8> {
    let mut out = Vec::new();
    let sets: Vec<&[u8]> = match &track.video.as_ref().unwrap().parameter_sets {
        ParameterSets::H264 { sps, pps } => vec![sps, pps],
        ParameterSets::H265 { vps, sps, pps } => vec![vps, sps, pps],
        other => panic!("no parameter sets: {other:?}"),
    };
    for s in sets {
        out.extend_from_slice(&[0, 0, 0, 1]);
        out.extend_from_slice(s);
    }
    for f in frames {
        for nal in nals(&f.data) {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal);
        }
    }
    out
}

/// ADTS-framed AAC from raw access units and the AudioSpecificConfig.
pub fn adts(asc: &[u8], frames: &[Frame]) -> Vec<u8> {
    let object_type = asc[0] >> 3;
    let freq_index = ((asc[0] & 7) << 1) | (asc[1] >> 7);
    let channels = (asc[1] >> 3) & 0xf;
    let mut out = Vec::new();
    for f in frames {
        let len = f.data.len() + 7;
        let profile = object_type.saturating_sub(1) & 3;
        out.extend_from_slice(&[
            0xff,
            0xf1,
            (profile << 6) | (freq_index << 2) | (channels >> 2),
            ((channels & 3) << 6) | ((len >> 11) as u8 & 3),
            (len >> 3) as u8,
            (((len & 7) as u8) << 5) | 0x1f,
            0xfc,
        ]);
        out.extend_from_slice(&f.data);
    }
    out
}

/// A WAV file of G.711 A-law samples.
pub fn wav_alaw(rate: u32, channels: u16, frames: &[Frame]) -> Vec<u8> {
    let data: Vec<u8> = frames.iter().flat_map(|f| f.data.iter().copied()).collect();
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 26 + 8 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&18u32.to_le_bytes());
    out.extend_from_slice(&6u16.to_le_bytes()); // WAVE_FORMAT_ALAW
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * u32::from(channels)).to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes()); // block align
    out.extend_from_slice(&8u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&data);
    out
}

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Checks an ISO BMFF box: its size field is the whole length and its type is `kind`;
/// returns the body.
pub fn bmff_box<'a>(bytes: &'a [u8], kind: &[u8; 4]) -> &'a [u8] {
    assert!(bytes.len() >= 8);
    let size = u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize;
    assert_eq!(size, bytes.len(), "box size");
    assert_eq!(&bytes[4..8], kind, "box type");
    &bytes[8..]
}

/// Finds the first child box of type `kind` in a sample entry body (after the fixed
/// VisualSampleEntry fields, 78 bytes, or AudioSampleEntry fields, 28 bytes).
pub fn child_box<'a>(body: &'a [u8], skip: usize, kind: &[u8; 4]) -> Option<&'a [u8]> {
    let mut rest = &body[skip..];
    while rest.len() >= 8 {
        let size = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
        if size < 8 || size > rest.len() {
            return None;
        }
        if &rest[4..8] == kind {
            return Some(&rest[8..size]);
        }
        rest = &rest[size..];
    }
    None
}

/// The median of consecutive differences.
pub fn median_delta(ts: &[i64]) -> i64 {
    let mut d: Vec<i64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
    d.sort_unstable();
    d[d.len() / 2]
}

//! The neutral types as `bmff_writer`'s, for every MP4-family sink (file, stdout, HLS):
//! track configurations, samples on a file's timeline, fragment options.

use bmff_writer::{
    Av1Config, FragmentOptions, HevcTag, ParameterSets, Sample, TrackConfig, VpConfig,
};

use crate::contract::describe;
use crate::{Codec, Error, MediaKind, Options, Packet, Track};

/// What the MP4 family takes, for misfit messages.
const TAKES: &str =
    "H.264, H.265, VP8, VP9, AV1, AAC, MP3, AC-3, E-AC-3, Opus or ready sample entries";

/// Whether `endpoint` (an MP4-family output) can hold every track.
pub(crate) fn check(endpoint: &str, tracks: &[Track]) -> Result<(), Error> {
    for (index, track) in tracks.iter().enumerate() {
        if track_config(track).is_err() {
            return Err(Error::Misfit {
                endpoint: endpoint.to_owned(),
                takes: TAKES.into(),
                found: describe(index, track),
            });
        }
    }
    Ok(())
}

/// The writer's description of a neutral track.
pub(crate) fn track_config(track: &Track) -> Result<TrackConfig, Error> {
    let codec = match &track.codec {
        Codec::H264 { config } => bmff_writer::Codec::Avc(ParameterSets::Record(config.clone())),
        Codec::H265 { config } => bmff_writer::Codec::Hevc {
            parameters: ParameterSets::Record(config.clone()),
            tag: HevcTag::Hvc1,
        },
        Codec::Aac { config } => bmff_writer::Codec::Aac {
            audio_specific_config: config.clone(),
        },
        Codec::Mp3 => bmff_writer::Codec::Mp3,
        Codec::Ac3 { config } => bmff_writer::Codec::Ac3 {
            dac3: config.clone(),
        },
        Codec::Eac3 { config } => bmff_writer::Codec::Eac3 {
            dec3: config.clone(),
        },
        Codec::Opus { head } => bmff_writer::Codec::Opus(
            bmff_writer::OpusConfig::from_opus_head(head).map_err(invalid)?,
        ),
        // VP8 has no configuration of its own: 8-bit 4:2:0, as every VP8 stream is.
        Codec::Vp8 => bmff_writer::Codec::Vp8(VpConfig::default()),
        Codec::Vp9 { config } => {
            bmff_writer::Codec::Vp9(VpConfig::from_record(config).map_err(invalid)?)
        }
        Codec::Av1 { config } => {
            bmff_writer::Codec::Av1(Av1Config::from_record(config).map_err(invalid)?)
        }
        Codec::SampleEntry { entry } => bmff_writer::Codec::Raw {
            entry: entry.clone(),
            kind: match track.kind {
                MediaKind::Video => bmff_writer::TrackKind::Video,
                MediaKind::Audio => bmff_writer::TrackKind::Audio,
                other => return Err(cannot_hold(other)),
            },
        },
        other => {
            return Err(Error::Output {
                output: "MP4".into(),
                reason: format!("MP4 cannot hold {} tracks", other.name()),
            });
        }
    };
    let config = match track.kind {
        MediaKind::Video => {
            let size = |v: u32, what: &str| {
                u16::try_from(v).map_err(|_| Error::Output {
                    output: "MP4".into(),
                    reason: format!("video {what} {v} does not fit MP4's 16-bit field"),
                })
            };
            let mut c = TrackConfig::video(
                codec,
                track.timescale,
                size(track.width, "width")?,
                size(track.height, "height")?,
            );
            if let Some((h, v)) = track.pixel_aspect {
                c = c.with_pixel_aspect(h, v);
            }
            if let Some(matrix) = track.display_matrix {
                c = c.with_display_matrix(matrix);
            }
            c
        }
        MediaKind::Audio => TrackConfig::audio(codec, track.sample_rate, track.channels)
            .with_timescale(track.timescale),
        other => return Err(cannot_hold(other)),
    };
    Ok(config)
}

/// A track's configuration the writer refuses.
fn invalid(source: bmff_writer::Error) -> Error {
    Error::Mp4 {
        output: "MP4".into(),
        source,
    }
}

/// The writer has video and audio tracks only.
fn cannot_hold(kind: MediaKind) -> Error {
    Error::Output {
        output: "MP4".into(),
        reason: format!("MP4 cannot hold {kind:?} tracks"),
    }
}

pub(crate) fn configs(tracks: &[Track]) -> Result<Vec<TrackConfig>, Error> {
    tracks.iter().map(track_config).collect()
}

/// A neutral packet as the writer's sample, on the file's timeline; `None` before it.
pub(crate) fn sample(packet: Packet, tracks: &[Track], timeline: &mut Timeline) -> Option<Sample> {
    let timescale = tracks.get(packet.track)?.timescale;
    let dts = timeline.shift(packet.dts, timescale)?;
    Some(
        Sample::new(packet.track, dts, packet.keyframe, packet.data)
            .with_cts_offset(packet.cts_offset)
            .with_duration(packet.duration),
    )
}

/// Cumulative sample counts per track index as (video frames, audio frames).
pub(crate) fn frames_by_kind(tracks: &[Track], samples: &[u64]) -> (u64, u64) {
    let mut frames = (0, 0);
    for (track, &n) in tracks.iter().zip(samples) {
        match track.kind {
            MediaKind::Video => frames.0 += n,
            MediaKind::Audio => frames.1 += n,
            _ => {} // neither: counted in no column
        }
    }
    frames
}

pub(crate) fn fragment_options(options: &Options) -> FragmentOptions {
    FragmentOptions::new(options.fragment_duration)
}

/// Maps each packet's decode time onto the file's time origin: the first packet written
/// is time 0, and every track shares that origin (the writer turns a later start into an
/// edit list or a later `tfdt`, which keeps audio and video in sync).
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// The first packet's decode time and timescale.
    origin: Option<(i64, u32)>,
}

impl Timeline {
    /// The packet's decode time relative to the origin, in its timescale; `None` when it is
    /// earlier than the origin (it belongs before the start of this file).
    pub(crate) fn shift(&mut self, dts: i64, timescale: u32) -> Option<i64> {
        let (t0, rate0) = *self.origin.get_or_insert((dts, timescale));
        // Rounded as bmff-writer rescales the time zero (`zero`, the origin negated): a
        // track whose first sample sits exactly at time zero then has no edit, though
        // the origin is not a whole number of its ticks (AAC priming of 1024 / 48000 s
        // against a video timescale).
        let scaled = |t: i128| (t * i128::from(timescale)).div_euclid(i128::from(rate0.max(1)));
        let origin = if t0 < 0 {
            -scaled(-i128::from(t0))
        } else {
            scaled(i128::from(t0))
        };
        let shifted = i128::from(dts) - origin;
        if shifted < 0 {
            return None;
        }
        i64::try_from(shifted).ok()
    }

    /// The input's time zero on this file's time line, when the file starts before it
    /// (negative decode times: a B-frame delay, AAC priming), as (ticks, timescale);
    /// `None` otherwise (a later segment: the file starts at its first packet). Only an
    /// input with a real zero hides what precedes it (`Options::hide_before_zero`): a
    /// live camera's first decode times may lie seconds before its clock's zero.
    pub(crate) fn zero(&self) -> Option<(i64, u32)> {
        let (t0, rate0) = self.origin?;
        (t0 < 0).then(|| (t0.checked_neg().unwrap_or(i64::MAX), rate0))
    }
}

#[cfg(test)]
mod tests {
    use super::Timeline;

    #[test]
    fn a_track_starting_at_time_zero_lands_where_the_writer_puts_the_zero() {
        // AAC priming first (−1024 at 48 kHz), then video at 0 in a 25 600 Hz timescale:
        // −1024/48000 s is −546.13 video ticks.
        let mut timeline = Timeline::default();
        assert_eq!(timeline.shift(-1024, 48_000), Some(0));
        assert_eq!(timeline.zero(), Some((1024, 48_000)));
        // bmff-writer puts the zero at floor(546.13) = 546 video ticks.
        assert_eq!(timeline.shift(0, 25_600), Some(546));
        assert_eq!(timeline.shift(1024, 25_600), Some(1570));
        // A positive origin (a live source) floors as before.
        let mut live = Timeline::default();
        assert_eq!(live.shift(90_000, 90_000), Some(0));
        assert_eq!(live.shift(48_001, 48_000), Some(1));
    }
}

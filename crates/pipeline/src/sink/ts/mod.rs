//! MPEG-TS file output (`.ts`) through `mpeg_ts`: H.264/H.265 as Annex B with the
//! parameter sets repeated before every key frame, AAC in ADTS, MPEG audio as is, Opus
//! (mono or stereo) behind its control headers.
//! Written as `NAME.partial` and renamed when finished, like the MP4 sink.
//!
//! Times go from each track's timescale to the 90 kHz of TS; the muxer adds its fixed
//! offset so that B-frame decode times stay positive. TS packets are gathered in one
//! buffer and written in blocks of about 64 KB: the packetization copies the payload
//! once anyway, so the buffer adds no copy.
//!
//! The same muxing feeds an SRT connection ([`srt`]).

pub(crate) mod srt;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use media_core::{Codec, Packet, Track};
use mpeg_ts::nal::{self, VideoCodec};
use mpeg_ts::{Frame, Muxer, StreamType};

use super::mp4::rename_finished;
use super::stream_file::{Target, create_partial};
use crate::contract::{Sink, SinkFactory, describe};
use crate::{Error, Options};

const TAKES: &str = "H.264, H.265, AAC, MP3, AC-3, E-AC-3 and mono or stereo Opus tracks";
const BLOCK: usize = 64 * 1024;

pub(crate) struct TsFileFactory {
    pub(crate) target: Target,
    pub(crate) options: Options,
}

/// Bytes gathered before a write to standard output: none, each frame goes out at once
/// (its reader may be a live player; ffmpeg flushes each packet to a pipe too).
const PIPE_BLOCK: usize = 1;

/// How one track goes into TS.
enum Carriage {
    Video {
        codec: VideoCodec,
        parameter_sets: Vec<Bytes>,
    },
    Aac {
        config: Bytes,
    },
    /// Frames that carry their own headers (MPEG audio, AC-3, E-AC-3), as they are.
    Frames,
    /// Opus; the pre-skip goes out as the first packet's start trim, then is `None`.
    Opus {
        pre_skip: Option<u16>,
    },
}

fn carriage(index: usize, track: &Track, endpoint: &str) -> Result<(StreamType, Carriage), Error> {
    let config_err = |source| Error::Ts {
        endpoint: endpoint.to_owned(),
        source,
    };
    Ok(match &track.codec {
        Codec::H264 { config } => (
            StreamType::H264,
            Carriage::Video {
                codec: VideoCodec::H264,
                parameter_sets: nal::avc_parameter_sets(config).map_err(config_err)?,
            },
        ),
        Codec::H265 { config } => (
            StreamType::H265,
            Carriage::Video {
                codec: VideoCodec::H265,
                parameter_sets: nal::hevc_parameter_sets(config).map_err(config_err)?,
            },
        ),
        Codec::Aac { config } => {
            // Checked now, so that a config ADTS cannot carry fails before the first file.
            mpeg_ts::adts::header(config, 0).map_err(config_err)?;
            (
                StreamType::AacAdts,
                Carriage::Aac {
                    config: config.clone(),
                },
            )
        }
        Codec::Mp3 if track.sample_rate >= 32_000 => (StreamType::Mpeg1Audio, Carriage::Frames),
        Codec::Mp3 => (StreamType::Mpeg2Audio, Carriage::Frames),
        Codec::Ac3 { .. } => (StreamType::Ac3, Carriage::Frames),
        Codec::Eac3 { .. } => (StreamType::Eac3, Carriage::Frames),
        // The OpusHead's channel count (mapping family 0: mono or stereo).
        Codec::Opus { head } if matches!(head.get(9), Some(1 | 2)) && head.get(18) == Some(&0) => (
            StreamType::Opus { channels: head[9] },
            Carriage::Opus {
                pre_skip: Some(u16::from_le_bytes([head[10], head[11]])),
            },
        ),
        _ => {
            return Err(Error::Misfit {
                endpoint: endpoint.to_owned(),
                takes: TAKES.into(),
                found: describe(index, track),
            });
        }
    })
}

impl SinkFactory for TsFileFactory {
    fn check(&self, tracks: &[Track]) -> Result<(), Error> {
        let endpoint = self.target.to_string();
        for (index, track) in tracks.iter().enumerate() {
            carriage(index, track, &endpoint)?;
        }
        Ok(())
    }

    fn open(&mut self, tracks: &[Track], _wall: SystemTime) -> Result<Box<dyn Sink>, Error> {
        let endpoint = self.target.to_string();
        let (muxer, carriages) = mux_setup(tracks, &endpoint)?;
        let Target::File(path) = &self.target else {
            let output = PipeOutput(std::io::stdout());
            return Ok(Box::new(TsSink::new(
                muxer, carriages, tracks, endpoint, PIPE_BLOCK, output,
            )));
        };
        let (file, partial) = create_partial(path)?;
        let output = FileOutput {
            file,
            partial,
            path: path.clone(),
            fsync: self.options.fsync_policy() != crate::FsyncPolicy::Never,
        };
        Ok(Box::new(TsSink::new(
            muxer, carriages, tracks, endpoint, BLOCK, output,
        )))
    }
}

/// Where the TS packets go: a file, standard output, or an SRT connection ([`srt`]).
trait TsOutput: Send {
    /// Takes the TS packets gathered (whole 188-byte packets; leaves `buffer` empty or
    /// holding what it keeps for later).
    fn write(&mut self, buffer: &mut Vec<u8>) -> Result<(), Error>;
    /// Writes what is left (whole TS packets) and ends the output; returns the finished
    /// file, if it is one.
    fn finish(self: Box<Self>, rest: Vec<u8>) -> Result<Option<PathBuf>, Error>;
}

/// Muxes the packets into TS and hands them to its output in blocks.
struct TsSink {
    muxer: Muxer,
    carriages: Vec<Carriage>,
    timescales: Vec<u32>,
    buffer: Vec<u8>,
    /// The output's name, for errors.
    endpoint: String,
    /// Bytes gathered before they go out.
    block: usize,
    output: Box<dyn TsOutput>,
}

impl TsSink {
    fn new(
        muxer: Muxer,
        carriages: Vec<Carriage>,
        tracks: &[Track],
        endpoint: String,
        block: usize,
        output: impl TsOutput + 'static,
    ) -> TsSink {
        TsSink {
            muxer,
            carriages,
            timescales: tracks.iter().map(|t| t.timescale.max(1)).collect(),
            buffer: Vec::with_capacity(2 * block),
            endpoint,
            block,
            output: Box::new(output),
        }
    }
}

/// Checks the tracks and makes the muxer: what every TS output opens with.
fn mux_setup(tracks: &[Track], endpoint: &str) -> Result<(Muxer, Vec<Carriage>), Error> {
    let mut types = Vec::with_capacity(tracks.len());
    let mut carriages = Vec::with_capacity(tracks.len());
    for (index, track) in tracks.iter().enumerate() {
        let (stream_type, carriage) = carriage(index, track, endpoint)?;
        types.push(stream_type);
        carriages.push(carriage);
    }
    let muxer = Muxer::new(&types).map_err(|source| Error::Ts {
        endpoint: endpoint.to_owned(),
        source,
    })?;
    Ok((muxer, carriages))
}

struct FileOutput {
    file: File,
    partial: PathBuf,
    path: PathBuf,
    fsync: bool,
}

impl TsOutput for FileOutput {
    fn write(&mut self, buffer: &mut Vec<u8>) -> Result<(), Error> {
        self.file
            .write_all(buffer)
            .map_err(|e| Error::io(format!("writing {}", self.partial.display()), e))?;
        buffer.clear();
        Ok(())
    }

    fn finish(mut self: Box<Self>, mut rest: Vec<u8>) -> Result<Option<PathBuf>, Error> {
        self.write(&mut rest)?;
        if self.fsync {
            self.file
                .sync_all()
                .map_err(|e| Error::io(format!("syncing {}", self.partial.display()), e))?;
        }
        rename_finished(&self.partial, &self.path)?;
        Ok(Some(self.path))
    }
}

/// Standard output.
struct PipeOutput(std::io::Stdout);

impl TsOutput for PipeOutput {
    fn write(&mut self, buffer: &mut Vec<u8>) -> Result<(), Error> {
        let mut out = self.0.lock();
        out.write_all(buffer)
            .and_then(|()| out.flush())
            .map_err(|e| Error::io("writing standard output".to_owned(), e))?;
        buffer.clear();
        Ok(())
    }

    fn finish(mut self: Box<Self>, mut rest: Vec<u8>) -> Result<Option<PathBuf>, Error> {
        self.write(&mut rest)?;
        Ok(None)
    }
}

/// `time` ticks of `timescale` in 90 kHz ticks, rounded to nearest.
fn to_90khz(time: i64, timescale: u32) -> i64 {
    let scale = i128::from(timescale);
    ((i128::from(time) * 90_000 + scale / 2).div_euclid(scale)) as i64
}

impl Sink for TsSink {
    fn write(&mut self, packet: Packet) -> Result<(), Error> {
        let (Some(carriage), Some(&timescale)) = (
            self.carriages.get_mut(packet.track),
            self.timescales.get(packet.track),
        ) else {
            return Ok(());
        };
        let err = |source| Error::Ts {
            endpoint: self.endpoint.clone(),
            source,
        };
        let payload = match carriage {
            Carriage::Video {
                codec,
                parameter_sets,
            } => {
                let sets = packet.keyframe.then_some(&parameter_sets[..]);
                nal::annex_b_pieces(*codec, &packet.data, sets).map_err(err)?
            }
            Carriage::Aac { config } => {
                let header = mpeg_ts::adts::header(config, packet.data.len()).map_err(err)?;
                vec![Bytes::copy_from_slice(&header), packet.data.clone()]
            }
            Carriage::Frames => vec![packet.data.clone()],
            Carriage::Opus { pre_skip } => vec![
                Bytes::from(mpeg_ts::opus::control_header(
                    packet.data.len(),
                    pre_skip.take(),
                )),
                packet.data.clone(),
            ],
        };
        let frame = Frame::new(
            packet.track,
            to_90khz(packet.dts, timescale),
            packet.keyframe,
            &payload,
        )
        .with_pts(to_90khz(
            packet.dts + i64::from(packet.cts_offset),
            timescale,
        ));
        self.muxer.write(&frame, &mut self.buffer).map_err(err)?;
        if self.buffer.len() >= self.block {
            self.output.write(&mut self.buffer)?;
        }
        Ok(())
    }

    fn set_codec(&mut self, track: usize, config: &Track) -> Result<(), Error> {
        let (_, carriage) = carriage(track, config, &self.endpoint)?;
        if let Some(slot) = self.carriages.get_mut(track) {
            *slot = carriage;
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<PathBuf>, Error> {
        self.output.finish(self.buffer)
    }
}

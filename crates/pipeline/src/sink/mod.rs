//! Sinks, one file each: where the recorder's packets go. One [`Sink`] is one output
//! file (or stream); the [`SinkFactory`] of an output endpoint checks the tracks and
//! opens a new sink for each file of a rotation. This file is the output side of the
//! endpoint table: adding a sink is one file and one line in [`factory`].

mod adts;
mod annexb;
mod flv_file;
mod flv_tags;
mod hls;
mod icecast;
mod matroska;
mod mp3;
mod mp4;
mod ogg;
mod raw;
mod rtmp;
mod rtp;
mod rtp_stream;
mod rtsp_listen;
mod samples;
mod stdout;
mod stream_file;
mod tcp_listen;
mod ts;
mod whep;
mod whip;

use crate::contract::SinkFactory;
use crate::naming::FileNames;
use crate::{Endpoint, Error, Options, PipeFormat};
use stream_file::Target;

/// The factory for `output`, checked against the options.
pub(crate) fn factory(output: &Endpoint, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    let no_rotation = |what: &str| {
        if options.segment.is_some() {
            Err(Error::InvalidOptions(format!(
                "--segment (file rotation) needs an .mp4 or .mkv output, not {what}"
            )))
        } else {
            Ok(())
        }
    };
    Ok(match output {
        Endpoint::Mp4File(path) => Box::new(mp4::FileFactory {
            names: FileNames::new(path.clone(), options.segment.is_some()),
            options: options.clone(),
        }),
        Endpoint::MatroskaFile(path) => Box::new(matroska::MatroskaFactory {
            names: Some(FileNames::new(path.clone(), options.segment.is_some())),
            options: options.clone(),
            webm: path
                .extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("webm")),
        }),
        Endpoint::Stdout(format) => {
            no_rotation("stdout")?;
            pipe_factory(*format, options)
        }
        Endpoint::Hls { dir, playlist } => {
            no_rotation("HLS (it is segmented already)")?;
            Box::new(hls::HlsFactory {
                dir: dir.clone(),
                playlist: playlist.clone(),
                options: options.clone(),
            })
        }
        Endpoint::TcpListen(addr) => tcp_listen::factory(addr, options)?,
        Endpoint::WhepListen { addr, path } => whep::factory(addr, path, options)?,
        Endpoint::RtspListen { addr, path } => {
            no_rotation("rtsp-listen:// (a live stream)")?;
            rtsp_listen::factory(addr, path, options)?
        }
        Endpoint::Whip(url) => whip::factory(url, options)?,
        Endpoint::Icecast(url) => {
            no_rotation("icecast:// (a live stream)")?;
            icecast::factory(url, options)?
        }
        Endpoint::FlvFile(path) => {
            no_rotation("an .flv file")?;
            Box::new(flv_file::FlvFactory {
                target: Target::File(path.clone()),
            })
        }
        Endpoint::AacFile(path) => {
            no_rotation("an .aac file")?;
            Box::new(adts::AdtsFactory {
                target: Target::File(path.clone()),
            })
        }
        Endpoint::H264File(path) | Endpoint::H265File(path) => {
            no_rotation("an Annex B file")?;
            let codec = match output {
                Endpoint::H265File(_) => elementary::VideoCodec::H265,
                _ => elementary::VideoCodec::H264,
            };
            Box::new(annexb::AnnexBFactory {
                target: Target::File(path.clone()),
                codec,
            })
        }
        Endpoint::OggFile(path) => {
            no_rotation("an Ogg file")?;
            Box::new(ogg::OggFactory {
                target: Target::File(path.clone()),
            })
        }
        Endpoint::Mp3File(path) => {
            no_rotation("an .mp3 file")?;
            Box::new(mp3::Mp3Factory {
                target: Target::File(path.clone()),
            })
        }
        Endpoint::TsFile(path) => {
            no_rotation("a .ts output")?;
            Box::new(ts::TsFileFactory {
                target: Target::File(path.clone()),
                options: options.clone(),
            })
        }
        Endpoint::Srt(url) | Endpoint::SrtListen(url) => {
            no_rotation("an SRT output (a live stream)")?;
            ts::srt::factory(url)?
        }
        Endpoint::Rtmp(url) => {
            no_rotation("an RTMP output (a live stream)")?;
            rtmp::factory(url)?
        }
        Endpoint::Rtp(addr) => {
            no_rotation("an RTP output (a live stream)")?;
            rtp::factory(addr, options)?
        }
        Endpoint::RawOutput(raw) => {
            no_rotation("a raw output")?;
            Box::new(raw::RawFactory {
                side: Some(raw.take()?),
            })
        }
        other => {
            return Err(Error::UnsupportedEndpoint {
                endpoint: other.to_string(),
                direction: crate::Direction::Output,
            });
        }
    })
}

/// The sink writing `format` on standard output: the file sinks, given stdout as target.
fn pipe_factory(format: PipeFormat, options: &Options) -> Box<dyn SinkFactory> {
    let target = Target::Stdout;
    let options = options.clone();
    match format {
        PipeFormat::Ts => Box::new(ts::TsFileFactory { target, options }),
        PipeFormat::Matroska | PipeFormat::Webm => Box::new(matroska::MatroskaFactory {
            names: None,
            options,
            webm: format == PipeFormat::Webm,
        }),
        PipeFormat::Mp3 => Box::new(mp3::Mp3Factory { target }),
        PipeFormat::Aac => Box::new(adts::AdtsFactory { target }),
        PipeFormat::H264 | PipeFormat::H265 => Box::new(annexb::AnnexBFactory {
            target,
            codec: match format {
                PipeFormat::H265 => elementary::VideoCodec::H265,
                _ => elementary::VideoCodec::H264,
            },
        }),
        PipeFormat::Opus => Box::new(ogg::OggFactory { target }),
        _ => Box::new(stdout::StdoutFactory { options }),
    }
}

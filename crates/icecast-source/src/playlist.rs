//! MP3 inputs (files, or stdin) read on a blocking thread into wire frames: tags and the
//! Info/Xing frame never go on the wire (a player whose stream starts at an Info frame may
//! take it for a header), and every file must have the first file's format (ISO/IEC
//! 11172-3 §2.4.2.3: version, layer, sample rate, channels), since listeners' decoders were
//! set up for it.

use std::io::Read;
use std::path::PathBuf;

use bytes::Bytes;
use mp3_frames::{Event as Mp3Event, FrameHeader, FrameReader, Layer};
use tokio::sync::mpsc;

use crate::{AudioFrame, Error};

/// One input of a playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mp3Input {
    /// An MP3 file.
    File(PathBuf),
    /// MP3 on standard input.
    Stdin,
}

impl Mp3Input {
    /// The file's path, or `stdin`.
    pub fn name(&self) -> String {
        match self {
            Mp3Input::File(p) => p.display().to_string(),
            Mp3Input::Stdin => "stdin".into(),
        }
    }

    fn open(&self) -> Result<Box<dyn Read + Send>, Error> {
        Ok(match self {
            Mp3Input::File(p) => Box::new(
                std::fs::File::open(p)
                    .map_err(|e| Error::io(format!("opening {}", p.display()), e))?,
            ),
            Mp3Input::Stdin => Box::new(std::io::stdin()),
        })
    }
}

/// The format every frame of a stream keeps (what a listener's decoder was set up for).
pub(crate) fn same_format(a: FrameHeader, b: FrameHeader) -> bool {
    a.version() == b.version()
        && a.layer() == b.layer()
        && a.sample_rate() == b.sample_rate()
        && a.mode().channels() == b.mode().channels()
}

pub(crate) fn describe(h: FrameHeader) -> String {
    format!(
        "{} Layer {} {} Hz {} ch",
        h.version().as_str(),
        h.layer().number(),
        h.sample_rate(),
        h.mode().channels()
    )
}

/// A frame for the wire and its header.
pub(crate) type HeadedFrame = (FrameHeader, AudioFrame);

/// Reads the inputs in order on a blocking thread and sends their audio frames, at most
/// `depth` ahead of the consumer (bounded memory). An error (unreadable file, not MP3, a
/// format change) is sent as the last item.
pub(crate) fn spawn_reader(
    inputs: Vec<Mp3Input>,
    depth: usize,
) -> mpsc::Receiver<Result<HeadedFrame, Error>> {
    let (tx, rx) = mpsc::channel(depth.max(1));
    std::thread::spawn(move || {
        if let Err(e) = read_all(&inputs, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn read_all(
    inputs: &[Mp3Input],
    tx: &mpsc::Sender<Result<HeadedFrame, Error>>,
) -> Result<(), Error> {
    let mut format: Option<FrameHeader> = None;
    for input in inputs {
        let mut frames = 0u64;
        for event in FrameReader::new(input.open()?) {
            let event = event.map_err(|e| Error::io(format!("reading {}", input.name()), e))?;
            let Mp3Event::Frame(frame) = event else {
                continue;
            };
            let header = frame.header;
            if header.layer() != Layer::Layer3 {
                return Err(Error::NotMp3 {
                    input: input.name(),
                    found: describe(header),
                });
            }
            match format {
                None => format = Some(header),
                Some(f) if !same_format(f, header) => {
                    return Err(Error::FormatChange {
                        input: input.name(),
                        offset: frame.offset,
                        from: describe(f),
                        to: describe(header),
                    });
                }
                Some(_) => {}
            }
            frames += 1;
            let wire = AudioFrame::new(
                Bytes::clone(&frame.data),
                frame.samples(),
                header.sample_rate(),
            );
            if tx.blocking_send(Ok((header, wire))).is_err() {
                return Ok(()); // the stream stopped
            }
        }
        if frames == 0 {
            return Err(Error::NotMp3 {
                input: input.name(),
                found: "no MPEG audio frames".into(),
            });
        }
    }
    Ok(())
}

/// Counts the audio frames of the file inputs (for progress); `None` with stdin.
pub(crate) fn count_frames(inputs: &[Mp3Input]) -> Option<u64> {
    let mut total = 0;
    for input in inputs {
        let Mp3Input::File(_) = input else {
            return None;
        };
        let reader = FrameReader::new(input.open().ok()?);
        total += reader
            .filter(|e| matches!(e, Ok(Mp3Event::Frame(_))))
            .count() as u64;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Mp3Input {
        Mp3Input::File(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures")
                .join(name),
        )
    }

    fn collect(inputs: Vec<Mp3Input>) -> Vec<Result<HeadedFrame, Error>> {
        let mut rx = spawn_reader(inputs, 4);
        let mut out = Vec::new();
        while let Some(item) = rx.blocking_recv() {
            out.push(item);
        }
        out
    }

    #[test]
    fn playlist_frames_follow_each_other_without_tags_or_info_frame() {
        let one = collect(vec![fixture("id3v2-cover.mp3")]);
        assert!(one.iter().all(Result::is_ok));
        let n = one.len() as u64;
        assert_eq!(count_frames(&[fixture("id3v2-cover.mp3")]), Some(n));
        let two = collect(vec![fixture("id3v2-cover.mp3"), fixture("id3v2-cover.mp3")]);
        assert_eq!(two.len() as u64, 2 * n);
        for item in &two {
            let (header, frame) = item.as_ref().unwrap();
            assert_eq!(
                &frame.data[..4],
                &header.to_bytes()[..],
                "every wire frame starts with its header"
            );
        }
    }

    #[test]
    fn format_change_and_non_mp3_are_clear_errors() {
        let items = collect(vec![
            fixture("sine-44100-cbr128.mp3"),
            fixture("mpeg2-24000-mono-cbr64.mp3"),
        ]);
        let err = items.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(
            err.contains("format change") && err.contains("24000"),
            "{err}"
        );
        let items = collect(vec![fixture("h264.mp4")]);
        let err = items.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(err.contains("not MP3") && err.contains("h264.mp4"), "{err}");
        let items = collect(vec![fixture("layer2-44100-stereo-192k.mp2")]);
        let err = items.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(err.contains("Layer 2"), "{err}");
    }
}

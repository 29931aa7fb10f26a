//! MP3 inputs (files, or stdin) read on a blocking thread into wire frames: tags and the
//! Info/Xing frame never go on the wire (a player whose stream starts at an Info frame may
//! take it for a header), and every file must have the first file's format (ISO/IEC
//! 11172-3 §2.4.2.3: version, layer, sample rate, channels), since listeners' decoders were
//! set up for it.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use mp3_frames::{Event as Mp3Event, FrameHeader, FrameReader, Layer, TagText};
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
/// `title` receives the first input's `Artist – Title` from its tags (files only) before
/// its first frame is sent.
pub(crate) fn spawn_reader(
    inputs: Vec<Mp3Input>,
    depth: usize,
    title: Option<Arc<OnceLock<String>>>,
) -> mpsc::Receiver<Result<HeadedFrame, Error>> {
    let (tx, rx) = mpsc::channel(depth.max(1));
    std::thread::spawn(move || {
        if let (Some(slot), Some(Mp3Input::File(path))) = (title, inputs.first())
            && let Some(title) = read_title(path)
        {
            let _ = slot.set(title);
        }
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

/// Bytes read at the end of a file for ID3v1 and APE tags (an APE tag with text items
/// only is far smaller).
const TAIL: u64 = 64 * 1024;
/// Largest ID3v2 tag read for its text (cover art can make tags large).
const MAX_ID3V2: u64 = 16 * 1024 * 1024;

/// `Artist – Title` from a file's ID3v2 tag at its start, or its APE / ID3v1 tags at its
/// end (parsed by [`TagText`]); `None` when unreadable or untagged.
pub(crate) fn read_title(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut head = [0u8; 10];
    let mut text = TagText::default();
    if file.read_exact(&mut head).is_ok() && head.starts_with(b"ID3") {
        let size = head[6..10]
            .iter()
            .fold(0u64, |a, &b| (a << 7) | u64::from(b & 0x7F));
        let mut tag = head.to_vec();
        file.by_ref()
            .take(size.min(MAX_ID3V2))
            .read_to_end(&mut tag)
            .ok()?;
        text = TagText::scan(&tag);
    }
    let start = len.saturating_sub(TAIL);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut tail = Vec::new();
    file.take(TAIL).read_to_end(&mut tail).ok()?;
    text.or(TagText::scan(&tail)).stream_title()
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
        let mut rx = spawn_reader(inputs, 4, None);
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

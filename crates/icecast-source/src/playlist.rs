//! Song inputs (MP3, ADTS AAC or Ogg Opus/Vorbis files, or MP3 on stdin) read on a
//! blocking thread into wire frames: tags and the Info/Xing frame never go on the wire (a
//! player whose stream starts at an Info frame may take it for a header), and every file
//! must have the first file's format (ISO/IEC 11172-3 §2.4.2.3: version, layer, sample
//! rate, channels; ISO/IEC 14496-3 §1.A.2.2 for ADTS; codec and channels for Ogg), since
//! listeners' decoders were set up for it. Ogg songs are rewritten into a logical stream
//! of their own ([`crate::ogg::song_frames`]).

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use mp3_frames::{Event as Mp3Event, FrameReader, Layer, TagText};
use tokio::sync::mpsc;

use crate::adts::AdtsHeader;
use crate::format::{Format, describe};
use crate::{AudioFrame, Error, ogg};

/// One input of a playlist: an MP3, ADTS AAC (`.aac`) or Ogg Opus/Vorbis (`.opus`,
/// `.ogg`) file, told apart by its first bytes, or MP3 on stdin. (The name is older than
/// the other formats.)
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mp3Input {
    /// An MP3, AAC or Ogg file.
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

/// A frame for the wire and the format it has.
pub(crate) type HeadedFrame = (Format, AudioFrame);

/// Reads the inputs in order on a blocking thread and sends their audio frames, at most
/// `depth` ahead of the consumer (bounded memory for MP3, read as a stream; AAC and Ogg
/// files are read whole, a few MB per song). An error (unreadable file, not MP3/AAC/Ogg,
/// a format change) is sent as the last item. Ogg songs become logical streams `serial`,
/// `serial + 1`, ... in order.
/// `title` receives the first input's `Artist – Title` from its tags (files only) before
/// its first frame is sent.
pub(crate) fn spawn_reader(
    inputs: Vec<Mp3Input>,
    depth: usize,
    title: Option<Arc<OnceLock<String>>>,
    serial: u32,
) -> mpsc::Receiver<Result<HeadedFrame, Error>> {
    let (tx, rx) = mpsc::channel(depth.max(1));
    std::thread::spawn(move || {
        if let (Some(slot), Some(Mp3Input::File(path))) = (title, inputs.first())
            && let Some(title) = read_title(path)
        {
            let _ = slot.set(title);
        }
        if let Err(e) = read_all(&inputs, serial, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn read_all(
    inputs: &[Mp3Input],
    serial: u32,
    tx: &mpsc::Sender<Result<HeadedFrame, Error>>,
) -> Result<(), Error> {
    let mut format: Option<Format> = None;
    for (i, input) in inputs.iter().enumerate() {
        let mut frames = 0u64;
        let mut send = |frame: Result<HeadedFrame, Error>, offset: u64| -> Result<bool, Error> {
            let (header, wire) = frame?;
            match format {
                None => format = Some(header),
                Some(f) if !f.same_format(header) => {
                    return Err(Error::FormatChange {
                        input: input.name(),
                        offset,
                        from: f.describe(),
                        to: header.describe(),
                    });
                }
                Some(_) => {}
            }
            frames += 1;
            // `false`: the stream stopped.
            Ok(tx.blocking_send(Ok((header, wire))).is_ok())
        };
        let kind = song_kind(input)?;
        match kind {
            SongKind::Mp3 => {
                for event in FrameReader::new(input.open()?) {
                    let event =
                        event.map_err(|e| Error::io(format!("reading {}", input.name()), e))?;
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
                    let wire = AudioFrame::new(
                        Bytes::clone(&frame.data),
                        frame.samples(),
                        header.sample_rate(),
                    );
                    if !send(Ok((Format::Mp3(header), wire)), frame.offset)? {
                        return Ok(());
                    }
                }
            }
            SongKind::Aac | SongKind::Ogg => {
                let Mp3Input::File(path) = input else {
                    return Ok(()); // stdin is read as MP3
                };
                let data = Bytes::from(
                    std::fs::read(path)
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?,
                );
                let name = input.name();
                let song = if kind == SongKind::Aac {
                    aac_song(&name, data)?
                } else {
                    let serial = serial.wrapping_add(i as u32);
                    let (codec, frames) = ogg::song_pages(&name, data, serial)?;
                    frames
                        .into_iter()
                        .map(|f| (Format::Ogg(Some(codec)), f))
                        .collect()
                };
                for (n, frame) in song.into_iter().enumerate() {
                    if !send(Ok(frame), n as u64)? {
                        return Ok(());
                    }
                }
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

/// What a song file holds, from its first bytes after an ID3v2 tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SongKind {
    Mp3,
    /// ADTS AAC (`FFF` sync with layer 0, ISO/IEC 14496-3 §1.A.2.2).
    Aac,
    /// Ogg pages (`OggS`, RFC 3533 §6).
    Ogg,
}

/// Length of the ID3v2 tag at the start of `head` (0 without one), footer included.
fn id3v2_len(head: &[u8]) -> u64 {
    match head {
        [b'I', b'D', b'3', _, _, flags, s @ ..] if s.len() >= 4 => {
            let size = s[..4]
                .iter()
                .fold(0u64, |a, &b| (a << 7) | u64::from(b & 0x7F));
            10 + size + if flags & 0x10 != 0 { 10 } else { 0 }
        }
        _ => 0,
    }
}

/// Tells MP3, ADTS AAC and Ogg files apart by their first bytes (stdin is MP3).
pub(crate) fn song_kind(input: &Mp3Input) -> Result<SongKind, Error> {
    let Mp3Input::File(path) = input else {
        return Ok(SongKind::Mp3);
    };
    let fail = |e| Error::io(format!("reading {}", path.display()), e);
    let mut file = std::fs::File::open(path).map_err(fail)?;
    let mut head = Vec::new();
    file.by_ref()
        .take(10)
        .read_to_end(&mut head)
        .map_err(fail)?;
    let skip = id3v2_len(&head);
    if skip > 0 {
        head.clear();
        file.seek(SeekFrom::Start(skip)).map_err(fail)?;
    }
    let mut rest = Vec::new();
    file.take(4).read_to_end(&mut rest).map_err(fail)?;
    let start = if skip > 0 { &rest[..] } else { &head[..] };
    Ok(match start {
        [b'O', b'g', b'g', b'S', ..] => SongKind::Ogg,
        [0xFF, b, ..] if b & 0xF6 == 0xF0 => SongKind::Aac,
        _ => SongKind::Mp3,
    })
}

/// The ADTS frames of an AAC file (after any ID3v2 tag; an ID3v1 or APE tag at the end
/// ends it), sliced from `data`.
fn aac_song(name: &str, data: Bytes) -> Result<Vec<HeadedFrame>, Error> {
    let mut at = usize::try_from(id3v2_len(&data))
        .unwrap_or(usize::MAX)
        .min(data.len());
    let mut frames = Vec::new();
    while at < data.len() {
        let rest = &data[at..];
        let header = match AdtsHeader::parse(rest) {
            Ok(h) if h.frame_length <= rest.len() => h,
            Ok(h) => {
                return Err(Error::NotAdts {
                    input: name.to_owned(),
                    found: format!(
                        "frame of {} bytes at byte {at} cut off after {}",
                        h.frame_length,
                        rest.len()
                    ),
                });
            }
            Err(_) if !frames.is_empty() && is_trailing_tag(rest) => break,
            Err(found) => {
                return Err(Error::NotAdts {
                    input: name.to_owned(),
                    found: format!("{found} at byte {at}"),
                });
            }
        };
        let wire = AudioFrame::new(
            data.slice(at..at + header.frame_length),
            header.samples(),
            header.sample_rate,
        );
        frames.push((Format::Aac(header), wire));
        at += header.frame_length;
    }
    Ok(frames)
}

/// An ID3v1, APE or appended ID3v2 tag after the audio.
fn is_trailing_tag(rest: &[u8]) -> bool {
    rest.starts_with(b"TAG") || rest.starts_with(b"APETAGEX") || rest.starts_with(b"ID3")
}

/// Bytes read at the end of a file for ID3v1 and APE tags (an APE tag with text items
/// only is far smaller).
const TAIL: u64 = 64 * 1024;
/// Largest ID3v2 tag read for its text (cover art can make tags large).
const MAX_ID3V2: u64 = 16 * 1024 * 1024;

/// `Artist – Title` from a file's ID3v2 tag at its start, or its APE / ID3v1 tags at its
/// end (parsed by [`TagText`]), or an Ogg file's comment header; `None` when unreadable
/// or untagged.
pub(crate) fn read_title(path: &Path) -> Option<String> {
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let mut head = [0u8; 10];
    let mut text = TagText::default();
    let _ = file.read_exact(&mut head);
    if head.starts_with(b"OggS") {
        // The comment header is the stream's second packet, on its second page.
        let mut start = head.to_vec();
        file.take(TAIL).read_to_end(&mut start).ok()?;
        let page = ogg::OggPages::new(start.into()).nth(1)?.ok()?;
        return ogg::comment_text(page.body()).stream_title();
    }
    if head.starts_with(b"ID3") {
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

/// Counts the frames (Ogg: pages) of the file inputs (for progress); `None` with stdin.
pub(crate) fn count_frames(inputs: &[Mp3Input]) -> Option<u64> {
    let mut total = 0;
    for input in inputs {
        let Mp3Input::File(path) = input else {
            return None;
        };
        total += match song_kind(input).ok()? {
            SongKind::Mp3 => FrameReader::new(input.open().ok()?)
                .filter(|e| matches!(e, Ok(Mp3Event::Frame(_))))
                .count() as u64,
            SongKind::Aac => aac_song(&input.name(), std::fs::read(path).ok()?.into())
                .map_or(0, |f| f.len() as u64),
            SongKind::Ogg => ogg::OggPages::new(std::fs::read(path).ok()?.into())
                .map_while(Result::ok)
                .count() as u64,
        };
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
        let mut rx = spawn_reader(inputs, 4, None, 1);
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
            let (Format::Mp3(header), frame) = item.as_ref().unwrap() else {
                panic!("MP3 frames")
            };
            assert_eq!(
                &frame.data[..4],
                &header.to_bytes()[..],
                "every wire frame starts with its header"
            );
        }
    }

    #[test]
    fn aac_files_are_told_by_their_bytes_and_their_tags_stay_off_the_wire() {
        let path = std::env::temp_dir().join(format!("icecast-aac-{}.aac", std::process::id()));
        // ID3v2.4 tag of 5 bytes, two ADTS frames (AAC LC, 44.1 kHz, stereo), an ID3v1 tag.
        let mut file = b"ID3\x04\0\0\0\0\0\x05hello".to_vec();
        let frame = crate::adts::frame(&[0x12, 0x10], &[0x21; 20]).unwrap();
        file.extend_from_slice(&frame);
        file.extend_from_slice(&frame);
        file.extend_from_slice(b"TAG");
        file.resize(file.len() + 125, b' ');
        std::fs::write(&path, &file).unwrap();
        let input = Mp3Input::File(path.clone());
        assert_eq!(song_kind(&input).unwrap(), SongKind::Aac);
        assert_eq!(count_frames(std::slice::from_ref(&input)), Some(2));
        let items = collect(vec![input.clone(), input]);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(items.len(), 4);
        for item in items {
            let (format, wire) = item.unwrap();
            assert!(matches!(format, Format::Aac(h) if h.sample_rate == 44_100));
            assert_eq!(wire.data, frame, "the frame, without tags");
            assert_eq!(wire.samples, 1024);
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

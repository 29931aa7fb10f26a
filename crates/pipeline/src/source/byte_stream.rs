//! A byte stream of unknown format, read as it comes: `-` (standard input) and an HTTP
//! body (an Icecast mount, TS over HTTP, HLS segments, HTTP-FLV). MP3, ADTS AAC, MPEG-TS,
//! FLV or fragmented MP4, told apart by the first bytes (a TS packet's sync byte at the start and
//! 188 bytes on, as ffmpeg's probe looks for it; `ftyp` or `styp` for MP4; ADTS's 12-bit
//! sync with layer 0); every frame goes on at once, as from a live source. Formats read
//! by seeking here (plain MP4, Matroska, Ogg) are named in one line.

use std::io::{Cursor, Read};

use tokio::sync::{mpsc, watch};

use super::{FileSender, adts, flv_file, mp3, mp4, ts};
use crate::Error;
use crate::contract::InputEvent;

/// Bytes looked at: three TS packets.
const HEAD: usize = 3 * 188;

pub(crate) async fn run(
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    super::on_reader_thread("stdin".into(), move || {
        read("stdin", std::io::stdin(), FileSender::unbatched(tx), &stop)
    })
    .await
}

/// Reads `input` (named `name` in messages) on the calling thread, its events to `tx`
/// (unbatched for a live stream, batched for files joined: a playlist's segments).
pub(crate) fn read<R: Read>(
    name: &str,
    mut input: R,
    mut tx: FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut head = Vec::with_capacity(HEAD);
    (&mut input)
        .take(HEAD as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(format!("reading {name}"), e))?;
    let format = sniff(&head);
    let input = Cursor::new(head).chain(input);
    match format {
        Ok(Format::Mp4) => {
            let mut emit = |event| !*stop.borrow() && tx.send(event);
            mp4::read_stream(name, input, &mut emit)
        }
        Ok(Format::Ts) => ts::read_blocking(name.to_owned(), input, tx, stop),
        Ok(Format::Mp3) => mp3::read(name, input, &mut tx, stop),
        Ok(Format::Adts) => adts::read(name, input, &mut tx, stop),
        Ok(Format::Flv) => flv_file::read(name, input, &mut tx, stop),
        Err(format) => Err(Error::Input {
            input: name.to_owned(),
            reason: format!(
                "{format} cannot be read as a stream here (MP3, ADTS AAC, MPEG-TS, FLV and fragmented MP4 can): give it as a file"
            ),
        }),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Format {
    Ts,
    Mp3,
    /// Fragmented MP4 (a plain one is refused by the reader, which sees its `moov`).
    Mp4,
    /// ADTS AAC (an AAC radio mount).
    Adts,
    /// FLV (HTTP-FLV, an `.flv` piped in).
    Flv,
}

/// What the first bytes are: TS, MP3 (what is not recognised: the MP3 reader searches
/// for frames and says when it finds none), or the name of a format not read from pipes.
/// After an ID3v2 tag that ends within them, ADTS is told too (HLS packed audio, RFC
/// 8216 §3.4: each segment starts with a tag holding its timestamp).
fn sniff(head: &[u8]) -> Result<Format, &'static str> {
    let sync_at = |at: usize| head.get(at) == Some(&0x47);
    if sync_at(0) && sync_at(188) && (head.len() <= 376 || sync_at(376)) {
        return Ok(Format::Ts);
    }
    let after_tag = adts::id3v2_length(head).and_then(|tag| head.get(tag..));
    if let Some([0xFF, b, ..]) = after_tag
        && b & 0xF6 == 0xF0
    {
        return Ok(Format::Adts);
    }
    match head {
        [b'F', b'L', b'V', 1, ..] => Ok(Format::Flv),
        [0x1A, 0x45, 0xDF, 0xA3, ..] => Err("Matroska"),
        [b'O', b'g', b'g', b'S', ..] => Err("Ogg"),
        [_, _, _, _, b'f', b't', b'y', b'p', ..] | [_, _, _, _, b's', b't', b'y', b'p', ..] => {
            Ok(Format::Mp4)
        }
        // ADTS: a 12-bit sync and layer 0 (MPEG audio's layers are 1 to 3).
        [0xFF, b, ..] if b & 0xF6 == 0xF0 => Ok(Format::Adts),
        _ => Ok(Format::Mp3),
    }
}

#[cfg(test)]
mod tests {
    use super::{Format, sniff};

    #[test]
    fn the_first_bytes_say_the_format() {
        let mut ts = vec![0u8; 564];
        for at in [0, 188, 376] {
            ts[at] = 0x47;
        }
        assert_eq!(sniff(&ts), Ok(Format::Ts));
        assert_eq!(sniff(&ts[..200]), Ok(Format::Ts), "a short stream");
        ts[376] = 0;
        assert_eq!(sniff(&ts), Ok(Format::Mp3), "two syncs are not enough");
        assert_eq!(sniff(b"ID3\x04\0\0\0\0\0\0"), Ok(Format::Mp3));
        let packed = b"ID3\x04\0\0\0\0\0\x02ab\xFF\xF1\x50\x80";
        assert_eq!(sniff(packed), Ok(Format::Adts), "HLS packed audio");
        assert_eq!(
            sniff(b"ID3\x04\0\0\0\0\0\x02ab\xFF\xFB\x90"),
            Ok(Format::Mp3)
        );
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Ok(Format::Mp3));
        assert_eq!(sniff(&[0xFF, 0xF1, 0x50, 0x80]), Ok(Format::Adts));
        assert_eq!(sniff(b"\0\0\0\x20ftypisom"), Ok(Format::Mp4));
        assert_eq!(sniff(&[0x1A, 0x45, 0xDF, 0xA3, 0x9F]), Err("Matroska"));
        assert_eq!(sniff(b"OggS\0\x02"), Err("Ogg"));
        assert_eq!(sniff(b"FLV\x01\x05\0\0\0\x09"), Ok(Format::Flv));
        assert_eq!(sniff(&[]), Ok(Format::Mp3), "empty: the MP3 reader says so");
    }
}

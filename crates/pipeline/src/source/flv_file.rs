//! FLV as input: `.flv` files (OBS's recordings, ffmpeg's `-f flv`) and FLV byte streams
//! (HTTP-FLV as SRS and nginx-http-flv serve it, standard input: the byte-stream reader
//! tells them by their `FLV` header). The `flv` crate's file framing gives each tag;
//! video and audio tags go through `flv_tags` as an RTMP publisher's do (H.264, H.265,
//! AAC), so a file and a live publish become the same tracks and packets. Script tags
//! (`onMetaData`) are skipped; the file header's audio and video flags say which sequence
//! headers to wait for. A stream that ends inside a tag keeps what came before it (a
//! warning).

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::PathBuf;

use bytes::Bytes;
use flv::file::{FileHeader, TAG_HEAD, TagHead, TagKind};
use tokio::sync::{mpsc, watch};

use super::flv_tags::Ingest;
use super::{FileSender, fill};
use crate::Error;
use crate::contract::InputEvent;

pub(crate) async fn run_file(
    path: PathBuf,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    super::on_reader_thread("FLV".into(), move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        let input = BufReader::with_capacity(64 * 1024, file);
        read(&name, input, &mut FileSender::new(tx), &stop)
    })
    .await
}

/// Reads FLV from `input` as it comes (a file, standard input, an HTTP body).
pub(crate) fn read<R: Read>(
    name: &str,
    mut input: R,
    tx: &mut FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let mut head = [0u8; 9];
    let got = fill(&mut input, &mut head, 0, name)?;
    let (header, data_offset) =
        FileHeader::parse(&head[..got]).map_err(|e| invalid(e.to_string()))?;
    skip(&mut input, data_offset - head.len(), name)?;
    let mut ingest = Ingest::default();
    ingest.video_expected = header.video;
    ingest.audio_expected = header.audio;
    let mut offset = data_offset;
    // Each tag: the size of the one before it, then its header.
    let mut tag = [0u8; 4 + TAG_HEAD];
    loop {
        if *stop.borrow() {
            return Ok(());
        }
        let got = fill(&mut input, &mut tag, offset as u64, name)?;
        if got < tag.len() {
            if got > 4 {
                tracing::warn!(
                    input = name,
                    "the stream ends inside the tag header at byte {}",
                    offset + 4
                );
            }
            break;
        }
        let tag_head = TagHead::parse(&tag[4..]).map_err(|e| invalid(e.to_string()))?;
        let size = tag_head.size as usize;
        // Grown as bytes come, not reserved: a header may claim more than the stream holds.
        let mut payload = Vec::new();
        let got = (&mut input)
            .take(size as u64)
            .read_to_end(&mut payload)
            .map_err(|e| Error::io(format!("reading {name} at byte {offset}"), e))?;
        if got < size {
            tracing::warn!(
                input = name,
                "the stream ends inside the tag at byte {}",
                offset + 4
            );
            break;
        }
        let data = Bytes::from(payload);
        match tag_head.kind {
            TagKind::Video => ingest.video(data, tag_head.timestamp, name)?,
            TagKind::Audio => ingest.audio(data, tag_head.timestamp, name)?,
            TagKind::Script | TagKind::Other(_) => {}
        }
        for event in ingest.take() {
            if !tx.send(event) {
                return Ok(()); // the recorder stopped (duration reached)
            }
        }
        offset += tag.len() + size;
    }
    ingest.finish(name)?;
    for event in ingest.take() {
        if !tx.send(event) {
            return Ok(());
        }
    }
    if !ingest.has_tracks() {
        return Err(invalid(
            "no H.264, H.265, AAC or MP3 tag (other FLV codecs are not read)".into(),
        ));
    }
    Ok(())
}

fn skip<R: Read>(input: &mut R, bytes: usize, name: &str) -> Result<(), Error> {
    std::io::copy(&mut input.take(bytes as u64), &mut std::io::sink())
        .map(|_| ())
        .map_err(|e| Error::io(format!("reading {name}"), e))
}

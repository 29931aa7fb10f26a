//! Fragmented MP4 read as a stream (standard input, an HTTP body, HLS fMP4 segments
//! joined after their initialization segment): the top-level boxes in order, `moov`
//! (with `mvex`) before the first `moof`, each `moof` + `mdat` demuxed as it arrives,
//! nothing sought. A plain MP4 cannot be read this way (its samples are indexed in a
//! `moov` that may come last): one line says to give it as a file. Memory: one fragment
//! at a time, at most [`MAX_BOX`].
//!
//! A later `moov` (HLS after a new `EXT-X-MAP`: another picture size, other parameter
//! sets) is followed when it has the same tracks (ids, kinds, timescales): the
//! fragments after it are demuxed with it, and a track whose description changed gets
//! an [`InputEvent::TrackUpdated`] before its first sample under the new one, as a sample
//! entry change in one file does. Other tracks end the input with one line.

use std::io::Read;

use shiguredo_mp4::demux::Fmp4SegmentDemuxer;

use super::tracks::Chosen;
use super::{Open, Output, chosen_tracks, emit_fragment, quicktime};
use crate::Error;
use crate::contract::InputEvent;
use crate::source::fill;

/// The largest `moov`, `moof` or `mdat` read (a fragment is held whole).
const MAX_BOX: u64 = 64 << 20;

const PLAIN: &str = "a plain MP4 (samples indexed in moov) cannot be read as a stream: \
                     give it as a file, or write it fragmented";

/// A top-level box: its type, size, and the header bytes read.
type BoxStart = ([u8; 4], u64, Vec<u8>);

pub(crate) fn read_stream<R: Read>(
    name: &str,
    input: R,
    emit: &mut dyn FnMut(InputEvent) -> Open,
) -> Result<(), Error> {
    read_stream_tracks(name, input, &[], emit)
}

/// [`read_stream`] of the tracks `track_ids` (the first video and audio without).
pub(crate) fn read_stream_tracks<R: Read>(
    name: &str,
    mut input: R,
    track_ids: &[u32],
    emit: &mut dyn FnMut(InputEvent) -> Open,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let mut offset = 0u64;
    let (moov_at, moov) = loop {
        let Some((kind, size, head)) = next_box(&mut input, offset, name, &invalid)? else {
            return Err(invalid("no moov box before the end of the stream".into()));
        };
        match &kind {
            b"moov" => {
                let mut moov = Vec::new();
                if !append_box(&mut input, size, &head, &mut moov, offset, name, &invalid)? {
                    return Err(invalid("the stream ends inside its moov box".into()));
                }
                break (offset, moov);
            }
            b"mdat" | b"moof" => return Err(invalid(PLAIN.into())),
            _ => skip(&mut input, size - head.len() as u64, offset, &invalid)?,
        }
        offset += size;
    };
    offset += moov.len() as u64;
    let mut moov = quicktime::normalize_moov(&moov).unwrap_or(moov);
    let (parsed, chosen) = chosen_tracks(&moov, moov_at, name, track_ids, &invalid)?;
    if parsed.mvex_box.is_none() {
        return Err(invalid(PLAIN.into()));
    }
    let mut demuxer = Fmp4SegmentDemuxer::new();
    demuxer
        .handle_init_segment(&moov)
        .map_err(|e| invalid(format!("moov box: {e}")))?;
    let mut out = Output::new(chosen, emit);
    if !out.send(InputEvent::Tracks(
        out.tracks.iter().map(|c| c.track.clone()).collect(),
    )) {
        return Ok(());
    }
    while let Some((kind, size, head)) = next_box(&mut input, offset, name, &invalid)? {
        let at = offset;
        offset += size;
        match &kind {
            b"moof" => {
                let mut fragment = Vec::new();
                if !append_box(&mut input, size, &head, &mut fragment, at, name, &invalid)? {
                    break;
                }
                let Some((mdat, mdat_size, mdat_head)) =
                    next_box(&mut input, offset, name, &invalid)?
                else {
                    tracing::warn!(input = name, "the stream ends after the moof at byte {at}");
                    break;
                };
                if &mdat != b"mdat" {
                    return Err(invalid(format!("no mdat after the moof at byte {at}")));
                }
                // Read straight after the moof: the demuxer takes the fragment as one buffer.
                if !append_box(
                    &mut input,
                    mdat_size,
                    &mdat_head,
                    &mut fragment,
                    offset,
                    name,
                    &invalid,
                )? {
                    break;
                }
                offset += mdat_size;
                if !emit_fragment(&mut demuxer, fragment, at, size, &mut out, &invalid)? {
                    return Ok(());
                }
            }
            // The same initialization again (HLS segments joined with their map) is
            // skipped; a different one is followed (see the module docs).
            b"moov" => {
                let mut again = Vec::new();
                if !append_box(&mut input, size, &head, &mut again, at, name, &invalid)? {
                    break;
                }
                let again = quicktime::normalize_moov(&again).unwrap_or(again);
                if again != moov {
                    demuxer = follow(&again, at, track_ids, &mut out, name, &invalid)?;
                    moov = again;
                }
            }
            _ => skip(&mut input, size - head.len() as u64, at, &invalid)?,
        }
    }
    out.finish();
    Ok(())
}

/// A new `moov` at byte `at` with the tracks `out` reads (see the module docs): the
/// demuxer for the fragments after it. The tracks keep their descriptions until their
/// first sample under it says otherwise (`Output::packet`); their edit shifts are the
/// new `moov`'s.
fn follow(
    moov: &[u8],
    at: u64,
    track_ids: &[u32],
    out: &mut Output<'_>,
    name: &str,
    invalid: &dyn Fn(String) -> Error,
) -> Result<Fmp4SegmentDemuxer, Error> {
    let (parsed, chosen) = chosen_tracks(moov, at, name, track_ids, invalid)?;
    let same = |a: &Chosen, b: &Chosen| {
        a.track_id == b.track_id
            && a.track.kind == b.track.kind
            && a.track.timescale == b.track.timescale
    };
    if parsed.mvex_box.is_none()
        || chosen.len() != out.tracks.len()
        || !chosen.iter().zip(&out.tracks).all(|(a, b)| same(a, b))
    {
        return Err(invalid(format!(
            "a new moov at byte {at} with other tracks (ids, kinds or timescales): not followed"
        )));
    }
    let mut demuxer = Fmp4SegmentDemuxer::new();
    demuxer
        .handle_init_segment(moov)
        .map_err(|e| invalid(format!("moov box at byte {at}: {e}")))?;
    for (track, new) in out.tracks.iter_mut().zip(chosen) {
        track.shift = new.shift;
    }
    tracing::debug!(input = name, "a new initialization (moov) at byte {at}");
    Ok(demuxer)
}

/// The next box's header; `None` at the end of the stream (a header cut short is
/// logged: what came before is kept).
fn next_box<R: Read>(
    input: &mut R,
    offset: u64,
    name: &str,
    invalid: &dyn Fn(String) -> Error,
) -> Result<Option<BoxStart>, Error> {
    let mut head = vec![0u8; 8];
    let got = fill(input, &mut head, offset, name)?;
    if got < 8 {
        if got > 0 {
            tracing::warn!(
                input = name,
                "the stream ends inside a box header at byte {offset}"
            );
        }
        return Ok(None);
    }
    let mut size = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    if size == 1 {
        head.resize(16, 0);
        if fill(input, &mut head[8..], offset, name)? < 8 {
            return Ok(None);
        }
        size = u64::from_be_bytes(head[8..16].try_into().unwrap_or_default());
    }
    if size < head.len() as u64 {
        // 0 ("to the end of the file") has no end on a stream either.
        return Err(invalid(format!("box at byte {offset} has size {size}")));
    }
    let kind = [head[4], head[5], head[6], head[7]];
    Ok(Some((kind, size, head)))
}

/// Appends the whole box whose header is `head` to `into`, at most [`MAX_BOX`] bytes;
/// `false` when the stream ends inside it (logged: what came before is kept).
fn append_box<R: Read>(
    input: &mut R,
    size: u64,
    head: &[u8],
    into: &mut Vec<u8>,
    offset: u64,
    name: &str,
    invalid: &dyn Fn(String) -> Error,
) -> Result<bool, Error> {
    if size > MAX_BOX {
        return Err(invalid(format!(
            "a box of {size} bytes at byte {offset} (at most {MAX_BOX} are held)"
        )));
    }
    // Grown as bytes come, not reserved: a header may claim more than the stream holds.
    let body = size as usize - head.len();
    into.extend_from_slice(head);
    let got = input
        .take(body as u64)
        .read_to_end(into)
        .map_err(|e| Error::io(format!("reading at byte {offset}"), e))?;
    if got < body {
        tracing::warn!(
            input = name,
            "the stream ends inside the box at byte {offset}"
        );
        return Ok(false);
    }
    Ok(true)
}

fn skip<R: Read>(
    input: &mut R,
    bytes: u64,
    offset: u64,
    invalid: &dyn Fn(String) -> Error,
) -> Result<(), Error> {
    let skipped = std::io::copy(&mut input.take(bytes), &mut std::io::sink())
        .map_err(|e| Error::io(format!("reading at byte {offset}"), e))?;
    if skipped < bytes {
        return Err(invalid(format!(
            "the stream ends inside the box at byte {offset}"
        )));
    }
    Ok(())
}

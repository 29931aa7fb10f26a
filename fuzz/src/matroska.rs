//! Matroska writing and the recovery of cut files (`matroska` crate).

use std::io::Cursor;

use matroska::{Codec, Frame, Options, Track, Writer};

use crate::Body;

pub const TARGETS: &[(&str, Body)] = &[("mkv_recover", mkv_recover), ("mkv_writer", mkv_writer)];

/// Any bytes as a `.mkv.partial` left by a kill: `scan` and `recover` give a result or an
/// error, never a panic; `recover` keeps at least what `scan` found whole, and recovering
/// its result again changes nothing.
pub fn mkv_recover(data: &[u8]) {
    let len = data.len() as u64;
    let mut file = Cursor::new(data.to_vec());
    let Ok(whole) = matroska::scan(&mut file, len) else {
        return;
    };
    assert!(whole.end <= len, "{whole:?} of {len}");
    let Ok(done) = matroska::recover(&mut file, len) else {
        return;
    };
    assert!(done.end >= whole.end, "{done:?} after {whole:?}");
    let mut bytes = file.into_inner();
    bytes.truncate(done.end as usize);
    let end = bytes.len() as u64;
    let mut again = Cursor::new(bytes.clone());
    if let Ok(second) = matroska::recover(&mut again, end)
        && done.finished
    {
        assert_eq!(second.end, end);
        assert_eq!(
            again.into_inner(),
            bytes,
            "a second recovery changed the file"
        );
    }
}

/// Any bytes as frames for a writer of a video and an audio track (6 bytes a frame head:
/// track, time step in ms, key flag, length): writing never panics (a time too long
/// before the start is an error), the unfinished output scans to what `written` says,
/// and a finished file scans as finished.
pub fn mkv_writer(data: &[u8]) {
    let tracks = vec![
        Track::video(Codec::Vp8, 64, 48),
        Track::audio(Codec::Mp3, 44_100, 2),
    ];
    let Ok(mut writer) = Writer::new(Cursor::new(Vec::new()), tracks, &Options::default()) else {
        return;
    };
    let mut time = 0i64;
    let mut rest = data;
    while let [track, step_hi, step_lo, key, len_hi, len_lo, tail @ ..] = rest {
        let step = i64::from(i16::from_be_bytes([*step_hi, *step_lo]));
        let len = usize::from(u16::from_be_bytes([*len_hi, *len_lo])) % 4096;
        let body = tail.get(..len.min(tail.len())).unwrap_or_default();
        rest = &tail[body.len()..];
        time = time.saturating_add(step * 1_000_000);
        let frame = Frame::new(usize::from(track % 2), time, key & 1 == 1, body);
        if writer.write(frame).is_err() {
            return;
        }
    }
    let written = writer.written();
    let Ok(out) = writer.finish() else {
        return;
    };
    let bytes = out.into_inner();
    let len = bytes.len() as u64;
    let found = matroska::scan(&mut Cursor::new(&bytes), len).expect("our own file scans");
    assert!(found.finished && found.end == len, "{found:?} of {len}");
    assert!(found.clusters >= written.clusters);
}

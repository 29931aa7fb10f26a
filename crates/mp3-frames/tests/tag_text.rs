//! Artist and title read from files tagged by ffmpeg (`-metadata`, `-id3v2_version 3/4`,
//! `-write_id3v1 1`), checked against what ffprobe reads from the same files.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mp3_frames::TagText;
use test_support::{ffprobe, require_peer};

const ARTIST: &str = "Ärtist ♫ Ünïcode";
const TITLE: &str = "Títle – 曲";

fn tagged(dir: &Path, name: &str, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.5",
        ])
        .args(["-b:a", "64k", "-metadata"])
        .arg(format!("artist={ARTIST}"))
        .arg("-metadata")
        .arg(format!("title={TITLE}"))
        .args(extra)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

fn ffprobe_tags(path: &Path) -> (String, String) {
    let format = &ffprobe::probe(path)["format"]["tags"];
    (
        format["artist"].as_str().unwrap().to_owned(),
        format["title"].as_str().unwrap().to_owned(),
    )
}

#[test]
fn id3v23_utf16_and_id3v24_utf8_tags_written_by_ffmpeg() {
    require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    for (version, encoding_byte) in [("3", 1u8), ("4", 3u8)] {
        let path = tagged(
            dir.path(),
            &format!("v2{version}.mp3"),
            &["-id3v2_version", version],
        );
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(&bytes[..3], b"ID3");
        assert_eq!(
            bytes[3],
            version.parse::<u8>().unwrap(),
            "ID3v2 major version"
        );
        // The text frames are in the encoding under test (v2.3: UTF-16 with BOM, as
        // ffmpeg writes non-Latin-1 text; v2.4: UTF-8).
        let tit2 = bytes
            .windows(4)
            .position(|w| w == b"TIT2")
            .expect("TIT2 frame");
        assert_eq!(
            bytes[tit2 + 10],
            encoding_byte,
            "v2.{version} TIT2 encoding"
        );
        let text = TagText::scan(&bytes);
        assert_eq!(
            (text.artist.as_deref(), text.title.as_deref()),
            (Some(ARTIST), Some(TITLE))
        );
        let (artist, title) = ffprobe_tags(&path);
        assert_eq!(
            (artist.as_str(), title.as_str()),
            (ARTIST, TITLE),
            "ffprobe agrees"
        );
        assert_eq!(text.stream_title().unwrap(), format!("{ARTIST} – {TITLE}"));
    }
}

#[test]
fn id3v1_written_by_ffmpeg() {
    require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    // ID3v1 is Latin-1 and 30 bytes a field: ASCII text survives whole. ffmpeg writes
    // ID3v1 only next to an ID3v2 tag, so the ID3v2 tag is cut off here.
    let path = dir.path().join("both.mp3");
    let out = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=0.5",
            "-b:a",
            "64k",
        ])
        .args([
            "-metadata",
            "artist=Plain Artist",
            "-metadata",
            "title=Plain Title",
        ])
        .args(["-write_id3v1", "1"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[..3], b"ID3");
    let v2_len = 10
        + bytes[6..10]
            .iter()
            .fold(0usize, |a, &b| (a << 7) | usize::from(b));
    let v1_only = &bytes[v2_len..];
    assert!(v1_only.starts_with(&[0xFF]) && v1_only[v1_only.len() - 128..].starts_with(b"TAG"));
    let path = dir.path().join("v1.mp3");
    std::fs::write(&path, v1_only).unwrap();
    let text = TagText::scan(v1_only);
    assert_eq!(
        text.stream_title().as_deref(),
        Some("Plain Artist – Plain Title")
    );
    assert_eq!(
        ffprobe_tags(&path),
        ("Plain Artist".into(), "Plain Title".into())
    );
}

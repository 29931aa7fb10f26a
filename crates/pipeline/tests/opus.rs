//! Opus: Ogg Opus in and out, Opus in MP4 in and out. Sources made by ffmpeg (libopus);
//! ffprobe lists the packets of ours and theirs, ffmpeg plays ours.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, Value, ffmpeg, num};

async fn run(input: &Path, output: &Path) -> Result<(), pipeline::Error> {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input)?;
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output)?;
    Pipeline::new(input, output)
        .with_options(Options::default())
        .run()
        .await
        .map(|_| ())
}

/// 2.01 s of stereo tone as Ogg Opus: the last packet is trimmed by the granule.
fn opus_source(dir: &Path) -> PathBuf {
    let path = dir.join("tone.opus");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
        "-ac",
        "2",
        "-t",
        "2.01",
        "-c:a",
        "libopus",
        "-b:a",
        "48k",
        path.to_str().unwrap(),
    ]);
    path
}

/// (pts, duration, size) per packet, pts from the first packet's.
fn packets(path: &Path) -> Vec<(i64, i64, u64)> {
    let list = ffprobe::packets(path, "a:0");
    let ticks = |v: &Value| num(v) as i64;
    let first = ticks(&list[0]["pts"]);
    list.iter()
        .map(|p| {
            (
                ticks(&p["pts"]) - first,
                ticks(&p["duration"]),
                num(&p["size"]) as u64,
            )
        })
        .collect()
}

fn assert_plays(path: &Path) {
    let errors = ffprobe::decode_errors(path);
    assert!(
        errors.is_empty(),
        "{path:?}: ffmpeg decode errors: {errors}"
    );
}

fn pre_skip(path: &Path) -> i64 {
    // ffprobe shows the pre-skip as the first packet's negative pts (Ogg and MP4 alike).
    -(num(&ffprobe::packets(path, "a:0")[0]["pts"]) as i64)
}

/// Ogg Opus → Ogg Opus and → MP4: every packet with its time, duration and size; the
/// pre-skip kept; ffmpeg plays both.
#[tokio::test(flavor = "multi_thread")]
async fn ogg_opus_to_ogg_and_mp4() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = opus_source(dir.path());
    let theirs = packets(&source);
    assert!(theirs.len() > 90, "{} packets", theirs.len());
    assert!(pre_skip(&source) > 0);
    for out in ["copy.opus", "copy.mp4"] {
        let out = dir.path().join(out);
        run(&source, &out).await.unwrap();
        let ours = packets(&out);
        assert_eq!(ours.len(), theirs.len(), "{out:?}");
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(o, t, "{out:?} packet {i} (pts, duration, size)");
        }
        assert_eq!(ffprobe::probe(&out)["streams"][0]["codec_name"], "opus");
        assert_plays(&out);
    }
    assert_eq!(pre_skip(&dir.path().join("copy.opus")), pre_skip(&source));
    let duration = |p: &Path| num(&ffprobe::probe(p)["format"]["duration"]);
    let copy = dir.path().join("copy.opus");
    assert!(
        (duration(&copy) - duration(&source)).abs() < 0.001,
        "{} s vs {} s",
        duration(&copy),
        duration(&source)
    );
}

/// Opus in MP4 made by ffmpeg → Ogg Opus: the packets and the pre-skip of the source.
#[tokio::test(flavor = "multi_thread")]
async fn opus_in_mp4_to_ogg() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = opus_source(dir.path());
    let mp4 = dir.path().join("ffmpeg.mp4");
    ffmpeg(&[
        "-i",
        source.to_str().unwrap(),
        "-c",
        "copy",
        mp4.to_str().unwrap(),
    ]);
    let out = dir.path().join("out.ogg");
    run(&mp4, &out).await.unwrap();
    let (theirs, ours) = (packets(&mp4), packets(&out));
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o, t, "packet {i} (pts, duration, size)");
    }
    assert_eq!(pre_skip(&out), pre_skip(&mp4));
    assert_plays(&out);
}

/// Chained Ogg Opus (RFC 7845 §3; `cat a.opus b.opus`, stream dumps of Ogg radio) is read
/// to its end: a file joined with itself (the same serial twice, which the `ogg` crate
/// refuses unless told to forget the first stream) and a stereo link followed by a mono
/// one (a new `OpusHead`: a second sample entry in MP4, a new chained stream in Ogg). A
/// link that is not Opus ends the input with an error, the Opus before it kept.
#[tokio::test(flavor = "multi_thread")]
async fn chained_ogg_opus_is_read_to_the_end() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let stereo = opus_source(dir.path());
    let mono = dir.path().join("mono.opus");
    let vorbis = dir.path().join("vorbis.ogg");
    for (path, codec) in [(&mono, "libopus"), (&vorbis, "libvorbis")] {
        let args = ["-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "1"];
        ffmpeg(&[&args[..], &["-c:a", codec, path.to_str().unwrap()]].concat());
    }
    let join = |name: &str, parts: &[&Path]| {
        let path = dir.path().join(name);
        let bytes: Vec<u8> = parts
            .iter()
            .flat_map(|p| std::fs::read(p).unwrap())
            .collect();
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let (n_stereo, n_mono) = (packets(&stereo).len(), packets(&mono).len());
    let duration = |p: &Path| num(&ffprobe::probe(p)["format"]["duration"]);

    let same = join("same.opus", &[&stereo, &stereo]);
    let out = dir.path().join("same.m4a");
    run(&same, &out).await.unwrap();
    assert_eq!(packets(&out).len(), 2 * n_stereo);
    assert!(
        (duration(&out) - 2.0 * duration(&stereo)).abs() < 0.01,
        "{} s",
        duration(&out)
    );
    assert_plays(&out);

    let mixed = join("mixed.opus", &[&stereo, &mono]);
    let (m4a, ogg) = (
        dir.path().join("mixed.m4a"),
        dir.path().join("mixed-out.opus"),
    );
    run(&mixed, &m4a).await.unwrap();
    assert_eq!(packets(&m4a).len(), n_stereo + n_mono);
    assert_plays(&m4a);
    // Ogg out chains too; read back through us (ffprobe counts one link's duration).
    run(&mixed, &ogg).await.unwrap();
    let back = dir.path().join("mixed-back.m4a");
    run(&ogg, &back).await.unwrap();
    assert_eq!(packets(&back), packets(&m4a));

    let bad = join("then-vorbis.ogg", &[&stereo, &vorbis]);
    let out = dir.path().join("then-vorbis.m4a");
    let err = run(&bad, &out).await.unwrap_err().to_string();
    assert!(
        err.contains("not Ogg Opus") && err.contains("left out"),
        "{err}"
    );
    assert_eq!(
        packets(&out).len(),
        n_stereo,
        "the Opus before the Vorbis link is kept"
    );
    assert_plays(&out);
}

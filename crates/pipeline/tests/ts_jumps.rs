//! Timestamp jumps in MPEG-TS input: files joined (`cat`), an encoder restarted, an HLS
//! playlist's `EXT-X-DISCONTINUITY` (`source/ts/jumps.rs`), checked by ffprobe and
//! ffmpeg as ffmpeg itself reads such files.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use pipeline::Options;
use test_support::ffprobe::{self, Value, num};

mod ts_common;
use ts_common::{H264_AAC, convert, decodes_cleanly, ffmpeg_ts, first_pts, key, same_packets};

/// `H264_AAC` with another video source (`testsrc=size=…:rate=25`) and `extra` arguments.
fn h264_aac_from(video: &'static str, extra: &[&'static str]) -> Vec<&'static str> {
    H264_AAC
        .iter()
        .map(|a| match *a {
            "testsrc=size=320x240:rate=25" => video,
            other => other,
        })
        .chain(extra.iter().copied())
        .collect()
}

/// The picture size each `avc1` sample entry of an MP4 file gives, in order: a box of
/// plausible size named `avc1` (not a brand in `ftyp`), width and height 32 bytes in.
fn avc1_sizes(file: &Path) -> Vec<(u16, u16)> {
    let data = std::fs::read(file).unwrap();
    let be16 = |at: usize| u16::from_be_bytes([data[at], data[at + 1]]);
    let size = |at: usize| u32::from_be_bytes(data[at - 4..at].try_into().unwrap());
    data.windows(4)
        .enumerate()
        .filter(|&(at, w)| w == b"avc1" && at >= 4 && (86..4096).contains(&size(at)))
        .map(|(at, _)| (be16(at + 28), be16(at + 30)))
        .collect()
}

/// The files one after the other, as `cat` joins them.
fn cat(dir: &Path, name: &str, parts: &[&Path]) -> std::path::PathBuf {
    let path = dir.join(name);
    let bytes: Vec<u8> = parts
        .iter()
        .flat_map(|p| std::fs::read(p).unwrap())
        .collect();
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Timestamp jumps inside a `.ts`: a file concatenated with itself (times go back 2 s,
/// `cat a.ts a.ts`, as people join HLS segments) and two files 80 minutes apart in time
/// (an encoder restarted). As ffmpeg does for TS, each jump is re-based: the MP4 holds
/// both halves back to back (4 s of video and of audio, not a failure or a gap of hours),
/// its decode times increase, audio and video still start together in the second half,
/// and ffmpeg decodes it with no error.
#[tokio::test(flavor = "multi_thread")]
async fn concatenated_and_jumping_ts_files_are_rebased() {
    if !test_support::peers_present(
        "concatenated_and_jumping_ts_files_are_rebased",
        &["ffmpeg", "ffprobe"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let half = |name: &str, offset: &str| {
        let args = [&H264_AAC[..], &["-output_ts_offset", offset]].concat();
        ffmpeg_ts(dir.path(), name, &args)
    };
    let (a, b) = (half("a.ts", "0"), half("b.ts", "4800"));
    let join = |name: &str, parts: &[&Path]| cat(dir.path(), name, parts);
    for ts in [join("same.ts", &[&a, &a]), join("apart.ts", &[&a, &b])] {
        let mp4 = ts.with_extension("mp4");
        convert(&ts, &mp4, Options::default()).await.unwrap();
        let name = ts.display();
        for (stream, least, most) in [("v:0", 4.0, 4.0), ("a:0", 3.9, 4.1)] {
            let packets = ffprobe::packets(&mp4, stream);
            let dts: Vec<f64> = packets.iter().map(|p| num(&p["dts_time"])).collect();
            assert!(
                dts.windows(2).all(|w| w[1] > w[0]),
                "{name} {stream}: decode times increase"
            );
            let probe = ffprobe::probe_with(&mp4, &["-select_streams", stream, "-show_streams"]);
            let duration = num(&probe["streams"][0]["duration"]);
            assert!(
                (least - 0.05..=most + 0.05).contains(&duration),
                "{name} {stream}: {duration} s"
            );
        }
        assert_eq!(ffprobe::packets(&mp4, "v:0").len(), 100, "{name}");
        // Audio against video in the second half as in the first: the first audio packet
        // of each half against the half's first key frame, within an AAC frame and a half
        // (the first half's audio may run on a little past its video).
        let video = ffprobe::packets(&mp4, "v:0");
        let audio = ffprobe::packets(&mp4, "a:0");
        let first_half = ffprobe::packets(&a, "a:0").len();
        let lead = |v: &Value, a: &Value| num(&a["pts_time"]) - num(&v["pts_time"]);
        let (before, after) = (
            lead(&video[0], &audio[0]),
            lead(&video[50], &audio[first_half]),
        );
        assert!(
            key(&video[50]),
            "{name}: the second half starts with a key frame"
        );
        assert!(
            (after - before).abs() <= 0.035,
            "{name}: audio leads video by {before} s in the first half, {after} s in the second"
        );
        decodes_cleanly(&mp4);
    }
}

/// An HLS playlist with MPEG-TS segments (ffmpeg's `-f hls` default, most live streams)
/// is read as one transport stream: ffmpeg's 2 s in 1 s segments become a 2 s MP4 with
/// every packet; a segment after `EXT-X-DISCONTINUITY` whose times are 80 minutes later
/// continues right after (2 s more), and ffmpeg decodes both with no error.
#[tokio::test(flavor = "multi_thread")]
async fn hls_with_ts_segments_and_a_discontinuity_to_mp4() {
    if !test_support::peers_present(
        "hls_with_ts_segments_and_a_discontinuity_to_mp4",
        &["ffmpeg", "ffprobe"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let hls = dir.path().join("index.m3u8");
    let args = [
        &H264_AAC[..],
        &[
            "-t",
            "2",
            "-f",
            "hls",
            "-hls_time",
            "1",
            "-hls_playlist_type",
            "vod",
        ],
    ]
    .concat();
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(&args)
        .arg(&hls)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg -f hls");
    let playlist = std::fs::read_to_string(&hls).unwrap();
    assert!(
        playlist.contains(".ts") && !playlist.contains("EXT-X-MAP"),
        "{playlist}"
    );
    let whole = dir.path().join("whole.ts");
    let segments: Vec<u8> = playlist
        .lines()
        .filter(|l| l.ends_with(".ts"))
        .flat_map(|l| std::fs::read(dir.path().join(l)).unwrap())
        .collect();
    std::fs::write(&whole, segments).unwrap();
    let mp4 = dir.path().join("hls.mp4");
    convert(&hls, &mp4, Options::default()).await.unwrap();
    let origins = (first_pts(&whole), first_pts(&mp4));
    same_packets(&whole, &mp4, "v:0", origins, None);
    same_packets(&whole, &mp4, "a:0", origins, Some(7));
    decodes_cleanly(&mp4);

    let later = ffmpeg_ts(
        dir.path(),
        "later.ts",
        &[&H264_AAC[..], &["-output_ts_offset", "4800"]].concat(),
    );
    let joined = dir.path().join("joined.m3u8");
    let text = playlist.replace(
        "#EXT-X-ENDLIST",
        &format!(
            "#EXT-X-DISCONTINUITY\n#EXTINF:2,\n{}\n#EXT-X-ENDLIST",
            later.display()
        ),
    );
    std::fs::write(&joined, text).unwrap();
    let mp4 = dir.path().join("joined.mp4");
    convert(&joined, &mp4, Options::default()).await.unwrap();
    let probe = ffprobe::probe(&mp4);
    let duration = num(&probe["format"]["duration"]);
    assert!((3.95..=4.15).contains(&duration), "{duration} s");
    assert_eq!(ffprobe::packets(&mp4, "v:0").len(), 100);
    decodes_cleanly(&mp4);
}

/// A splice to another picture size (`cat small.ts large.ts`, an HLS ad break): the new
/// parameter sets become a track update, so the MP4 gets a second sample entry and every
/// picture decodes at its own size. ffmpeg's `-c copy` keeps the first configuration and
/// the second half decodes as garbage ("Reference 5 >= 3"); before, ours did too. Into
/// HLS the change is a second init segment, which our HLS input follows back into one MP4
/// (before: "a second EXT-X-MAP … is not supported").
#[tokio::test(flavor = "multi_thread")]
async fn a_splice_to_another_picture_size_decodes_at_both_sizes() {
    if !test_support::peers_present(
        "a_splice_to_another_picture_size_decodes_at_both_sizes",
        &["ffmpeg", "ffprobe"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let small = ffmpeg_ts(dir.path(), "small.ts", &H264_AAC);
    let large_args = h264_aac_from("testsrc=size=640x360:rate=25", &[]);
    let large = ffmpeg_ts(dir.path(), "large.ts", &large_args);
    let joined = cat(dir.path(), "joined.ts", &[&small, &large]);
    // HLS: a second init segment after an `EXT-X-DISCONTINUITY` (ffmpeg 5.1's HLS demuxer
    // decodes its pictures with the first init's SPS, so our HLS input reads it back).
    let hls = dir.path().join("hls/joined.m3u8");
    convert(&joined, &hls, Options::default()).await.unwrap();
    let playlist = std::fs::read_to_string(&hls).unwrap();
    assert!(
        playlist.contains("EXT-X-MAP:URI=\"init-2.mp4\""),
        "{playlist}"
    );
    let init = |name: &str| avc1_sizes(&dir.path().join("hls").join(name));
    assert_eq!(
        [init("init.mp4"), init("init-2.mp4")],
        [[(320, 240)], [(640, 360)]]
    );
    let back = dir.path().join("from-hls.mp4");
    convert(&hls, &back, Options::default()).await.unwrap();
    for out in ["joined.mp4", "joined-out.ts", "from-hls.mp4"] {
        let out = dir.path().join(out);
        if out != back {
            convert(&joined, &out, Options::default()).await.unwrap();
        }
        let listed = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v", "-show_entries"])
            .args(["frame=width,height", "-of", "csv=p=0"])
            .arg(&out)
            .output()
            .unwrap();
        let sizes = String::from_utf8_lossy(&listed.stdout).replace(",\n", "\n");
        let count = |size: &str| sizes.lines().filter(|l| *l == size).count();
        assert_eq!((count("320,240"), count("640,360")), (50, 50), "{out:?}");
        decodes_cleanly(&out);
        if out.extension().is_some_and(|e| e == "mp4") {
            // Each sample entry says its own picture size (before: the first one's).
            assert_eq!(avc1_sizes(&out), [(320, 240), (640, 360)], "{out:?}");
        }
    }
}

/// A splice whose second part continues in time (`-output_ts_offset 2` after a 2 s part,
/// as an encoder restarted with its clock, or an ad cut in): its video's first decode
/// time steps back two frames (B-frames), a jump re-based to continue; its audio starts
/// before the first part's last AAC PES ends. That audio takes the video's correction and
/// the frame that still overlaps is left out, so the second part's audio stays in step
/// with its video. Before, the audio went back in time and the MP4 failed ("decode time
/// … is not after the previous one").
#[tokio::test(flavor = "multi_thread")]
async fn a_splice_continuing_in_time_keeps_audio_in_step_with_video() {
    if !test_support::peers_present(
        "a_splice_continuing_in_time_keeps_audio_in_step_with_video",
        &["ffmpeg", "ffprobe"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let first = ffmpeg_ts(dir.path(), "first.ts", &H264_AAC);
    let later = h264_aac_from("testsrc=size=640x360:rate=25", &["-output_ts_offset", "2"]);
    let second = ffmpeg_ts(dir.path(), "second.ts", &later);
    let joined = cat(dir.path(), "joined.ts", &[&first, &second]);
    let mp4 = dir.path().join("joined.mp4");
    convert(&joined, &mp4, Options::default()).await.unwrap();
    let video = ffprobe::packets(&mp4, "v:0");
    let audio = ffprobe::packets(&mp4, "a:0");
    for (stream, packets) in [("video", &video), ("audio", &audio)] {
        let dts: Vec<f64> = packets.iter().map(|p| num(&p["dts_time"])).collect();
        assert!(dts.windows(2).all(|w| w[1] > w[0]), "{stream}: {dts:?}");
    }
    assert_eq!(video.len(), 100);
    let source_audio =
        ffprobe::packets(&first, "a:0").len() + ffprobe::packets(&second, "a:0").len();
    assert!(
        (source_audio - 2..=source_audio).contains(&audio.len()),
        "{} of {source_audio} audio frames",
        audio.len()
    );
    // The audio frames' grid against each part's first video frame: the same phase in
    // both parts (a shift of the audio alone, 80 ms, would move it by 16 ms).
    let frame = 1024.0 / 48_000.0;
    let phase =
        |a: &Value, v: &Value| (num(&a["pts_time"]) - num(&v["pts_time"])).rem_euclid(frame);
    assert!(key(&video[50]), "the second part starts with a key frame");
    let (before, after) = (
        phase(&audio[0], &video[0]),
        phase(&audio[audio.len() - 1], &video[50]),
    );
    let apart = (after - before).abs().min(frame - (after - before).abs());
    assert!(
        apart < 0.001,
        "audio grid {before} s against the video, then {after} s"
    );
    decodes_cleanly(&mp4);
}

/// A program whose PIDs change (`cat` of files from two encoders, a broadcast service
/// changed: a new PMT): each track goes on with the new stream of its kind, re-based as
/// any jump, so the MP4 holds both parts and decodes. When the new program lacks a kind,
/// one line says so and the file keeps the first part. Before, any change of the
/// program's streams ended the input ("the program's streams change…").
#[tokio::test(flavor = "multi_thread")]
async fn a_program_on_other_pids_goes_on() {
    if !test_support::peers_present("a_program_on_other_pids_goes_on", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let first = ffmpeg_ts(dir.path(), "first.ts", &H264_AAC);
    let pids = [
        "-mpegts_start_pid",
        "0x200",
        "-mpegts_pmt_start_pid",
        "0x1100",
    ];
    let moved = h264_aac_from("testsrc=size=320x240:rate=25", &pids);
    let second = ffmpeg_ts(dir.path(), "second.ts", &moved);
    let joined = cat(dir.path(), "joined.ts", &[&first, &second]);
    let mp4 = dir.path().join("joined.mp4");
    convert(&joined, &mp4, Options::default()).await.unwrap();
    assert_eq!(ffprobe::packets(&mp4, "v:0").len(), 100);
    let audio = ffprobe::packets(&mp4, "a:0").len();
    let source_audio =
        ffprobe::packets(&first, "a:0").len() + ffprobe::packets(&second, "a:0").len();
    assert!(
        (source_audio - 2..=source_audio).contains(&audio),
        "{audio} of {source_audio}"
    );
    decodes_cleanly(&mp4);
    // The second part without audio: the audio track has nothing to go on with.
    let mut silent = moved.clone();
    silent.push("-an");
    let video_only = ffmpeg_ts(dir.path(), "video-only.ts", &silent);
    let joined = cat(dir.path(), "joined-2.ts", &[&first, &video_only]);
    let mp4 = dir.path().join("joined-2.mp4");
    let error = convert(&joined, &mp4, Options::default())
        .await
        .unwrap_err();
    assert!(
        error.to_string().contains("none of the kind of PID 257"),
        "{error}"
    );
    assert_eq!(ffprobe::packets(&mp4, "v:0").len(), 50);
    decodes_cleanly(&mp4);
}

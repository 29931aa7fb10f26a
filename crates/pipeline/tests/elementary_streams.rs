//! Elementary streams in and out: `.h264`/`.h265` (Annex B), `.aac` (ADTS) and `.mp3`,
//! made by ffmpeg, through MP4 and back; checked by ffprobe's packet lists, ffmpeg
//! decodes, byte comparison (Annex B → MP4 → Annex B) and mp3-frames (MP3 → MP4 → MP3).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, ffmpeg, num};

const VIDEO: &[&str] = &["-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"];
const AUDIO: &[&str] = &["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"];

fn make(dir: &Path, name: &str, inputs: &[&[&str]], encode: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args: Vec<&str> = inputs.iter().flat_map(|i| i.iter().copied()).collect();
    args.extend(["-t", "2"]);
    args.extend(encode);
    args.push(path.to_str().unwrap());
    ffmpeg(&args);
    path
}

async fn run(input: &Path, output: &Path, options: Options) -> Result<(), pipeline::Error> {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input)?;
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output)?;
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .map(|_| ())
}

fn no_audio() -> Options {
    {
        let mut options = Options::default();
        options.audio = false;
        options
    }
}

fn no_video() -> Options {
    {
        let mut options = Options::default();
        options.video = false;
        options
    }
}

/// The MD5 of every decoded frame, in the decoder's output order.
fn framemd5(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-f", "framemd5", "-"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit(',').next().map(|h| h.trim().to_owned()))
        .collect()
}

fn assert_decodes(path: &Path) {
    let errors = ffprobe::decode_errors(path);
    assert!(
        errors.is_empty(),
        "{path:?}: ffmpeg decode errors: {errors}"
    );
}

/// An x264 / x265 Annex B stream to MP4 and back to Annex B gives the same bytes (the
/// encoders put parameter sets before key frames only, as our writer does); the MP4 holds
/// one packet per access unit at the SPS's frame rate (its VUI timing: 30 fps for both
/// encoders here; before, an H.265 stream got 25 fps whatever its SPS said) and decodes. An x264 stream with B-frames gets its presentation order from
/// the picture order counts: ffmpeg decodes our MP4 to the same frames, in the same order,
/// as the raw stream, and the presentation times are one frame apart.
#[tokio::test(flavor = "multi_thread")]
async fn annexb_to_mp4_and_back_is_byte_identical() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let h264 = make(
        dir.path(),
        "x264.h264",
        &[&["-f", "lavfi", "-i", "testsrc=size=160x120:rate=30"]],
        &["-c:v", "libx264", "-bf", "0", "-g", "15"],
    );
    let h264_bframes = make(
        dir.path(),
        "bframes.h264",
        &[VIDEO],
        &[
            "-pix_fmt",
            "yuv420p",
            "-c:v",
            "libx264",
            "-bf",
            "3",
            "-x264-params",
            "b-adapt=0",
            "-g",
            "12",
        ],
    );
    let h265 = make(
        dir.path(),
        "x265.h265",
        &[&["-f", "lavfi", "-i", "testsrc=size=160x120:rate=30"]],
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:keyint=25:bframes=0",
        ],
    );
    for (source, fps) in [(&h264, 30.0), (&h265, 30.0), (&h264_bframes, 25.0)] {
        let ext = source.file_stem().unwrap().to_str().unwrap();
        let mp4 = dir.path().join(format!("{ext}.mp4"));
        run(source, &mp4, Options::default()).await.unwrap();
        let theirs = ffprobe::sizes_and_keys(source, "v:0");
        let ours = ffprobe::sizes_and_keys(&mp4, "v:0");
        assert_eq!(ours.len(), theirs.len(), "{ext}: access units");
        let keys = |l: &[(u64, bool)]| l.iter().filter(|p| p.1).count();
        assert_eq!(keys(&ours), keys(&theirs), "{ext}: key frames");
        let duration = num(&ffprobe::probe(&mp4)["format"]["duration"]);
        let expected = theirs.len() as f64 / fps;
        assert!(
            (duration - expected).abs() < 0.002,
            "{ext}: {duration} s, expected {expected} s"
        );
        assert_decodes(&mp4);

        let back = dir.path().join(format!(
            "back-{ext}.{}",
            source.extension().unwrap().to_str().unwrap()
        ));
        run(&mp4, &back, Options::default()).await.unwrap();
        let (a, b) = (
            std::fs::read(source).unwrap(),
            std::fs::read(&back).unwrap(),
        );
        assert!(
            a == b,
            "{ext}: {} bytes in, {} bytes back",
            a.len(),
            b.len()
        );
    }

    // B-frames: the same decoded frames in the same order, presentation one frame apart.
    let mp4 = dir.path().join("bframes.mp4");
    assert_eq!(framemd5(&mp4), framemd5(&h264_bframes));
    let mut pts: Vec<i64> = ffprobe::packets(&mp4, "v:0")
        .iter()
        .map(|p| num(&p["pts"]) as i64)
        .collect();
    let in_decode_order = pts.clone();
    pts.sort();
    assert_ne!(
        pts, in_decode_order,
        "B-frames are presented out of decode order"
    );
    let steps: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(steps.iter().all(|&s| s == 3600), "{steps:?}");

    // --fps (Options::frame_rate) wins over the SPS.
    let mp4 = dir.path().join("fps.mp4");
    let options = {
        let mut options = Options::default();
        options.frame_rate = Some(60.0);
        options
    };
    run(&h264, &mp4, options).await.unwrap();
    let frames = ffprobe::sizes_and_keys(&mp4, "v:0").len() as f64;
    let duration = num(&ffprobe::probe(&mp4)["format"]["duration"]);
    assert!(
        (duration - frames / 60.0).abs() < 0.002,
        "{duration} s at 60 fps"
    );
}

/// The decode-order positions of `path`'s video packets sorted by presentation time.
fn presentation_order(path: &Path) -> Vec<usize> {
    let pts: Vec<f64> = ffprobe::packets(path, "v:0")
        .iter()
        .map(|p| num(&p["pts_time"]))
        .collect();
    let mut order: Vec<usize> = (0..pts.len()).collect();
    order.sort_by(|&a, &b| pts[a].total_cmp(&pts[b]));
    order
}

/// H.264 and H.265 with B-frames (x264's B-pyramid; x265's open GOPs, whose CRA pictures
/// are followed by leading pictures that reference the GOP before): the encoder's own MP4
/// is the truth. Its Annex B (`-c copy`, `*_mp4toannexb`) through us to MP4 gives every
/// packet the same place in presentation order as in the encoder's file, and presentation
/// times one frame apart.
#[tokio::test(flavor = "multi_thread")]
async fn annexb_presentation_order_matches_the_encoders_own_mp4() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let encodes: [(&str, &[&str], &str); 3] = [
        (
            "h264",
            &[
                "-c:v", "libx264", "-bf", "3", "-g", "24", "-pix_fmt", "yuv420p",
            ],
            "h264_mp4toannexb",
        ),
        (
            "h265",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=24:min-keyint=24:bframes=3:b-adapt=0:open-gop=1",
            ],
            "hevc_mp4toannexb",
        ),
        (
            "h265",
            &[
                "-c:v",
                "libx265",
                "-x265-params",
                "log-level=error:keyint=50:bframes=4:b-pyramid=1:open-gop=0",
            ],
            "hevc_mp4toannexb",
        ),
    ];
    for (round, (ext, encode, bsf)) in encodes.into_iter().enumerate() {
        let source = dir.path().join(format!("src{round}.mp4"));
        let mut args = vec![
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-t",
            "4",
        ];
        args.extend(encode);
        args.push(source.to_str().unwrap());
        ffmpeg(&args);
        let annexb = dir.path().join(format!("src{round}.{ext}"));
        ffmpeg(&[
            "-i",
            source.to_str().unwrap(),
            "-c",
            "copy",
            "-bsf:v",
            bsf,
            annexb.to_str().unwrap(),
        ]);
        let ours = dir.path().join(format!("ours{round}.mp4"));
        run(&annexb, &ours, Options::default()).await.unwrap();
        let truth = presentation_order(&source);
        assert_eq!(presentation_order(&ours), truth, "round {round} ({ext})");
        assert_ne!(
            truth,
            (0..truth.len()).collect::<Vec<_>>(),
            "round {round}: the encoder reordered"
        );
        let mut pts: Vec<f64> = ffprobe::packets(&ours, "v:0")
            .iter()
            .map(|p| num(&p["pts_time"]))
            .collect();
        pts.sort_by(f64::total_cmp);
        assert!(
            pts.windows(2).all(|w| (w[1] - w[0] - 0.04).abs() < 1e-6),
            "round {round}: {pts:?}"
        );
        // Key frames alike; their sizes differ by the parameter sets and SEI that Annex B
        // carries in band (x265 writes its settings there).
        let plain = |l: Vec<(u64, bool)>| -> Vec<(Option<u64>, bool)> {
            l.into_iter().map(|(n, k)| ((!k).then_some(n), k)).collect()
        };
        assert_eq!(
            plain(ffprobe::sizes_and_keys(&ours, "v:0")),
            plain(ffprobe::sizes_and_keys(&source, "v:0")),
            "round {round}"
        );
        assert_decodes(&ours);
    }
}

/// MP4 (H.264 with B-frames + AAC) to `.h264` and to `.aac`: ffprobe finds every packet
/// (ADTS adds its 7-byte header to each), the key frames where they were, and the
/// parameter sets before each key frame let a decoder start at any of them.
#[tokio::test(flavor = "multi_thread")]
async fn mp4_to_h264_and_aac() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = make(
        dir.path(),
        "source.mp4",
        &[VIDEO, AUDIO],
        &[
            "-c:v", "libx264", "-bf", "2", "-g", "10", "-c:a", "aac", "-b:a", "48k",
        ],
    );
    let h264 = dir.path().join("video.h264");
    run(&source, &h264, no_audio()).await.unwrap();
    let theirs = ffprobe::sizes_and_keys(&source, "v:0");
    let ours = ffprobe::sizes_and_keys(&h264, "v:0");
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o.1, t.1, "key flag of access unit {i}");
        assert!(
            o.0 >= t.0,
            "access unit {i}: {} bytes, the sample {}",
            o.0,
            t.0
        );
    }
    assert_decodes(&h264);
    // Cut at the third key frame: the rest decodes on its own.
    let bytes = std::fs::read(&h264).unwrap();
    let sps_at: Vec<usize> = bytes
        .windows(5)
        .enumerate()
        .filter(|(_, w)| w == &[0, 0, 0, 1, 0x67])
        .map(|(i, _)| i)
        .collect();
    assert_eq!(
        sps_at.len(),
        theirs.iter().filter(|p| p.1).count(),
        "an SPS before each key frame"
    );
    let tail = dir.path().join("tail.h264");
    std::fs::write(&tail, &bytes[sps_at[2]..]).unwrap();
    assert_decodes(&tail);

    let aac = dir.path().join("audio.aac");
    run(&source, &aac, no_video()).await.unwrap();
    let theirs = ffprobe::sizes_and_keys(&source, "a:0");
    let ours = ffprobe::sizes_and_keys(&aac, "a:0");
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(o.0, t.0 + 7, "ADTS frame {i}");
    }
    assert_eq!(ffprobe::probe(&aac)["streams"][0]["codec_name"], "aac");
    // The ADTS file lasts what the source's audio track does (1024 samples a frame).
    let duration: f64 = ffprobe::packets(&aac, "a:0")
        .iter()
        .map(|p| num(&p["duration_time"]))
        .sum();
    let source_duration: f64 = ffprobe::packets(&source, "a:0")
        .iter()
        .map(|p| num(&p["duration_time"]))
        .sum();
    assert!(
        (duration - source_duration).abs() < 0.03,
        "{duration} s vs {source_duration} s"
    );
    assert_decodes(&aac);
}

/// `.aac` (ffmpeg's ADTS) to MP4: one packet per ADTS frame, its payload without the
/// header, 1024 samples each.
#[tokio::test(flavor = "multi_thread")]
async fn aac_to_mp4() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let aac = make(
        dir.path(),
        "tone.aac",
        &[AUDIO],
        &["-c:a", "aac", "-b:a", "64k"],
    );
    let mp4 = dir.path().join("tone.mp4");
    run(&aac, &mp4, Options::default()).await.unwrap();
    let theirs = ffprobe::sizes_and_keys(&aac, "a:0");
    let ours = ffprobe::packets(&mp4, "a:0");
    assert_eq!(ours.len(), theirs.len());
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(num(&o["size"]) as u64 + 7, t.0, "frame {i}");
        assert_eq!(num(&o["duration"]) as u64, 1024, "frame {i}");
    }
    let stream = &ffprobe::probe(&mp4)["streams"][0];
    assert_eq!(stream["sample_rate"], "44100");
    assert_eq!(stream["channels"], 1);
    assert_decodes(&mp4);
}

/// An ID3v2.4 tag holding one frame: its id and body.
fn id3_tag(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let size = 10 + body.len();
    let syncsafe = |n: usize| [21, 14, 7, 0].map(|shift| ((n >> shift) & 0x7F) as u8);
    let mut tag = b"ID3\x04\0\0".to_vec();
    tag.extend(syncsafe(size));
    tag.extend(id);
    tag.extend((body.len() as u32).to_be_bytes());
    tag.extend([0, 0]);
    tag.extend(body);
    tag
}

/// ADTS with ID3v2 tags: a 150 000-byte cover in front (more than one 64 KiB read;
/// before, the rest of it was taken for ADTS: "no ADTS sync word"), and HLS packed audio
/// (RFC 8216 §3.4: segments of ADTS frames, each after a tag with its timestamp), read
/// through its playlist (before: "not an MPEG transport stream"). Every frame reaches the
/// MP4 once, as ffprobe lists the source's.
#[tokio::test(flavor = "multi_thread")]
async fn aac_with_id3_tags_in_front_and_between_segments() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let aac = make(dir.path(), "tone.aac", &[AUDIO], &["-c:a", "aac"]);
    let data = std::fs::read(&aac).unwrap();
    let mut frames = Vec::new();
    let mut at = 0;
    while at + 7 <= data.len() {
        let len = (usize::from(data[at + 3] & 3) << 11)
            | (usize::from(data[at + 4]) << 3)
            | usize::from(data[at + 5] >> 5);
        frames.push(&data[at..at + len]);
        at += len;
    }
    let covered = dir.path().join("covered.aac");
    let cover = id3_tag(b"APIC", &vec![0; 150_000]);
    std::fs::write(&covered, [cover, data.clone()].concat()).unwrap();
    let mut playlist = String::from("#EXTM3U\n#EXT-X-TARGETDURATION:1\n");
    for (i, segment) in frames.chunks(40).enumerate() {
        let pts = 900_000 + (i * 40 * 1024 * 90_000 / 44_100) as u64;
        let owner = b"com.apple.streaming.transportStreamTimestamp\0";
        let mut bytes = id3_tag(b"PRIV", &[&owner[..], &pts.to_be_bytes()].concat());
        bytes.extend(segment.concat());
        std::fs::write(dir.path().join(format!("seg{i}.aac")), bytes).unwrap();
        playlist += &format!("#EXTINF:0.93,\nseg{i}.aac\n");
    }
    let packed = dir.path().join("radio.m3u8");
    std::fs::write(&packed, playlist + "#EXT-X-ENDLIST\n").unwrap();
    let theirs = ffprobe::sizes_and_keys(&aac, "a:0");
    assert_eq!(theirs.len(), frames.len());
    for input in [covered, packed] {
        let mp4 = dir.path().join("out.mp4");
        run(&input, &mp4, Options::default()).await.unwrap();
        let ours = ffprobe::packets(&mp4, "a:0");
        let sizes: Vec<u64> = ours.iter().map(|o| num(&o["size"]) as u64 + 7).collect();
        let want: Vec<u64> = theirs.iter().map(|t| t.0).collect();
        assert_eq!(sizes, want, "{input:?}");
        assert_decodes(&mp4);
    }
}

/// A VBR MP3 file muxed into MP4 by ffmpeg, written out by us as `.mp3`: the same MPEG
/// audio frames as the original file (mp3-frames reads both), after a Xing frame that
/// counts them, so ffprobe gives the source's duration (it guessed 6 % short from the
/// first frame's bitrate without one).
#[tokio::test(flavor = "multi_thread")]
async fn mp3_out_of_mp4_equals_the_source_frames() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let mp3 = make(
        dir.path(),
        "tone.mp3",
        &[AUDIO],
        &["-c:a", "libmp3lame", "-q:a", "4"],
    );
    let mp4 = dir.path().join("tone.mp4");
    ffmpeg(&[
        "-i",
        mp3.to_str().unwrap(),
        "-c",
        "copy",
        mp4.to_str().unwrap(),
    ]);
    let out = dir.path().join("out.mp3");
    run(&mp4, &out, Options::default()).await.unwrap();
    let frames = |p: &Path| -> Vec<Vec<u8>> {
        let data = std::fs::read(p).unwrap();
        mp3_frames::Frames::new(&data)
            .map(|f| f.data.to_vec())
            .collect()
    };
    let (theirs, ours) = (frames(&mp3), frames(&out));
    assert!(theirs.len() > 50, "{} frames", theirs.len());
    assert!(
        ours == theirs,
        "{} frames out, {} in the source",
        ours.len(),
        theirs.len()
    );
    let summary = mp3_frames::StreamSummary::scan(&std::fs::read(&out).unwrap()).unwrap();
    let info = summary.info.expect("a Xing frame");
    assert_eq!(info.name(), "Xing", "VBR");
    assert_eq!(info.frames(), Some(ours.len() as u32));
    let duration = |p: &Path| num(&ffprobe::probe(p)["format"]["duration"]);
    assert!(
        (duration(&out) - duration(&mp3)).abs() < 0.001,
        "{} s against the source's {} s",
        duration(&out),
        duration(&mp3)
    );
    assert_decodes(&out);
}

/// A track the elementary output cannot hold fails at once, naming it and the way out.
#[tokio::test(flavor = "multi_thread")]
async fn misfits_name_the_track() {
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let source = make(
        dir.path(),
        "av.mp4",
        &[VIDEO, AUDIO],
        &["-c:v", "libx264", "-c:a", "aac"],
    );
    for (out, expected) in [
        (
            "a.aac",
            "takes one AAC audio track; track 0 is H.264 video, use --no-video",
        ),
        (
            "v.h265",
            "takes one H.265 video track; track 0 is H.264 video, use --no-video",
        ),
        (
            "m.mp3",
            "takes one MP3 audio track; track 0 is H.264 video, use --no-video",
        ),
        (
            "v.h264",
            "takes one H.264 video track; track 1 is AAC audio, use --no-audio",
        ),
    ] {
        let err = run(&source, &dir.path().join(out), Options::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(expected) && err.contains(out), "{out}: {err}");
        assert!(!dir.path().join(out).exists());
    }
}

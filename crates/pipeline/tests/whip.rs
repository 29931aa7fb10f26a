//! Headless Chromium with a fake camera and microphone publishes by WHIP (from the page
//! `whip-listen://` serves) into the pipeline, which records 10 s (H.264; VP8, VP9 and
//! AV1: 5 s) to MP4 and then to HLS:
//! ffprobe must see H.264 (or VP8, published with the page's `?codec=vp8`) and Opus
//! with about the recorded duration, and ffmpeg must decode both without an error. The
//! VP9 and AV1 HLS recordings also play in Chromium through Media Source Extensions (VP8
//! cannot: Chromium takes VP8 only in WebM, not in MP4).
#![allow(clippy::unwrap_used)]
// Options are built by field assignment, not struct literals (they become #[non_exhaustive]).
#![allow(clippy::field_reassign_with_default)]

use std::path::Path;
use std::time::Duration;

use pipeline::{Direction, Endpoint, Options, Pipeline};
use shiguredo_mp4::boxes::MoovBox;
use shiguredo_mp4::{BoxHeader, Decode};
use test_support::ffprobe::{self, num};
use test_support::mse;

/// What the VP8/VP9/AV1 publishes record; the H.264 one records the 10 s.
const SECONDS: f64 = 5.0;
const H264_SECONDS: f64 = 10.0;

/// Publishes from Chromium (video in `codec`: the page's `?codec=`) into `output` for
/// `seconds`; returns the summary's files.
async fn record(output: &str, codec: &str, seconds: f64) -> Vec<std::path::PathBuf> {
    let port = test_support::free_port();
    let mut options = Options::default();
    options.duration = Some(Duration::from_secs_f64(seconds));
    let input = Endpoint::parse(
        &format!("whip-listen://127.0.0.1:{port}/pub"),
        Direction::Input,
    )
    .unwrap();
    let output = Endpoint::parse(output, Direction::Output).unwrap();
    let pipeline = Pipeline::new(input, output).with_options(options).spawn();
    let reports = test_support::chromium::ReportServer::start();
    let profile = test_support::temp_dir();
    // Wait for the server to listen before Chromium opens the page.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let url = format!(
        "http://127.0.0.1:{port}/pub?codec={codec}&report={}",
        reports.url()
    );
    let mut chromium = test_support::chromium::launch(
        &url,
        profile.path(),
        &[
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
        ],
    );
    let summary = tokio::time::timeout(Duration::from_secs(40), pipeline.wait()).await;
    let mut last = None;
    while let Some(r) = reports.next(Duration::from_millis(10)) {
        last = Some(r);
    }
    chromium.stop();
    eprintln!("page: {last:?}");
    let summary = summary
        .expect("the recording ends after its duration")
        .unwrap();
    eprintln!("summary: {summary:?}");
    summary.files
}

/// `codec` is the video codec as ffprobe names it.
fn check(file: &Path, codec: &str, seconds: f64) {
    let probe = ffprobe::probe(file);
    eprintln!("{}: {probe}", file.display());
    let streams = probe["streams"].as_array().unwrap();
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let audio = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(video["codec_name"], codec);
    assert!(num(&video["width"]) > 0.0);
    assert_eq!(audio["codec_name"], "opus");
    let duration = num(&probe["format"]["duration"]);
    assert!(
        (seconds - 1.0..=seconds + 1.0).contains(&duration),
        "{}: duration {duration}",
        file.display()
    );
    for (kind, stream) in [("v:0", video), ("a:0", audio)] {
        let packets = ffprobe::packets(file, kind);
        let first = num(&packets.first().unwrap()["pts_time"]);
        let last = num(&packets.last().unwrap()["pts_time"]);
        assert!(
            last - first > seconds - 1.5,
            "{kind} spans {first}..{last} s ({stream})"
        );
    }
    // The file's own decode times strictly increase (as ffprobe reads them)...
    let dts: Vec<f64> = ffprobe::packets(file, "v:0")
        .iter()
        .map(|p| num(&p["dts_time"]))
        .collect();
    assert!(dts.windows(2).all(|w| w[1] > w[0]), "video dts: {dts:?}");
    // ...and every frame decodes, each at its own (irregular, capture) time.
    let errors = ffprobe::decode_errors_keeping_times(file);
    assert!(errors.is_empty(), "{}: {errors}", file.display());
    // Every video packet gives a picture.
    let counted = ffprobe::probe_with(
        file,
        &[
            "-select_streams",
            "v:0",
            "-count_frames",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_frames,nb_read_packets",
        ],
    );
    let stream = &counted["streams"][0];
    let (frames, packets) = (
        num(&stream["nb_read_frames"]),
        num(&stream["nb_read_packets"]),
    );
    eprintln!(
        "{}: {frames} of {packets} video packets decoded",
        file.display()
    );
    assert!(frames > 0.0 && frames == packets, "{counted}");
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_publishes_by_whip_into_mp4_and_hls() {
    if !test_support::peers_present(
        "chromium_publishes_by_whip_into_mp4_and_hls",
        &["chromium", "ffprobe", "ffmpeg"],
    ) {
        return;
    }
    let dir = test_support::temp_dir();
    let mp4 = dir.path().join("published.mp4");
    let files = record(mp4.to_str().unwrap(), "h264", H264_SECONDS).await;
    assert_eq!(files, vec![mp4.clone()]);
    check(&mp4, "h264", H264_SECONDS);

    let hls = dir.path().join("hls");
    std::fs::create_dir_all(&hls).unwrap();
    record(&format!("{}/", hls.display()), "h264", H264_SECONDS).await;
    check(&hls.join("index.m3u8"), "h264", H264_SECONDS);
}

/// The RFC 6381 codecs of an init segment's tracks, read by shiguredo_mp4 (written by
/// others, so not our writer's own idea of the strings).
fn codecs(init: &[u8]) -> Vec<String> {
    let mut rest = init;
    while !rest.is_empty() {
        let (header, _) = BoxHeader::decode(rest).unwrap();
        let size = usize::try_from(header.box_size.get()).unwrap();
        assert!(
            (8..=rest.len()).contains(&size),
            "box size {size} in the init segment"
        );
        if header.box_type.as_bytes() == b"moov" {
            let (moov, _) = MoovBox::decode(&rest[..size]).unwrap();
            return moov
                .trak_boxes
                .iter()
                .map(|t| {
                    let entry = &t.mdia_box.minf_box.stbl_box.stsd_box.entries[0];
                    shiguredo_mp4::codec_string::from_sample_entry(entry).unwrap()
                })
                .collect();
        }
        rest = &rest[size..];
    }
    panic!("no moov in the init segment");
}

/// Plays an HLS recording (init segment, then the media segments in playlist order) in
/// Chromium through MSE, audio and video in one SourceBuffer: it must play past
/// `SECONDS - 2` with no error, at the fake camera's 640 px.
fn check_mse(playlist: &Path) {
    let files = mse::hls_files(playlist);
    let codecs = codecs(&files[0].1);
    let mime = format!("video/mp4; codecs=\"{}\"", codecs.join(","));
    eprintln!(
        "{}: {} files through MSE as {mime}",
        playlist.display(),
        files.len()
    );
    let started = std::time::Instant::now();
    let result = mse::play(files, &mime, SECONDS - 2.0);
    eprintln!("MSE check took {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        result.starts_with("ok ") && result.contains("width=640"),
        "Chromium MSE ({mime}): {result}"
    );
}

/// Chromium publishes `codec` (the page's `?codec=`, as ffprobe names it) into MP4 and
/// then HLS; both are checked, and the HLS recording is played through MSE when `mse`.
async fn publish_and_check(test: &str, codec: &str, mse: bool) {
    if !test_support::peers_present(test, &["chromium", "ffprobe", "ffmpeg"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let mp4 = dir.path().join("published.mp4");
    let files = record(mp4.to_str().unwrap(), codec, SECONDS).await;
    assert_eq!(files, vec![mp4.clone()]);
    check(&mp4, codec, SECONDS);

    let hls = dir.path().join("hls");
    std::fs::create_dir_all(&hls).unwrap();
    record(&format!("{}/", hls.display()), codec, SECONDS).await;
    check(&hls.join("index.m3u8"), codec, SECONDS);
    if mse {
        check_mse(&hls.join("index.m3u8"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_publishes_vp8_by_whip_into_mp4_and_hls() {
    publish_and_check(
        "chromium_publishes_vp8_by_whip_into_mp4_and_hls",
        "vp8",
        false,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_publishes_vp9_by_whip_into_mp4_and_hls() {
    publish_and_check(
        "chromium_publishes_vp9_by_whip_into_mp4_and_hls",
        "vp9",
        true,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_publishes_av1_by_whip_into_mp4_and_hls() {
    publish_and_check(
        "chromium_publishes_av1_by_whip_into_mp4_and_hls",
        "av1",
        true,
    )
    .await;
}

/// A browser's publish into WebM, the browser's own container: checked as the MP4 is,
/// then played back by Chromium through Media Source Extensions.
#[tokio::test(flavor = "multi_thread")]
async fn chromium_publishes_vp8_by_whip_into_webm() {
    let test = "chromium_publishes_vp8_by_whip_into_webm";
    if !test_support::peers_present(test, &["chromium", "ffprobe", "ffmpeg"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let webm = dir.path().join("published.webm");
    let files = record(webm.to_str().unwrap(), "vp8", SECONDS).await;
    assert_eq!(files, vec![webm.clone()]);
    check(&webm, "vp8", SECONDS);
    let bytes = std::fs::read(&webm).unwrap();
    let mime = "video/webm; codecs=\"vp8,opus\"";
    let result = test_support::mse::play(vec![("/published.webm".into(), bytes)], mime, 3.0);
    assert!(result.starts_with("ok"), "Chromium MSE ({mime}): {result}");
}

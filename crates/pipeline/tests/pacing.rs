//! Pacing of file inputs: `loop_input` plays a file again with times continuing (ffprobe
//! reads one continuous stream, ffmpeg decodes it), `realtime` sends packets at their
//! media pace (the run lasts at least the media's duration).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline};
use test_support::ffprobe::{self, num};

fn make(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let ok = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .arg(&path)
        .status()
        .unwrap();
    assert!(ok.success());
    path
}

async fn run(input: &Path, output: &Path, options: Options) {
    let input = Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(output.to_str().unwrap(), Direction::Output).unwrap();
    Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
}

/// Decode times of `stream`, strictly increasing.
fn assert_continuous(path: &Path, stream: &str) -> Vec<i64> {
    let dts: Vec<i64> = ffprobe::packets(path, stream)
        .iter()
        .map(|p| num(&p["dts"]) as i64)
        .collect();
    assert!(dts.windows(2).all(|w| w[0] < w[1]), "{stream}: {dts:?}");
    dts
}

#[tokio::test(flavor = "multi_thread")]
async fn a_looped_file_continues_its_times() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = make(
        dir.path(),
        "one-second.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-bf",
            "2",
            "-g",
            "25",
            "-c:a",
            "aac",
        ],
    );
    let out = dir.path().join("looped.mp4");
    let options = {
        let mut options = Options::default();
        options.loop_input = true;
        options.duration = Some(Duration::from_millis(2500));
        options
    };
    run(&source, &out, options).await;
    let video = assert_continuous(&out, "v:0");
    let audio = assert_continuous(&out, "a:0");
    let steps = |d: &[i64]| d.windows(2).map(|w| w[1] - w[0]).collect::<Vec<_>>();
    // Each pass follows the last packet of the one before, whose duration may be short
    // (the AAC track's last frame is trimmed): no step is longer than a frame.
    assert!(
        steps(&audio).iter().all(|&s| s <= 1024),
        "audio gaps: {:?}",
        steps(&audio)
    );
    let video_steps = steps(&video);
    assert!(
        video_steps.iter().all(|&s| s == video_steps[0]),
        "video gaps: {video_steps:?}"
    );
    assert!(
        (61..=64).contains(&video.len()),
        "{} video packets for 2.5 s",
        video.len()
    );
    let duration = num(&ffprobe::probe(&out)["format"]["duration"]);
    assert!((duration - 2.5).abs() < 0.1, "{duration} s");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "{errors}");
}

#[tokio::test(flavor = "multi_thread")]
async fn realtime_takes_the_media_time() {
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let source = make(
        dir.path(),
        "tone.m4a",
        &[
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "1.5",
            "-c:a",
            "aac",
        ],
    );
    let out = dir.path().join("out.m4a");
    let started = Instant::now();
    let options = {
        let mut options = Options::default();
        options.realtime = true;
        options
    };
    run(&source, &out, options).await;
    // Pacing, not speed: the last packet cannot leave before its time.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1400),
        "{elapsed:?} for 1.5 s of audio"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_realtime_replay_ends_at_once_with_what_was_due() {
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let source = make(
        dir.path(),
        "av.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=160x120:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=sample_rate=44100",
            "-t",
            "4",
            "-c:v",
            "libx264",
            "-g",
            "30",
            "-c:a",
            "aac",
        ],
    );
    let out = dir.path().join("out.mp4");
    let input = Endpoint::parse(source.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap();
    let mut options = Options::default();
    options.realtime = true;
    options.loop_input = true;
    let handle = Pipeline::new(input, output).with_options(options).spawn();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopped = Instant::now();
    handle.close();
    handle.wait().await.unwrap();
    // Before, the packets read ahead (about 2 s of them) went on at their pace after
    // the stop, and into the file.
    let took = stopped.elapsed();
    assert!(took < Duration::from_secs(1), "{took:?} to finish");
    let duration = num(&ffprobe::probe(&out)["format"]["duration"]);
    assert!((0.5..2.0).contains(&duration), "{duration} s after 1.5 s");
    let errors = ffprobe::decode_errors(&out);
    assert!(errors.is_empty(), "{errors}");
}

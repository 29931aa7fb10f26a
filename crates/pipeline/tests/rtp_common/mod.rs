//! Helpers shared by the RTP tests (`rtp_input.rs`, `rtp_output.rs`): the synthetic
//! source, free UDP ports, and what ffprobe/ffmpeg read of a file.
#![allow(dead_code, clippy::unwrap_used)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;

use test_support::ffprobe::{self, num};

/// 3 s of 320x240 video at 25 frames/s (a key frame every second) and 48 kHz audio.
pub fn source(dir: &Path, video: &[&str], audio: &[&str], name: &str) -> PathBuf {
    let path = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "3", "-g", "25", "-pix_fmt", "yuv420p"])
        .args(video)
        .args(audio)
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no source");
    path
}

/// An even port whose next three are free too (RTP and RTCP of two tracks).
pub fn free_ports() -> u16 {
    for _ in 0..50 {
        let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
        let base = probe.local_addr().unwrap().port() & !1;
        drop(probe);
        if base < 60_000 && (0..4).all(|i| UdpSocket::bind(("127.0.0.1", base + i)).is_ok()) {
            return base;
        }
    }
    panic!("no four free UDP ports");
}

pub fn streams(file: &Path) -> Vec<ffprobe::Value> {
    ffprobe::probe(file)["streams"].as_array().unwrap().clone()
}

/// Frames ffmpeg decodes from `file`'s stream.
pub fn decoded(file: &Path, stream: &str) -> f64 {
    let probe = ffprobe::probe_with(
        file,
        &[
            "-count_frames",
            "-select_streams",
            stream,
            "-show_entries",
            "stream=nb_read_frames",
        ],
    );
    num(&probe["streams"][0]["nb_read_frames"])
}

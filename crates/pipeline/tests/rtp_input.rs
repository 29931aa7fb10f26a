//! RTP in: an `.sdp` file as the pipeline's input, recorded to MP4 and checked by
//! ffprobe/ffmpeg. (a) ffmpeg sends H.264 + AAC (`-f rtp … -sdp_file`), we read its SDP;
//! (b) our own `rtp://` output into our `.sdp` input, H.265 + MP3, while packets from
//! another address flood the video port (left out: the input latches onto its sender);
//! (c) a relay between
//! ffmpeg and us drops and swaps packets: the losses are counted and the file still
//! decodes.
#![allow(clippy::unwrap_used)]

mod rtp_common;

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pipeline::{Direction, Endpoint, Options, Pipeline, PipelineHandle, Summary};
use rtp_common::{decoded, free_ports, source, streams};
use test_support::ffprobe::{self, num};
use test_support::process::ChildGuard;

fn wait_for_file(path: &Path) -> String {
    let started = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(path)
            && text.contains("m=audio")
        {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no SDP written"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Our pipeline from `sdp` to `out` (MP4), on `runtime`.
fn receive(runtime: &tokio::runtime::Runtime, sdp: &Path, out: &Path) -> PipelineHandle {
    runtime.block_on(async {
        Pipeline::new(
            Endpoint::parse(sdp.to_str().unwrap(), Direction::Input).unwrap(),
            Endpoint::parse(out.to_str().unwrap(), Direction::Output).unwrap(),
        )
        .with_options(Options::default())
        .spawn()
    })
}

/// ffmpeg sending `input`'s video to `port` and its audio to `port + 2`, in real time,
/// writing its SDP to `sdp`.
fn ffmpeg_sender(input: &Path, port: u16, sdp: &Path) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re", "-i"])
        .arg(input)
        .args(["-map", "0:v", "-c", "copy", "-f", "rtp"])
        .arg(format!("rtp://127.0.0.1:{port}"))
        .args(["-map", "0:a", "-c", "copy", "-f", "rtp"])
        .arg(format!("rtp://127.0.0.1:{}", port + 2))
        .arg("-sdp_file")
        .arg(sdp)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child)
}

/// Waits for the sender to end, then lets the receiver take what is in flight and stops it.
fn finish(
    runtime: &tokio::runtime::Runtime,
    sender: &mut ChildGuard,
    receiver: PipelineHandle,
) -> Summary {
    let (code, stderr) = sender.wait_with_stderr(Duration::from_secs(30));
    assert_eq!(code, Some(0), "ffmpeg: {stderr}");
    std::thread::sleep(Duration::from_millis(500));
    receiver.close();
    runtime.block_on(receiver.wait()).unwrap()
}

/// Both streams there with these codecs, `pictures` and `audio` frames at least decoded,
/// and no decode error.
fn check(file: &Path, codecs: (&str, &str), pictures: f64, audio: f64) {
    let streams = streams(file);
    let video = streams.iter().find(|s| s["codec_type"] == "video").unwrap();
    let sound = streams.iter().find(|s| s["codec_type"] == "audio").unwrap();
    assert_eq!(video["codec_name"], codecs.0);
    assert_eq!(video["width"], 320);
    assert_eq!(sound["codec_name"], codecs.1);
    let (frames, blocks) = (decoded(file, "v:0"), decoded(file, "a:0"));
    eprintln!(
        "{}: {frames} pictures, {blocks} audio frames",
        file.display()
    );
    assert!(frames >= pictures, "{frames} pictures");
    assert!(blocks >= audio, "{blocks} audio frames");
    let errors = ffprobe::decode_errors(file);
    assert!(errors.is_empty(), "{errors}");
}

#[test]
fn h264_and_aac_from_ffmpeg_by_its_sdp() {
    if !test_support::peers_present("rtp_in_h264_aac", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-preset", "fast", "-bf", "2"],
        &["-c:a", "aac", "-ac", "2"],
        "h264.mp4",
    );
    let port = free_ports();
    let sdp = dir.path().join("ffmpeg.sdp");
    let out = dir.path().join("received.mp4");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut sender = ffmpeg_sender(&input, port, &sdp);
    wait_for_file(&sdp);
    let receiver = receive(&runtime, &sdp, &out);
    let summary = finish(&runtime, &mut sender, receiver);
    eprintln!("{:?}", summary.status);
    // 75 pictures were sent; those before our sockets were bound and before the first
    // key frame we saw are missing.
    check(&out, ("h264", "aac"), 45.0, 100.0);
}

#[test]
fn h265_and_mp3_from_our_rtp_output_into_our_sdp_input() {
    if !test_support::peers_present("rtp_in_round_trip", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &[
            "-c:v",
            "libx265",
            "-preset",
            "fast",
            "-tag:v",
            "hvc1",
            "-x265-params",
            "log-level=error",
        ],
        &["-c:a", "libmp3lame", "-ac", "1"],
        "h265.mp4",
    );
    let port = free_ports();
    let sdp = dir.path().join("ours.sdp");
    let out = dir.path().join("received.mp4");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut options = Options::default();
    options.loop_input = true;
    options.duration = Some(Duration::from_secs(4));
    options.sdp_file = Some(sdp.clone());
    let sender = runtime.block_on(async {
        Pipeline::new(
            Endpoint::parse(input.to_str().unwrap(), Direction::Input).unwrap(),
            Endpoint::parse(&format!("rtp://127.0.0.1:{port}"), Direction::Output).unwrap(),
        )
        .with_options(options)
        .spawn()
    });
    wait_for_file(&sdp);
    let receiver = receive(&runtime, &sdp, &out);
    let flood = flood(port);
    runtime.block_on(sender.wait()).unwrap();
    assert_eq!(flood.join().unwrap(), 3000);
    std::thread::sleep(Duration::from_millis(500));
    receiver.close();
    let summary = runtime.block_on(receiver.wait()).unwrap();
    eprintln!("{:?}", summary.status);
    assert_eq!(summary.status.lost, 0);
    check(&out, ("hevc", "mp3"), 60.0, 100.0);
    same_pictures(&input, &out);
}

/// From another address, 0.3 s after the receiver started: 3000 RTP packets of the video
/// stream's payload type with made-up sequence numbers, times and payloads. The receiver
/// latched onto our sender and leaves them out (the recording stays the source's, no
/// loss counted).
fn flood(port: u16) -> JoinHandle<usize> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut sent = 0;
        for i in 0u32..3000 {
            let mut packet = vec![0x80, 96];
            packet.extend_from_slice(&(i.wrapping_mul(7919) as u16).to_be_bytes());
            packet.extend_from_slice(&i.wrapping_mul(104_729).to_be_bytes());
            packet.extend_from_slice(&0x0bad_f00du32.to_be_bytes());
            packet.extend((0..100).map(|j| (i + j) as u8 | 0x01));
            if socket.send_to(&packet, ("127.0.0.1", port)).is_ok() {
                sent += 1;
            }
            if i % 100 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        sent
    })
}

/// Packet by packet: the received pictures that are not key frames (key frames carry
/// the parameter sets sent in band besides) are a run of the source's (looped), with
/// the same sizes and the same presentation steps (B-frames reordered alike).
fn same_pictures(source: &Path, received: &Path) {
    let list = |file: &Path| -> Vec<(bool, u64, i64)> {
        ffprobe::packets(file, "v:0")
            .iter()
            .map(|p| {
                let key = p["flags"].as_str().unwrap_or("").contains('K');
                (key, num(&p["size"]) as u64, p["pts"].as_i64().unwrap())
            })
            .collect()
    };
    let (source, received) = (list(source), list(received));
    let steps = |packets: &[(bool, u64, i64)]| -> Vec<(bool, u64, i64)> {
        packets
            .windows(2)
            .map(|w| (w[1].0, w[1].1, w[1].2 - w[0].2))
            .collect()
    };
    let looped: Vec<_> = [source.clone(), source].concat();
    let (want, got) = (steps(&looped), steps(&received));
    let got: Vec<_> = got.into_iter().filter(|p| !p.0).take(40).collect();
    let want: Vec<_> = want.into_iter().filter(|p| !p.0).collect();
    assert!(got.len() >= 30, "{} pictures", got.len());
    // Sizes and pts steps of non-key pictures, the steps scaled from the source's
    // timescale: compare sizes exactly and the sign pattern of the steps.
    let shape = |p: &[(bool, u64, i64)]| -> Vec<(u64, bool)> {
        p.iter().map(|(_, size, step)| (*size, *step > 0)).collect()
    };
    let (want, got) = (shape(&want), shape(&got));
    assert!(
        want.windows(got.len()).any(|w| w == got.as_slice()),
        "received pictures are not a run of the source's: {got:?}"
    );
}

/// Forwards datagrams from `from` to `to`, dropping every 20th and sending every 7th
/// after the one that follows it; stops after 2 s of silence.
fn relay(from: UdpSocket, to: u16) -> JoinHandle<(u64, u64)> {
    std::thread::spawn(move || {
        from.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let out = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (mut dropped, mut swapped, mut n) = (0, 0, 0u64);
        let mut held: Option<Vec<u8>> = None;
        let mut buffer = [0u8; 65_536];
        while let Ok(len) = from.recv(&mut buffer) {
            n += 1;
            let datagram = buffer[..len].to_vec();
            if n % 20 == 0 {
                dropped += 1;
            } else if n % 7 == 0 && held.is_none() {
                held = Some(datagram);
                swapped += 1;
            } else {
                out.send_to(&datagram, ("127.0.0.1", to)).unwrap();
                if let Some(late) = held.take() {
                    out.send_to(&late, ("127.0.0.1", to)).unwrap();
                }
            }
        }
        (dropped, swapped)
    })
}

#[test]
fn losses_and_reordering_are_counted_and_the_file_decodes() {
    if !test_support::peers_present("rtp_in_lossy", &["ffmpeg", "ffprobe"]) {
        return;
    }
    let dir = test_support::temp_dir();
    let input = source(
        dir.path(),
        &["-c:v", "libx264", "-preset", "fast", "-bf", "2"],
        &["-c:a", "aac", "-ac", "2"],
        "h264.mp4",
    );
    let (relay_port, port) = (free_ports(), free_ports());
    let relays: Vec<_> = [0, 2]
        .iter()
        .map(|i| {
            let socket = UdpSocket::bind(("127.0.0.1", relay_port + i)).unwrap();
            relay(socket, port + i)
        })
        .collect();
    let ffmpeg_sdp = dir.path().join("ffmpeg.sdp");
    let sdp = dir.path().join("relayed.sdp");
    let out = dir.path().join("received.mp4");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mut sender = ffmpeg_sender(&input, relay_port, &ffmpeg_sdp);
    let text = wait_for_file(&ffmpeg_sdp)
        .replace(&format!(" {relay_port} "), &format!(" {port} "))
        .replace(&format!(" {} ", relay_port + 2), &format!(" {} ", port + 2));
    std::fs::write(&sdp, text).unwrap();
    let receiver = receive(&runtime, &sdp, &out);
    let summary = finish(&runtime, &mut sender, receiver);
    let counts: Vec<(u64, u64)> = relays.into_iter().map(|r| r.join().unwrap()).collect();
    eprintln!(
        "relay (dropped, swapped) per stream: {counts:?}; {:?}",
        summary.status
    );
    assert!(
        counts[0].0 > 0 && counts[0].1 > 0,
        "the relay dropped and swapped video"
    );
    assert!(summary.status.lost > 0, "{:?}", summary.status);
    let dropped: u64 = counts.iter().map(|c| c.0).sum();
    assert!(
        summary.status.lost <= dropped,
        "only dropped packets are lost"
    );
    let streams = streams(&out);
    assert_eq!(streams.len(), 2);
    let (frames, blocks) = (decoded(&out, "v:0"), decoded(&out, "a:0"));
    eprintln!("lossy: {frames} pictures, {blocks} audio frames");
    assert!(frames >= 30.0 && blocks >= 80.0);
}

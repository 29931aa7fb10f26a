//! RTMP out: `pipeline in.mp4 rtmp://…` publishing to nginx with the RTMP module while
//! `ffmpeg -i rtmp://…` plays the stream back from nginx (its copy compared with the
//! source packet by packet, and decoded); H.265 through Enhanced RTMP into our own
//! `rtmp-listen://` (Debian's ffmpeg 5.1 cannot read Enhanced RTMP); a refused
//! connection and a server that refuses the app, the publish or the key, each one line
//! without the key.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use flv::{VideoCodec, VideoTag};
use pipeline::{Direction, Endpoint, Pipeline, PipelineHandle};
use test_support::ffprobe::{self, Value, num};
use test_support::nginx_rtmp::NginxRtmp;
use test_support::process::ChildGuard;

/// 3 s of 320x240 video at 25 frames/s (B-frames, a key frame every second) and 48 kHz
/// AAC; `codec` is `libx264` or `libx265`.
fn source(dir: &Path, codec: &str) -> PathBuf {
    let path = dir.join(format!("src-{codec}.mp4"));
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("testsrc=size=320x240:rate=25")
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "3", "-c:v", codec, "-preset", "fast", "-g", "25"]);
    if codec == "libx265" {
        cmd.args(["-tag:v", "hvc1", "-x265-params", "log-level=error"]);
    }
    let status = cmd
        .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg made no source");
    path
}

fn spawn(input: &str, output: &str) -> PipelineHandle {
    let input = Endpoint::parse(input, Direction::Input).unwrap();
    let output = Endpoint::parse(output, Direction::Output).unwrap();
    Pipeline::new(input, output).spawn()
}

/// (pts, dts) in ms from the track's first pts, size, key flag.
type Row = (i64, i64, u64, bool);

fn rows(target: &Path, stream: &str) -> Vec<Row> {
    let packets: Vec<Value> = ffprobe::packets(target, stream);
    let first = packets.first().map_or(0.0, |p| num(&p["pts_time"]));
    let ms = |t: f64| ((t - first) * 1000.0).round() as i64;
    packets
        .iter()
        .map(|p| {
            (
                ms(num(&p["pts_time"])),
                ms(num(&p["dts_time"])),
                num(&p["size"]) as u64,
                p["flags"].as_str().unwrap_or("").starts_with('K'),
            )
        })
        .collect()
}

/// The first video pts minus the first audio pts, in ms.
fn av_start(target: &Path) -> f64 {
    let first = |s| num(&ffprobe::packets(target, s)[0]["pts_time"]);
    (first("v:0") - first("a:0")) * 1000.0
}

/// Video equal packet by packet (pts, dts, size, key flag); audio too, its times within
/// 1 ms (RTMP counts milliseconds, AAC frames are 21.33 ms); the tracks start together
/// as in the source within one AAC frame; a clean decode.
fn same_media(src: &Path, out: &Path, audio_exact: bool) {
    assert_eq!(
        rows(src, "v:0"),
        rows(out, "v:0"),
        "video (pts, dts, size, key)"
    );
    let (a, b) = (rows(src, "a:0"), rows(out, "a:0"));
    assert_eq!(a.len(), b.len(), "audio packet counts");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let close = if audio_exact {
            x == y
        } else {
            (x.0 - y.0).abs() <= 1 && x.2 == y.2
        };
        assert!(close, "audio packet {i}: source {x:?}, output {y:?}");
    }
    let drift = av_start(src) - av_start(out);
    assert!(drift.abs() <= 22.0, "A/V start moved by {drift} ms");
    let errors = ffprobe::decode_errors(out);
    assert!(errors.is_empty(), "decode errors: {errors}");
}

/// `ffmpeg -i URL -c copy OUT`: plays the stream from nginx (started before the
/// publisher, nginx holds it until the stream is published).
fn ffmpeg_play(url: &str, out: &Path) -> ChildGuard {
    let child = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i", url, "-c", "copy"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    ChildGuard::new("ffmpeg", child)
}

#[tokio::test(flavor = "multi_thread")]
async fn h264_and_aac_published_to_nginx_play_back_packet_for_packet() {
    test_support::require_peer!("ffmpeg", "ffprobe", "nginx-rtmp");
    let dir = test_support::temp_dir();
    let src = source(dir.path(), "libx264");
    let nginx = NginxRtmp::start();
    let url = nginx.url("live", "stream-key-1");
    let out = dir.path().join("played.flv");
    let mut player = ffmpeg_play(&url, &out);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let started = Instant::now();
    let handle = spawn(src.to_str().unwrap(), &url);
    let summary = tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .unwrap()
        .unwrap();
    let took = started.elapsed();
    assert!(summary.files.is_empty());
    // A file input into a live output is paced at its media time.
    assert!(took >= Duration::from_millis(2500), "sent in {took:?}");
    // ffmpeg ends when nginx tells it the stream was unpublished.
    let (code, stderr) = player.wait_with_stderr(Duration::from_secs(10));
    assert_eq!(code, Some(0), "ffmpeg: {stderr}");
    same_media(&src, &out, false);
    let log = nginx.error_log();
    assert!(log.contains("publish: name='stream-key-1'"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn h265_goes_through_enhanced_rtmp_into_rtmp_listen() {
    test_support::require_peer!("ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let src = source(dir.path(), "libx265");
    let out = dir.path().join("received.mp4");
    let port = test_support::free_port();
    let listen = spawn(
        &format!("rtmp-listen://127.0.0.1:{port}/live/hevc-key"),
        out.to_str().unwrap(),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let publisher = spawn(
        src.to_str().unwrap(),
        &format!("rtmp://127.0.0.1:{port}/live/hevc-key"),
    );
    tokio::time::timeout(Duration::from_secs(15), publisher.wait())
        .await
        .unwrap()
        .unwrap();
    let summary = tokio::time::timeout(Duration::from_secs(10), listen.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(summary.files, vec![out.clone()]);
    let probe = ffprobe::probe(&out);
    assert_eq!(probe["streams"][0]["codec_name"], "hevc", "{probe}");
    same_media(&src, &out, true);
}

/// Runs `input` into `output` and returns its error, in at most 15 s.
async fn failure(input: &str, output: &str) -> String {
    let handle = spawn(input, output);
    let result = tokio::time::timeout(Duration::from_secs(15), handle.wait())
        .await
        .expect("the pipeline did not end within 15 s");
    let error = result.expect_err("the pipeline succeeded").to_string();
    assert!(!error.contains('\n'), "one line: {error}");
    error
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_is_one_line_without_the_key() {
    let mp3 = test_support::fixture("sine-44100-cbr128.mp3");
    let port = test_support::free_port();
    let started = Instant::now();
    let error = failure(
        mp3.to_str().unwrap(),
        &format!("rtmp://127.0.0.1:{port}/live/s3cr3t-key"),
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(!error.contains("s3cr3t"), "{error}");
    assert!(
        error.contains(&format!(
            "connecting to rtmp://127.0.0.1:{port}/live?key=***"
        )),
        "{error}"
    );
    assert!(error.contains("refused"), "{error}");
}

#[tokio::test(flavor = "multi_thread")]
async fn nginx_refusing_the_app_or_the_publish_is_a_clear_error() {
    test_support::require_peer!("ffmpeg", "nginx-rtmp");
    let dir = test_support::temp_dir();
    let src = source(dir.path(), "libx264");
    let src = src.to_str().unwrap();
    let nginx = NginxRtmp::start();
    let wrong_app = failure(src, &nginx.url("nope", "s3cr3t-key")).await;
    assert!(
        wrong_app.contains("closed the connection while connecting to app \"nope\""),
        "{wrong_app}"
    );
    let denied = failure(src, &nginx.url("private", "s3cr3t-key")).await;
    // nginx accepts the publish, then checks access and closes.
    assert!(
        denied.contains("the server closed the connection"),
        "{denied}"
    );
    // A key someone else publishes already: nginx answers NetStream.Publish.BadName.
    let busy = Command::new("ffmpeg")
        .args([
            "-nostdin", "-v", "error", "-re", "-i", src, "-c", "copy", "-f", "flv",
        ])
        .arg(nginx.url("live", "s3cr3t-key"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _busy = ChildGuard::new("ffmpeg", busy);
    tokio::time::sleep(Duration::from_millis(700)).await;
    let taken = failure(src, &nginx.url("live", "s3cr3t-key")).await;
    assert!(taken.contains("NetStream.Publish.BadName"), "{taken}");
    for error in [wrong_app, denied, taken] {
        assert!(!error.contains("s3cr3t"), "{error}");
        assert!(
            error.contains("/live?key=***") || error.contains("?key=***"),
            "{error}"
        );
    }
}

/// Plays `app/key` from an RTMP server at 127.0.0.1:`port` with rml_rtmp's client
/// session (a player written by others); returns the video and the audio tags received
/// until the server says the publisher left (nginx's `NetStream.Play.UnpublishNotify`)
/// or 5 s pass without data. `ready` is sent once playing.
fn rml_play(port: u16, app: &str, key: &str, ready: std::sync::mpsc::Sender<()>) -> Played {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    use rml_rtmp::sessions::ClientSessionResult as Out;
    use rml_rtmp::sessions::{ClientSession, ClientSessionConfig, ClientSessionEvent as Event};
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut handshake = Handshake::new(PeerType::Client);
    stream
        .write_all(&handshake.generate_outbound_p0_and_p1().unwrap())
        .unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let leftover = loop {
        let n = stream.read(&mut buf).unwrap();
        match handshake.process_bytes(&buf[..n]).unwrap() {
            HandshakeProcessResult::InProgress { response_bytes } => {
                stream.write_all(&response_bytes).unwrap();
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                stream.write_all(&response_bytes).unwrap();
                break remaining_bytes;
            }
        }
    };
    let (mut session, _) = ClientSession::new(ClientSessionConfig::new()).unwrap();
    let send = |stream: &mut std::net::TcpStream, out: Out| {
        if let Out::OutboundResponse(packet) = out {
            stream.write_all(&packet.bytes).unwrap();
        }
    };
    let request = session.request_connection(app.to_owned()).unwrap();
    send(&mut stream, request);
    let mut tags = Played::default();
    let mut input = leftover;
    loop {
        for out in session.handle_input(&input).unwrap() {
            match out {
                Out::RaisedEvent(Event::ConnectionRequestAccepted) => {
                    let request = session.request_playback(key.to_owned()).unwrap();
                    send(&mut stream, request);
                }
                Out::RaisedEvent(Event::PlaybackRequestAccepted) => {
                    let _ = ready.send(());
                }
                Out::RaisedEvent(Event::VideoDataReceived { data, .. }) => tags.video.push(data),
                Out::RaisedEvent(Event::AudioDataReceived { data, .. }) => tags.audio.push(data),
                Out::RaisedEvent(Event::UnhandleableOnStatusCode { code })
                    if code == "NetStream.Play.UnpublishNotify" =>
                {
                    return tags;
                }
                other => send(&mut stream, other),
            }
        }
        match stream.read(&mut buf) {
            Ok(n) if n > 0 => input = buf[..n].to_vec(),
            _ => return tags,
        }
    }
}

/// What [`rml_play`] received.
#[derive(Default)]
struct Played {
    video: Vec<Bytes>,
    audio: Vec<Bytes>,
}

/// nginx-rtmp 1.2.2 predates Enhanced RTMP but relays its messages as they are, to a
/// player there from the start, once `wait_key` is off (app `enhanced`; with its default
/// `wait_key on` it takes the `IsExHeader` bit for part of the frame type, finds no key
/// frame and relays no video at all). The player (rml_rtmp's) gets the `hvc1` sequence
/// start and every frame with the source's key flag, composition time and size.
#[tokio::test(flavor = "multi_thread")]
async fn nginx_relays_enhanced_rtmp_h265_to_a_player() {
    test_support::require_peer!("ffmpeg", "ffprobe", "nginx-rtmp");
    let dir = test_support::temp_dir();
    let src = source(dir.path(), "libx265");
    let nginx = NginxRtmp::start();
    let port = nginx.port();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let player = tokio::task::spawn_blocking(move || rml_play(port, "enhanced", "k", ready_tx));
    tokio::task::spawn_blocking(move || ready_rx.recv_timeout(Duration::from_secs(5)))
        .await
        .unwrap()
        .expect("the player did not get to play");
    let publisher = spawn(src.to_str().unwrap(), &nginx.url("enhanced", "k"));
    tokio::time::timeout(Duration::from_secs(15), publisher.wait())
        .await
        .unwrap()
        .unwrap();
    let played = tokio::time::timeout(Duration::from_secs(10), player)
        .await
        .unwrap()
        .unwrap();
    let video: Vec<VideoTag> = played
        .video
        .iter()
        .map(|t| flv::video(t).unwrap())
        .collect();
    assert!(
        matches!(
            video.first(),
            Some(VideoTag::SequenceHeader {
                codec: VideoCodec::H265,
                ..
            })
        ),
        "first of {} video tags: {:?}",
        video.len(),
        video.first()
    );
    let frames: Vec<(bool, i32, usize)> = video
        .iter()
        .filter_map(|t| match t {
            VideoTag::Frame {
                keyframe,
                composition_time,
                data,
                ..
            } => Some((*keyframe, *composition_time, data.len())),
            _ => None,
        })
        .collect();
    let expected: Vec<(bool, i32, usize)> = rows(&src, "v:0")
        .iter()
        .map(|&(pts, dts, size, key)| (key, (pts - dts) as i32, size as usize))
        .collect();
    assert_eq!(frames, expected, "(key, composition time, size) per frame");
    let aac_frames = played
        .audio
        .iter()
        .filter(|t| matches!(flv::audio(t), Ok(flv::AudioTag::AacFrame(_))))
        .count();
    assert_eq!(aac_frames, rows(&src, "a:0").len(), "AAC frames");
}

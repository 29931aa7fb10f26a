//! Streaming MP3 to a real icecast2 (Debian's 2.4.4) in real time: a listener gets exactly
//! the file's audio frames, pacing holds over 20 s, mute sends decodable silence of the
//! same format, titles reach status-json and ICY listeners, and a server restart is survived.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use futures::StreamExt;
use icecast_source::{
    Event, EventStream, IcecastConfig, IcecastStream, Mp3Input, StreamOptions, stream_playlist,
};
use mp3_frames::{Event as Mp3Event, Events, Frames, silent_frame};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::{ffprobe, require_peer};
use tokio::sync::mpsc;

fn config(server: &Icecast) -> IcecastConfig {
    IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap()
}

/// The audio frames of a file (no tags, no Info frame), as byte vectors.
fn audio_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    Frames::new(bytes).map(|f| f.data.to_vec()).collect()
}

/// A listener on /stream that collects everything until the source ends (on a thread).
fn spawn_listener(port: u16, icy: bool) -> std::thread::JoinHandle<(String, Vec<u8>)> {
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
        let extra = if icy { "Icy-MetaData: 1\r\n" } else { "" };
        write!(s, "GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n").unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        let end = all
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("answer head")
            + 4;
        (
            String::from_utf8_lossy(&all[..end]).into_owned(),
            all[end..].to_vec(),
        )
    })
}

/// Waits until the mount is listed (the source is connected).
fn wait_for_mount(server: &Icecast) {
    let status = server.wait_for_status(|s| s["icestats"].get("source").is_some());
    assert!(
        status["icestats"].get("source").is_some(),
        "mount never appeared: {status}"
    );
}

struct Run {
    stream: IcecastStream,
    events: EventStream,
}

fn start(server: &Icecast, inputs: Vec<Mp3Input>, options: StreamOptions) -> Run {
    let mut stream = IcecastStream::spawn(config(server), options, inputs);
    let events = stream.events().expect("events taken once");
    Run { stream, events }
}

fn file(name: &str) -> Mp3Input {
    Mp3Input::File(test_support::fixture(name))
}

/// Waits for the first event matching `want`, with a bound.
async fn wait_event(events: &mut EventStream, want: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let e = events.next().await.expect("event stream open");
            if want(&e) {
                return e;
            }
        }
    })
    .await
    .expect("event in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_gets_exactly_the_files_audio_frames_without_tags() {
    require_peer!("icecast2", "ffprobe", "ffmpeg");
    let server = Icecast::start(IcecastOptions::default());
    let name = "id3v2-cover.mp3"; // ID3v2 with a cover image, Info frame, audio
    let original = std::fs::read(test_support::fixture(name)).unwrap();
    assert!(
        Events::new(&original).any(|e| matches!(e, Mp3Event::Tag(_))),
        "fixture has a tag"
    );
    let mut run = start(&server, vec![file(name)], StreamOptions::default());
    wait_event(&mut run.events, |e| {
        matches!(e, Event::Connected { method: "PUT" })
    })
    .await;
    tokio::task::block_in_place(|| wait_for_mount(&server));
    let listener = spawn_listener(server.port(), false);
    run.stream.wait().await.unwrap();
    let (head, body) = tokio::task::block_in_place(|| listener.join().unwrap());
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");

    let sent = audio_frames(&original);
    let got = audio_frames(&body);
    assert!(
        got.len() >= sent.len(),
        "the listener got {} of {} frames",
        got.len(),
        sent.len()
    );
    assert!(
        got[..sent.len()] == sent[..],
        "frames differ from the file's audio frames"
    );
    // After the file: only the silence that flushed the server's last queue block.
    let silence = silent_frame(
        &Frames::new(&original)
            .next()
            .unwrap()
            .header
            .with_padding(false),
    )
    .unwrap();
    assert!(
        got[sent.len()..].iter().all(|f| *f == silence),
        "only silence after the file"
    );
    assert!(!Events::new(&body).any(|e| matches!(
        e,
        Mp3Event::Tag(_) | Mp3Event::Info { .. } | Mp3Event::Skipped { .. }
    )));
    // Icecast relays whole queue blocks, so the stream a listener gets can end inside the
    // last (silent) frame; decode the complete frames.
    let complete = Frames::new(&body)
        .last()
        .map_or(0, |f| f.offset as usize + f.len());
    let dir = test_support::temp_dir();
    let out = dir.path().join("heard.mp3");
    std::fs::write(&out, &body[..complete]).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&out),
        "",
        "listener's stream decodes cleanly"
    );
    let packets = ffprobe::packets(&out, "a:0");
    assert_eq!(packets.len(), got.len(), "ffprobe counts the same frames");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_seconds_of_audio_take_twenty_seconds_and_never_lead_by_more_than_the_lead() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    // A playlist of 7 × 3.03 s: also shows that files follow each other without a gap.
    let inputs = vec![file("sine-44100-cbr128.mp3"); 7];
    let lead = Duration::from_millis(250);
    let mut run = start(&server, inputs, {
        let mut options = StreamOptions::default();
        options.lead = lead;
        options
    });
    wait_event(&mut run.events, |e| matches!(e, Event::Connected { .. })).await;
    let t0 = Instant::now();
    let mut last_time = Duration::ZERO;
    let mut frames = 0u64;
    let mut max_lead = Duration::ZERO;
    loop {
        match tokio::time::timeout(Duration::from_secs(30), run.events.next())
            .await
            .unwrap()
        {
            Some(Event::FrameSent { index, time, total }) => {
                assert_eq!(index, frames, "frames in order, none skipped");
                assert_eq!(total, Some(7 * 116), "total known for files");
                // `time` includes the frame just sent; it left when its start was due.
                let start_of_frame =
                    time.saturating_sub(Duration::from_nanos(1152 * 1_000_000_000 / 44_100));
                max_lead = max_lead.max(start_of_frame.saturating_sub(t0.elapsed()));
                last_time = time;
                frames += 1;
            }
            Some(Event::Finished) | None => break,
            Some(_) => {}
        }
    }
    let wall = t0.elapsed();
    run.stream.wait().await.unwrap();
    assert_eq!(frames, 7 * 116);
    let media = last_time;
    assert!(media > Duration::from_secs(21), "media {media:?}");
    // The stream closes when real time reaches the media time sent: wall = media ± 0.3 s.
    let expected = media;
    assert!(
        wall.abs_diff(expected) < Duration::from_millis(300),
        "wall {wall:?}, media {media:?}, lead {lead:?}"
    );
    assert!(
        max_lead <= lead + Duration::from_millis(20),
        "led real time by {max_lead:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_sends_decodable_silence_of_the_same_format_then_resumes_at_the_same_frame() {
    require_peer!("icecast2", "ffprobe", "ffmpeg");
    let server = Icecast::start(IcecastOptions::default());
    let name = "sine-44100-cbr128.mp3";
    let original = std::fs::read(test_support::fixture(name)).unwrap();
    let mut run = start(&server, vec![file(name)], StreamOptions::default());
    wait_event(&mut run.events, |e| matches!(e, Event::Connected { .. })).await;
    tokio::task::block_in_place(|| wait_for_mount(&server));
    let listener = spawn_listener(server.port(), false);
    wait_event(&mut run.events, |e| {
        matches!(e, Event::FrameSent { index: 40, .. })
    })
    .await;
    run.stream.mute().await.unwrap();
    wait_event(&mut run.events, |e| *e == Event::Muted).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    run.stream.unmute().await;
    wait_event(&mut run.events, |e| *e == Event::Unmuted).await;
    run.stream.wait().await.unwrap();
    let (_, body) = tokio::task::block_in_place(|| listener.join().unwrap());

    let sent = audio_frames(&original);
    let mut got: Vec<_> = Frames::new(&body).collect();
    // Up to the file's last frame (the flush silence after it is another matter).
    let last_file_frame = got
        .iter()
        .rposition(|f| sent.contains(&f.data.to_vec()))
        .unwrap();
    got.truncate(last_file_frame + 1);
    let header = got[0].header;
    assert!(
        got.iter()
            .all(|f| f.header.sample_rate() == header.sample_rate()
                && f.header.mode() == header.mode()
                && f.header.bitrate() == header.bitrate()),
        "same format throughout"
    );
    // The file's frames, in order, with a run of silence inside.
    let (audio, silence): (Vec<_>, Vec<_>) =
        got.iter().partition(|f| sent.contains(&f.data.to_vec()));
    let audio: Vec<Vec<u8>> = audio.iter().map(|f| f.data.to_vec()).collect();
    assert!(
        audio == sent,
        "every file frame once, in order ({} of {})",
        audio.len(),
        sent.len()
    );
    let silence_time = silence.len() as f64 * 1152.0 / 44_100.0;
    assert!(
        (1.8..2.5).contains(&silence_time),
        "silence lasted {silence_time:.2} s"
    );
    let first_silent = got
        .iter()
        .position(|f| !sent.contains(&f.data.to_vec()))
        .unwrap();
    let last_silent = got
        .iter()
        .rposition(|f| !sent.contains(&f.data.to_vec()))
        .unwrap();
    assert_eq!(
        last_silent - first_silent + 1,
        silence.len(),
        "one contiguous run of silence"
    );
    assert!(first_silent > 40, "muted after frame 40, at {first_silent}");
    let dir = test_support::temp_dir();
    let out = dir.path().join("muted.mp3");
    let complete = Frames::new(&body)
        .last()
        .map_or(0, |f| f.offset as usize + f.len());
    std::fs::write(&out, &body[..complete]).unwrap();
    assert_eq!(ffprobe::decode_errors(&out), "", "silence decodes cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn utf8_title_reaches_status_json_and_icy_listeners() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let inputs = vec![file("sine-44100-cbr128.mp3"); 2];
    let mut run = start(&server, inputs, StreamOptions::default());
    wait_event(&mut run.events, |e| matches!(e, Event::Connected { .. })).await;
    tokio::task::block_in_place(|| wait_for_mount(&server));
    let icy = spawn_listener(server.port(), true);
    let title = "Ärtist – Títle ♫";
    run.stream.set_title(title).await;
    wait_event(&mut run.events, |e| *e == Event::TitleSet(title.into())).await;
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"]["source"]["title"].as_str() == Some(title))
    });
    assert_eq!(
        status["icestats"]["source"]["title"].as_str(),
        Some(title),
        "{status}"
    );
    run.stream.wait().await.unwrap();
    let (head, body) = tokio::task::block_in_place(|| icy.join().unwrap());
    let metaint: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("icy-metaint:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no icy-metaint in {head}"));
    // Walk the ICY blocks: metaint audio bytes, one length byte (×16), metadata.
    let mut at = 0;
    let mut titles = Vec::new();
    while at + metaint < body.len() {
        at += metaint;
        let len = usize::from(body[at]) * 16;
        let meta = &body[at + 1..(at + 1 + len).min(body.len())];
        if let Some(t) = String::from_utf8_lossy(meta).split("StreamTitle='").nth(1) {
            titles.push(t.split("';").next().unwrap_or("").to_owned());
        }
        at += 1 + len;
    }
    assert!(
        titles.iter().any(|t| t == title),
        "ICY titles seen: {titles:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_once_and_restart_mid_stream_resumes() {
    require_peer!("icecast2");
    let mut server = Icecast::start(IcecastOptions::default());
    let mut bad = config(&server);
    bad.password = "wrong".into();
    let (_c, command_rx) = mpsc::channel(1);
    let (event_tx, _e) = mpsc::channel(1000);
    let started = Instant::now();
    let err = stream_playlist(
        &bad,
        &StreamOptions::default(),
        vec![file("sine-44100-cbr128.mp3")],
        command_rx,
        event_tx,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("wrong credentials"), "{err}");
    assert!(!err.to_string().contains("wrong@"), "password shown: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "no retry loop on wrong credentials"
    );

    let options = {
        let mut options = StreamOptions::default();
        options.reconnect.initial_delay = Duration::from_millis(200);
        options
    };
    let mut run = start(&server, vec![file("sine-44100-cbr128.mp3"); 2], options);
    wait_event(&mut run.events, |e| {
        matches!(e, Event::FrameSent { index: 30, .. })
    })
    .await;
    let port = server.port();
    server.kill();
    wait_event(&mut run.events, |e| matches!(e, Event::Disconnected { .. })).await;
    let server = tokio::task::block_in_place(|| Icecast::start_on(port, IcecastOptions::default()));
    wait_event(&mut run.events, |e| matches!(e, Event::Connected { .. })).await;
    let mut last = 0;
    while let Some(e) = run.events.next().await {
        match e {
            Event::FrameSent { index, .. } => last = index,
            Event::Finished => break,
            _ => {}
        }
    }
    run.stream.wait().await.unwrap();
    assert_eq!(last + 1, 2 * 116, "streaming resumed and reached the end");
    drop(server);
}

/// The server forgets a mount's title with its source: after icecast2 is restarted and the
/// stream reconnects, the current title is set again (status-json shows it). It was gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn title_is_set_again_after_the_server_restarts() {
    require_peer!("icecast2");
    let mut server = Icecast::start(IcecastOptions::default());
    let options = {
        let mut options = StreamOptions::default();
        options.reconnect.initial_delay = Duration::from_millis(200);
        options
    };
    let mut run = start(&server, vec![file("sine-44100-cbr128.mp3"); 3], options);
    wait_event(&mut run.events, |e| matches!(e, Event::Connected { .. })).await;
    tokio::task::block_in_place(|| wait_for_mount(&server));
    let title = "Before – and after a restart ♫";
    run.stream.set_title(title).await;
    wait_event(&mut run.events, |e| *e == Event::TitleSet(title.into())).await;

    let port = server.port();
    server.kill();
    wait_event(&mut run.events, |e| matches!(e, Event::Disconnected { .. })).await;
    let server = tokio::task::block_in_place(|| Icecast::start_on(port, IcecastOptions::default()));
    wait_event(&mut run.events, |e| matches!(e, Event::Connected { .. })).await;
    let again = wait_event(&mut run.events, |e| {
        matches!(e, Event::TitleSet(_) | Event::TitleFailed { .. })
    })
    .await;
    assert_eq!(again, Event::TitleSet(title.into()));
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"]["source"]["title"].as_str() == Some(title))
    });
    assert_eq!(
        status["icestats"]["source"]["title"].as_str(),
        Some(title),
        "the restarted server has the title: {status}"
    );
    run.stream.stop().await;
    let _ = run.stream.wait().await;
}

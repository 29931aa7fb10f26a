//! The live queue against a real icecast2 (Debian's 2.4.4), checked by what a listener
//! receives: songs queued while streaming follow each other without a gap (the listener's
//! frames are the files' audio frames, concatenated, and ffmpeg decodes them), skip
//! mid-song, a song in another format skipped, and a queue that runs dry (silence of the
//! stream's format) and is refilled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::{Duration, Instant};

use futures::StreamExt;
use icecast_source::{Event, EventStream, IcecastConfig, IcecastStream, Mp3Input, StreamOptions};
use mp3_frames::{Frames, silent_frame};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::{ffprobe, require_peer};

fn config(server: &Icecast) -> IcecastConfig {
    IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap()
}

/// A 44.1 kHz stereo 128 kbit/s MP3 of a sine at `hz`, `secs` long, made by ffmpeg.
fn song(dir: &Path, name: &str, hz: u32, secs: f64) -> PathBuf {
    tagged_song(dir, name, hz, secs, &[])
}

/// [`song`] with more ffmpeg arguments (tags).
fn tagged_song(dir: &Path, name: &str, hz: u32, secs: f64, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Process::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration={secs}"))
        .args(["-ac", "2", "-ar", "44100", "-b:a", "128k"])
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

fn audio_frames(bytes: &[u8]) -> Vec<Vec<u8>> {
    Frames::new(bytes).map(|f| f.data.to_vec()).collect()
}

fn file_frames(path: &Path) -> Vec<Vec<u8>> {
    audio_frames(&std::fs::read(path).unwrap())
}

/// A listener on /stream that collects the body until the source ends (on a thread).
fn spawn_listener(port: u16) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || listen(port, false).1)
}

/// Listens on /stream until the source ends: the answer head and the body.
fn listen(port: u16, icy: bool) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    let extra = if icy { "Icy-MetaData: 1\r\n" } else { "" };
    write!(s, "GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n{extra}\r\n").unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    (
        String::from_utf8_lossy(&all[..end]).into_owned(),
        all[end..].to_vec(),
    )
}

/// The `StreamTitle`s of an ICY listener's body (metaint audio bytes, a length byte ×16,
/// the metadata), in order.
fn icy_titles(head: &str, body: &[u8]) -> Vec<String> {
    let metaint: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("icy-metaint:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no icy-metaint in {head}"));
    let (mut at, mut titles) = (0, Vec::new());
    while at + metaint < body.len() {
        at += metaint;
        let len = usize::from(body[at]) * 16;
        let meta = &body[at + 1..(at + 1 + len).min(body.len())];
        if let Some(t) = String::from_utf8_lossy(meta).split("StreamTitle='").nth(1) {
            titles.push(t.split("';").next().unwrap_or("").to_owned());
        }
        at += 1 + len;
    }
    titles
}

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

/// Starts a radio (silence when dry) on `inputs`, and a listener once the mount is up.
async fn radio(
    server: &Icecast,
    inputs: Vec<Mp3Input>,
) -> (IcecastStream, EventStream, std::thread::JoinHandle<Vec<u8>>) {
    let options = {
        let mut options = StreamOptions::default();
        options.stop_when_empty = false;
        options
    };
    let mut stream = IcecastStream::spawn(config(server), options, inputs);
    let mut events = stream.events().unwrap();
    wait_event(&mut events, |e| matches!(e, Event::Connected { .. })).await;
    tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    let listener = spawn_listener(server.port());
    (stream, events, listener)
}

/// Decodes what the listener got (whole frames) with ffmpeg: no error.
fn decodes_cleanly(body: &[u8]) {
    let dir = test_support::temp_dir();
    let out = dir.path().join("heard.mp3");
    let complete = Frames::new(body)
        .last()
        .map_or(0, |f| f.offset as usize + f.len());
    std::fs::write(&out, &body[..complete]).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&out),
        "",
        "the listener's stream decodes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn songs_queued_while_streaming_play_gaplessly_and_another_format_is_skipped() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let server = Icecast::start(IcecastOptions::default());
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.mp3", 440, 2.0);
    let b = song(dir.path(), "b.mp3", 660, 2.0);
    let c = song(dir.path(), "c.mp3", 880, 2.0);
    let other = test_support::fixture("mpeg2-24000-mono-cbr64.mp3");
    let (stream, mut events, listener) = radio(&server, vec![Mp3Input::File(a.clone())]).await;
    let t0 = Instant::now();
    // The next song is chosen while the previous one plays.
    wait_event(&mut events, |e| {
        matches!(e, Event::TrackStarted { index: 0, .. })
    })
    .await;
    stream.enqueue(Mp3Input::File(other.clone())).unwrap();
    stream.enqueue(Mp3Input::File(b.clone())).unwrap();
    assert_eq!(
        stream.queue(),
        vec![Mp3Input::File(other.clone()), Mp3Input::File(b.clone())]
    );
    let first = wait_event(&mut events, |e| matches!(e, Event::TrackFinished { .. })).await;
    assert!(
        matches!(
            first,
            Event::TrackFinished {
                index: 0,
                completed: true,
                ..
            }
        ),
        "{first:?}"
    );
    let failed = wait_event(&mut events, |e| matches!(e, Event::TrackFailed { .. })).await;
    let Event::TrackFailed { input, reason } = failed else {
        unreachable!()
    };
    assert_eq!(input, Mp3Input::File(other));
    assert!(reason.contains("24000"), "{reason}");
    let started = wait_event(&mut events, |e| matches!(e, Event::TrackStarted { .. })).await;
    assert!(
        matches!(&started, Event::TrackStarted { index: 1, input, .. } if *input == Mp3Input::File(b.clone())),
        "{started:?}"
    );
    stream.enqueue(Mp3Input::File(c.clone())).unwrap();
    stream
        .commands()
        .send(icecast_source::Command::StopWhenEmpty)
        .await
        .unwrap();
    let mut finished = Vec::new();
    let mut last_time = Duration::ZERO;
    while let Some(event) = events.next().await {
        match event {
            Event::TrackFinished {
                index, completed, ..
            } => finished.push((index, completed)),
            Event::FrameSent { time, .. } => last_time = time,
            Event::QueueEmpty => panic!("the queue never ran dry"),
            Event::Finished => break,
            _ => {}
        }
    }
    let wall = t0.elapsed();
    stream.wait().await.unwrap();
    assert_eq!(finished, vec![(1, true), (2, true)]);

    let body = tokio::task::block_in_place(|| listener.join().unwrap());
    let expected: Vec<Vec<u8>> = [&a, &b, &c].iter().flat_map(|p| file_frames(p)).collect();
    let got = audio_frames(&body);
    assert!(
        got.len() >= expected.len(),
        "{} of {} frames",
        got.len(),
        expected.len()
    );
    assert!(
        got[..expected.len()] == expected[..],
        "the listener's frames are the three files' audio frames, concatenated"
    );
    let header = Frames::new(&body)
        .next()
        .unwrap()
        .header
        .with_padding(false);
    let silence = silent_frame(&header).unwrap();
    assert!(
        got[expected.len()..].iter().all(|f| *f == silence),
        "then only the flush"
    );
    decodes_cleanly(&body);
    // No gap: the stream closes when real time reaches the media time sent.
    println!("wall {wall:?}, media {last_time:?}");
    assert!(
        wall.abs_diff(last_time) < Duration::from_millis(300),
        "wall {wall:?}, media {last_time:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_mid_song_goes_on_with_the_next_song() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let server = Icecast::start(IcecastOptions::default());
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.mp3", 440, 3.0);
    let b = song(dir.path(), "b.mp3", 660, 1.0);
    let inputs = vec![Mp3Input::File(a.clone()), Mp3Input::File(b.clone())];
    let (stream, mut events, listener) = radio(&server, inputs).await;
    stream
        .commands()
        .send(icecast_source::Command::StopWhenEmpty)
        .await
        .unwrap();
    wait_event(&mut events, |e| {
        matches!(e, Event::FrameSent { index: 30, .. })
    })
    .await;
    stream.skip().await;
    let skipped = wait_event(&mut events, |e| matches!(e, Event::TrackFinished { .. })).await;
    assert!(
        matches!(
            skipped,
            Event::TrackFinished {
                index: 0,
                completed: false,
                ..
            }
        ),
        "{skipped:?}"
    );
    stream.wait().await.unwrap();
    let body = tokio::task::block_in_place(|| listener.join().unwrap());
    let (a, b) = (file_frames(&a), file_frames(&b));
    let got = audio_frames(&body);
    // The listener joined at the start: a prefix of A (cut after frame 30), then all of B.
    let cut = got.iter().position(|f| *f == b[0]).expect("B was heard");
    assert!(
        cut > 30 && cut < a.len() - 10,
        "A cut at frame {cut} of {}",
        a.len()
    );
    assert!(got[..cut] == a[..cut], "A's frames up to the skip");
    assert!(got[cut..cut + b.len()] == b[..], "then B, whole");
    decodes_cleanly(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_queue_sends_silence_of_the_stream_format_until_refilled() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let server = Icecast::start(IcecastOptions::default());
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.mp3", 440, 1.0);
    let b = song(dir.path(), "b.mp3", 660, 1.0);
    let (stream, mut events, listener) = radio(&server, vec![Mp3Input::File(a.clone())]).await;
    wait_event(&mut events, |e| *e == Event::QueueEmpty).await;
    let dry_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(stream.queue().is_empty());
    stream.enqueue(Mp3Input::File(b.clone())).unwrap();
    let dry_for = dry_at.elapsed();
    wait_event(&mut events, |e| {
        matches!(e, Event::TrackStarted { index: 1, .. })
    })
    .await;
    stream
        .commands()
        .send(icecast_source::Command::StopWhenEmpty)
        .await
        .unwrap();
    stream.wait().await.unwrap();
    let body = tokio::task::block_in_place(|| listener.join().unwrap());
    let (a, b) = (file_frames(&a), file_frames(&b));
    let got = audio_frames(&body);
    let header = Frames::new(&body)
        .next()
        .unwrap()
        .header
        .with_padding(false);
    let silence = silent_frame(&header).unwrap();
    assert!(got[..a.len()] == a[..], "A first");
    let refill = got.iter().position(|f| *f == b[0]).expect("B was heard");
    let gap = &got[a.len()..refill];
    assert!(gap.iter().all(|f| *f == silence), "only silence while dry");
    let gap_secs = gap.len() as f64 * 1152.0 / 44_100.0;
    println!(
        "dry for {dry_for:?}: {} silent frames ({gap_secs:.2} s)",
        gap.len()
    );
    assert!(
        (gap_secs - dry_for.as_secs_f64()).abs() < 0.4,
        "silence lasted {gap_secs:.2} s of media for {dry_for:?} dry"
    );
    assert!(got[refill..refill + b.len()] == b[..], "then B, whole");
    decodes_cleanly(&body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn titles_from_id3v23_utf16_and_id3v24_utf8_tags_reach_status_json_and_icy() {
    require_peer!("icecast2", "ffmpeg");
    let server = Icecast::start(IcecastOptions::default());
    let dir = test_support::temp_dir();
    // ffmpeg writes non-Latin-1 text as UTF-16 with BOM in v2.3, as UTF-8 in v2.4.
    let one = tagged_song(
        dir.path(),
        "one.mp3",
        440,
        2.0,
        &[
            "-id3v2_version",
            "3",
            "-metadata",
            "artist=Ärtist ♫",
            "-metadata",
            "title=Erstes – Lied",
        ],
    );
    let two = tagged_song(
        dir.path(),
        "two.mp3",
        660,
        2.0,
        &[
            "-id3v2_version",
            "4",
            "-metadata",
            "artist=Zweite Band",
            "-metadata",
            "title=Títle 曲",
        ],
    );
    let expected = ["Ärtist ♫ – Erstes – Lied", "Zweite Band – Títle 曲"];
    let inputs = vec![Mp3Input::File(one), Mp3Input::File(two)];
    let mut stream = IcecastStream::spawn(config(&server), StreamOptions::default(), inputs);
    let mut events = stream.events().unwrap();
    wait_event(&mut events, |e| matches!(e, Event::Connected { .. })).await;
    tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    let port = server.port();
    let icy = std::thread::spawn(move || listen(port, true));
    let title_of =
        |s: &serde_json::Value| s["icestats"]["source"]["title"].as_str().map(String::from);
    for (index, title) in expected.iter().enumerate() {
        let started = wait_event(&mut events, |e| matches!(e, Event::TrackStarted { .. })).await;
        let Event::TrackStarted {
            index: i, title: t, ..
        } = started
        else {
            unreachable!()
        };
        assert_eq!((i, t.as_deref()), (index as u64, Some(*title)));
        wait_event(&mut events, |e| *e == Event::TitleSet(title.to_string())).await;
        let status = tokio::task::block_in_place(|| {
            server.wait_for_status(|s| title_of(s).as_deref() == Some(*title))
        });
        assert_eq!(title_of(&status).as_deref(), Some(*title), "{status}");
    }
    stream.wait().await.unwrap();
    let (head, body) = tokio::task::block_in_place(|| icy.join().unwrap());
    let titles = icy_titles(&head, &body);
    for title in expected {
        assert!(
            titles.iter().any(|t| t == title),
            "{title:?} not in ICY titles {titles:?}"
        );
    }
}

//! The live queue with AAC and Ogg songs against a real icecast2 (Debian's 2.4.4):
//! ffmpeg-made ADTS AAC, Ogg Opus and Ogg Vorbis files queued while streaming reach a
//! listener as one stream of the songs' content type; ffmpeg decodes what the listener got
//! without error; Ogg songs are one logical stream each (read back with the `ogg` crate's
//! packet reader, written by others); a song of another format is skipped. Muted AAC, Opus
//! and Vorbis streams carry silence of their format (Ogg: inside the song's logical
//! stream), and dry Opus and Vorbis radios a logical stream of silence of their own, which
//! ffmpeg decodes as digital silence.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Cursor, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use icecast_source::adts::AdtsFrames;
use icecast_source::ogg::OggPages;
use icecast_source::{
    Command, Event, EventStream, IcecastConfig, IcecastStream, Mp3Input, StreamOptions,
};
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::{ffprobe, require_peer};

/// A song of a sine at `hz`, `secs` long, made by ffmpeg with `codec` arguments.
fn song(dir: &Path, name: &str, hz: u32, secs: f64, codec: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let out = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency={hz}:duration={secs}"))
        .args(codec)
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

const AAC: &[&str] = &[
    "-ac", "2", "-ar", "44100", "-c:a", "aac", "-b:a", "96k", "-f", "adts",
];
const OPUS: &[&str] = &["-ac", "2", "-c:a", "libopus", "-b:a", "64k", "-f", "ogg"];
const VORBIS: &[&str] = &[
    "-ac",
    "2",
    "-ar",
    "44100",
    "-c:a",
    "libvorbis",
    "-q:a",
    "2",
    "-f",
    "ogg",
];

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

/// Listens on /stream until the source ends: the answer head and the body.
fn listen(port: u16) -> (String, Vec<u8>) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(40))).unwrap();
    write!(s, "GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut all = Vec::new();
    let _ = s.read_to_end(&mut all);
    let end = all.windows(4).position(|w| w == b"\r\n\r\n").expect("head") + 4;
    (
        String::from_utf8_lossy(&all[..end]).into_owned(),
        all[end..].to_vec(),
    )
}

/// Plays `first` as a queue, queues `later` while the first song plays, and returns the
/// events seen until the end, the listener's answer head and body, and the server's
/// content type for the mount.
async fn play(
    first: &Path,
    later: &[&Path],
    during: impl AsyncFnOnce(&IcecastStream, &mut EventStream),
) -> (Vec<Event>, String, Vec<u8>, String) {
    let server = Icecast::start(IcecastOptions::default());
    let config = IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap();
    let mut options = StreamOptions::default();
    options.stop_when_empty = false;
    let mut stream = IcecastStream::spawn(config, options, vec![Mp3Input::File(first.into())]);
    let mut events = stream.events().unwrap();
    wait_event(&mut events, |e| {
        matches!(e, Event::TrackStarted { index: 0, .. })
    })
    .await;
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    let content_type = status["icestats"]["source"]["server_type"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let port = server.port();
    let listener = std::thread::spawn(move || listen(port));
    for path in later {
        stream.enqueue(Mp3Input::File(path.into())).unwrap();
    }
    during(&stream, &mut events).await;
    stream
        .commands()
        .send(Command::StopWhenEmpty)
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        let end = event == Event::Finished;
        seen.push(event);
        if end {
            break;
        }
    }
    stream.wait().await.unwrap();
    let (head, body) = tokio::task::block_in_place(|| listener.join().unwrap());
    (seen, head, body, content_type)
}

fn finished(events: &[Event]) -> Vec<(u64, bool)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::TrackFinished {
                index, completed, ..
            } => Some((*index, *completed)),
            _ => None,
        })
        .collect()
}

/// Writes `body` to `dir/name` and has ffmpeg decode it: no error, and the seconds decoded.
fn decode(dir: &Path, name: &str, body: &[u8]) -> f64 {
    let out = dir.join(name);
    std::fs::write(&out, body).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&out),
        "",
        "ffmpeg decodes the listener's stream"
    );
    let decoded = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&out)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    decoded.stdout.len() as f64 / 2.0 / 48_000.0
}

fn adts(path: &Path) -> Vec<Bytes> {
    AdtsFrames::new(std::fs::read(path).unwrap())
        .map(|f| f.unwrap().data)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_aac_songs_from_the_queue_reach_a_listener_that_ffmpeg_decodes() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.aac", 440, 1.5, AAC);
    let b = song(dir.path(), "b.aac", 660, 1.5, AAC);
    let c = song(dir.path(), "c.aac", 880, 1.5, AAC);
    let mono = [
        "-ac", "1", "-ar", "22050", "-c:a", "aac", "-b:a", "48k", "-f", "adts",
    ];
    let other = song(dir.path(), "other.aac", 550, 1.0, &mono);
    let (events, head, body, content_type) = play(&a, &[&other, &b, &c], async |_, _| {}).await;
    assert_eq!(content_type, "audio/aac");
    assert!(head.contains("audio/aac"), "{head}");
    assert_eq!(finished(&events), [(0, true), (1, true), (2, true)]);
    let failed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::TrackFailed { input, reason } => Some((input.clone(), reason.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].0, Mp3Input::File(other));
    assert!(failed[0].1.contains("22050"), "{}", failed[0].1);

    // The listener's frames are the three files' frames, concatenated, then silence.
    let expected: Vec<Bytes> = [&a, &b, &c].iter().flat_map(|p| adts(p)).collect();
    let got: Vec<Bytes> = AdtsFrames::new(body.clone())
        .map_while(Result::ok)
        .map(|f| f.data)
        .collect();
    println!("{} frames heard, {} sent", got.len(), expected.len());
    assert!(
        got.len() >= expected.len(),
        "{} of {} frames",
        got.len(),
        expected.len()
    );
    assert!(
        got[..expected.len()] == expected[..],
        "the listener's frames are the three files' frames, concatenated"
    );
    let silence = &got[got.len() - 1];
    assert!(
        got[expected.len()..].iter().all(|f| f == silence),
        "then the silent frames of the flush"
    );
    let complete: usize = got.iter().map(Bytes::len).sum();
    let seconds = decode(dir.path(), "heard.aac", &body[..complete]);
    println!("decoded {seconds:.2} s");
    assert!(seconds > 4.4, "decoded {seconds:.2} s of 4.5");
}

/// The logical streams of an Ogg stream as the `ogg` crate reads them: per stream, its
/// serial and packet count, in the order the streams begin.
fn logical_streams(body: &[u8]) -> Vec<(u32, usize)> {
    let mut reader = ogg::PacketReader::new(Cursor::new(body));
    let mut streams: Vec<(u32, usize)> = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        let serial = packet.stream_serial();
        if packet.first_in_stream() {
            assert!(
                streams.iter().all(|(s, _)| *s != serial),
                "serial {serial} reused"
            );
            streams.push((serial, 0));
        }
        if let Some(stream) = streams.iter_mut().find(|(s, _)| *s == serial) {
            stream.1 += 1;
        }
    }
    streams
}

fn packet_count(path: &Path) -> usize {
    let data = std::fs::read(path).unwrap();
    let streams = logical_streams(&data);
    assert_eq!(streams.len(), 1);
    streams[0].1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_opus_songs_from_the_queue_are_three_logical_streams_that_ffmpeg_decodes() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let tagged: Vec<&str> = [
        OPUS,
        &["-metadata", "artist=Ärtist", "-metadata", "title=Öpus"],
    ]
    .concat();
    let a = song(dir.path(), "a.opus", 440, 1.5, &tagged);
    let b = song(dir.path(), "b.opus", 660, 1.5, OPUS);
    let c = song(dir.path(), "c.opus", 880, 1.5, OPUS);
    let mono = ["-ac", "1", "-c:a", "libopus", "-f", "ogg"];
    let other = song(dir.path(), "mono.opus", 550, 1.0, &mono);
    let (events, head, body, content_type) = play(&a, &[&b, &other, &c], async |_, _| {}).await;
    assert_eq!(content_type, "application/ogg");
    assert!(head.contains("application/ogg"), "{head}");
    assert_eq!(finished(&events), [(0, true), (1, true), (2, true)]);
    assert!(
        events.iter().any(
            |e| matches!(e, Event::TrackFailed { reason, .. } if reason.contains("Opus 1 ch"))
        ),
        "the mono song is skipped"
    );
    assert!(
        events.contains(&Event::TitleSet("Ärtist – Öpus".into())),
        "the first song's title from its OpusTags: {events:?}"
    );

    let streams = logical_streams(&body);
    println!("logical streams heard: {streams:?}");
    let packets: Vec<usize> = streams.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        packets,
        [packet_count(&a), packet_count(&b), packet_count(&c)],
        "one logical stream per song, each song whole"
    );
    // Our own page reader agrees: three first pages, three serials.
    let firsts = OggPages::new(Bytes::from(body.clone()))
        .map_while(Result::ok)
        .filter(|p| p.first)
        .count();
    assert_eq!(firsts, 3);
    let seconds = decode(dir.path(), "heard.ogg", &body);
    println!("decoded {seconds:.2} s");
    assert!(
        seconds > 4.4,
        "decoded {seconds:.2} s of 4.5: the chain was not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vorbis_songs_from_the_queue_are_logical_streams_that_ffmpeg_decodes() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.ogg", 440, 1.5, VORBIS);
    let b = song(dir.path(), "b.ogg", 660, 1.5, VORBIS);
    let (events, head, body, content_type) = play(&a, &[&b], async |_, _| {}).await;
    assert_eq!(content_type, "application/ogg");
    assert!(head.contains("application/ogg"), "{head}");
    assert_eq!(finished(&events), [(0, true), (1, true)]);
    let streams = logical_streams(&body);
    let packets: Vec<usize> = streams.iter().map(|(_, n)| *n).collect();
    assert_eq!(packets, [packet_count(&a), packet_count(&b)]);
    // ffmpeg 5.1's muxer complains of the second link's timestamps starting again in any
    // chained Vorbis file, one made by `cat a.ogg b.ogg` as well: that one line is allowed.
    let file = dir.path().join("heard.ogg");
    std::fs::write(&file, &body).unwrap();
    let cat = dir.path().join("cat.ogg");
    std::fs::write(
        &cat,
        [std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap()].concat(),
    )
    .unwrap();
    const RESTART: &str = "non monotonically increasing dts to muxer";
    assert!(ffprobe::decode_errors(&cat).contains(RESTART));
    let errors = ffprobe::decode_errors(&file);
    let other: Vec<&str> = errors.lines().filter(|l| !l.contains(RESTART)).collect();
    assert!(
        other.is_empty(),
        "ffmpeg decodes the listener's stream: {errors}"
    );
    let seconds = pcm(&file).len() as f64 / 48_000.0;
    println!("decoded {seconds:.2} s");
    assert!(seconds > 2.9, "decoded {seconds:.2} s of 3");
}

/// Decodes `file` with ffmpeg to mono 48 kHz samples.
fn pcm(file: &Path) -> Vec<i16> {
    let out = Process::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(file)
        .args(["-f", "s16le", "-ac", "1", "-ar", "48000", "-"])
        .output()
        .unwrap();
    out.stdout
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// The loudest sample between `from` and `to` seconds.
fn peak(samples: &[i16], from: f64, to: f64) -> i32 {
    let at = |t: f64| ((t * 48_000.0) as usize).min(samples.len());
    samples[at(from)..at(to)]
        .iter()
        .map(|s| i32::from(*s).abs())
        .max()
        .unwrap_or(0)
}

/// Mutes once `frames` frames of the song went out, for about a second, then unmutes.
async fn mute_for_a_second(stream: &IcecastStream, events: &mut EventStream, frames: u64) {
    wait_event(
        events,
        |e| matches!(e, Event::FrameSent { index, .. } if *index >= frames),
    )
    .await;
    stream.mute().await.unwrap();
    wait_event(events, |e| *e == Event::Muted).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    stream.unmute().await;
    wait_event(events, |e| *e == Event::Unmuted).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_an_aac_stream_sends_silent_aac_frames_that_ffmpeg_decodes_as_silence() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.aac", 440, 2.0, AAC);
    let (_, _, body, _) = play(&a, &[], async |stream, events| {
        mute_for_a_second(stream, events, 20).await;
    })
    .await;
    let got: Vec<Bytes> = AdtsFrames::new(body.clone())
        .map_while(Result::ok)
        .map(|f| f.data)
        .collect();
    let song = adts(&a);
    // The stream ends with the silent frames of the flush.
    let silence = got.last().unwrap().clone();
    let silent = |f: &Bytes| *f == silence;
    let first_silent = got.iter().position(silent).expect("silent frames");
    let run = got[first_silent..].iter().take_while(|f| silent(f)).count();
    println!("{first_silent} song frames, then {run} silent frames");
    assert!(run >= 30, "{run} silent frames for a mute of 1.2 s");
    let heard: Vec<Bytes> = got.iter().filter(|f| !silent(f)).cloned().collect();
    assert!(
        heard == song,
        "the song's frames, all of them in order, around the silence"
    );
    let file = dir.path().join("heard.aac");
    let complete: usize = got.iter().map(Bytes::len).sum();
    std::fs::write(&file, &body[..complete]).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&file),
        "",
        "decodes through the mute"
    );
    let samples = pcm(&file);
    let start = first_silent as f64 * 1024.0 / 44_100.0;
    let end = (first_silent + run) as f64 * 1024.0 / 44_100.0;
    assert!(peak(&samples, 0.1, start - 0.05) > 1000, "the sine before");
    assert!(
        peak(&samples, start + 0.05, end - 0.05) <= 1,
        "digital silence during the mute"
    );
    assert!(
        peak(&samples, end + 0.05, end + 0.3) > 1000,
        "the sine after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_an_opus_stream_sends_silent_opus_packets_in_the_same_logical_stream() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    // Pages of 0.2 s: mute and unmute take effect at page boundaries.
    let mut codec = OPUS.to_vec();
    codec.splice(0..0, ["-page_duration", "200000"]);
    let a = song(dir.path(), "a.opus", 440, 2.0, &codec);
    let (_, _, body, _) = play(&a, &[], async |stream, events| {
        mute_for_a_second(stream, events, 4).await;
    })
    .await;
    let streams = logical_streams(&body);
    assert_eq!(streams.len(), 1, "silence inside the song's logical stream");
    let mut reader = ogg::PacketReader::new(Cursor::new(&body));
    let mut packets = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        packets.push(packet.data);
    }
    let silent = |p: &Vec<u8>| p[..] == [0xFC, 0xFF, 0xFE];
    let first_silent = packets.iter().position(silent).expect("silent packets");
    let run = packets[first_silent..]
        .iter()
        .take_while(|p| silent(p))
        .count();
    println!("{first_silent} packets, then {run} silent packets");
    assert!(
        run >= 40,
        "{run} silent packets of 20 ms for a mute of 1.2 s"
    );
    let mut song_reader = ogg::PacketReader::new(Cursor::new(std::fs::read(&a).unwrap()));
    let mut song = Vec::new();
    while let Ok(Some(packet)) = song_reader.read_packet() {
        song.push(packet.data);
    }
    let heard: Vec<Vec<u8>> = packets.iter().filter(|p| !silent(p)).cloned().collect();
    assert!(
        heard == song,
        "the song's packets, all in order, around the silence"
    );
    let file = dir.path().join("heard.opus");
    std::fs::write(&file, &body).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&file),
        "",
        "decodes through the mute"
    );
    let samples = pcm(&file);
    // Two header packets, then 20 ms packets; the decoder drops the pre-skip (312).
    let start = ((first_silent - 2) as f64 * 960.0 - 312.0) / 48_000.0;
    let end = start + run as f64 * 0.02;
    let total = samples.len() as f64 / 48_000.0;
    println!("decoded {total:.2} s, silence {start:.2}..{end:.2} s");
    assert!(
        (total - (2.0 + run as f64 * 0.02)).abs() < 0.05,
        "{total:.2} s"
    );
    assert!(peak(&samples, 0.1, start - 0.05) > 1000, "the sine before");
    assert!(
        peak(&samples, start + 0.05, end - 0.05) <= 1,
        "digital silence during the mute"
    );
    assert!(
        peak(&samples, end + 0.05, end + 0.3) > 1000,
        "the sine after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opus_radio_whose_queue_runs_dry_sends_a_link_of_silence_until_refilled() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.opus", 440, 1.5, OPUS);
    let b = song(dir.path(), "b.opus", 660, 1.5, OPUS);
    let later = b.clone();
    let (events, _, body, _) = play(&a, &[], async move |stream, events| {
        wait_event(events, |e| *e == Event::QueueEmpty).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stream.enqueue(Mp3Input::File(later)).unwrap();
        wait_event(events, |e| {
            matches!(e, Event::TrackStarted { index: 1, .. })
        })
        .await;
    })
    .await;
    assert_eq!(finished(&events), [(1, true)], "song 0 finished before");
    let mut reader = ogg::PacketReader::new(Cursor::new(&body));
    let mut streams: Vec<(u32, Vec<Vec<u8>>)> = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        if packet.first_in_stream() {
            streams.push((packet.stream_serial(), Vec::new()));
        }
        if let Some(last) = streams.last_mut() {
            last.1.push(packet.data);
        }
    }
    let counts: Vec<usize> = streams.iter().map(|(_, p)| p.len()).collect();
    println!("logical streams: {counts:?}");
    assert_eq!(streams.len(), 3, "song, silence, song");
    assert_eq!(counts[0], packet_count(&a));
    assert_eq!(counts[2], packet_count(&b));
    let silence = &streams[1].1;
    assert!(silence[0].starts_with(b"OpusHead") && silence[1].starts_with(b"OpusTags"));
    assert!(
        silence[2..].iter().all(|p| p[..] == [0xFC, 0xFF, 0xFE]),
        "silent packets only"
    );
    // 1.5 s dry in real time; the last page of song 0 (about 0.5 s of it) went out when
    // its start was due, so media time was ahead when the queue ran dry.
    assert!(
        silence.len() - 2 >= 40,
        "{} silent packets",
        silence.len() - 2
    );
    let file = dir.path().join("heard.opus");
    std::fs::write(&file, &body).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&file),
        "",
        "decodes through the chain"
    );
    let samples = pcm(&file);
    let dry = (silence.len() - 2) as f64 * 0.02;
    let total = samples.len() as f64 / 48_000.0;
    println!("decoded {total:.2} s, {dry:.2} s of it silence");
    assert!((total - (3.0 + dry)).abs() < 0.1, "{total:.2} s");
    assert!(
        peak(&samples, 1.6, 1.5 + dry - 0.1) <= 1,
        "silence between the songs"
    );
    assert!(
        peak(&samples, 1.5 + dry + 0.1, total - 0.1) > 1000,
        "the second song"
    );
}

/// The packets of an Ogg stream, per logical stream in the order they begin (`ogg` crate).
fn packets_per_link(body: &[u8]) -> Vec<Vec<Vec<u8>>> {
    let mut reader = ogg::PacketReader::new(Cursor::new(body));
    let mut links: Vec<Vec<Vec<u8>>> = Vec::new();
    while let Ok(Some(packet)) = reader.read_packet() {
        if packet.first_in_stream() {
            links.push(Vec::new());
        }
        if let Some(last) = links.last_mut() {
            last.push(packet.data);
        }
    }
    links
}

/// libvorbis at 44.1 kHz: blocks of 256 and 2048 samples, mode 0 short, mode 1 long.
const VORBIS_BLOCKS: [u64; 2] = [256, 2048];

/// A silent packet of a libvorbis stereo stream (Vorbis I §4.3.1): type bit 0, the mode
/// bit, a long block's two window flags, two floor bits "unused": one byte, 0x00 (short)
/// or 0x02 with window flags (long).
fn vorbis_silent(packet: &[u8]) -> bool {
    packet.len() == 1 && packet[0] & 0xF1 == 0
}

/// Where each audio packet's samples end (Vorbis I §4.3.8: a packet returns the samples
/// from the middle of the previous window to the middle of its own; the first returns
/// none), from the mode bit of each packet after the three headers.
fn vorbis_ends(packets: &[Vec<u8>]) -> Vec<u64> {
    let mut previous: Option<u64> = None;
    let mut at = 0;
    packets[3..]
        .iter()
        .map(|p| {
            let size = VORBIS_BLOCKS[usize::from((p[0] >> 1) & 1)];
            if let Some(before) = previous {
                at += before / 4 + size / 4;
            }
            previous = Some(size);
            at
        })
        .collect()
}

/// `ffprobe -show_packets`: in each link of the chain, each audio packet starts where the
/// one before ended (pts + duration). ffprobe lists a chain as one stream whose timestamps
/// start again at each link, after the link's header packets (no duration). Returns the
/// number of links.
fn packets_continuous(file: &Path) -> usize {
    let mut links = 0;
    let mut end: Option<i64> = None;
    for p in ffprobe::packets(file, "a") {
        let pts = p["pts"].as_i64().expect("pts");
        let Some(duration) = p["duration"].as_i64() else {
            end = None; // a header packet: a link begins
            continue;
        };
        match end {
            Some(end) => assert_eq!(pts, end, "the packet after the one ending at {end}"),
            None => links += 1,
        }
        end = Some(pts + duration);
    }
    links
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn muting_a_vorbis_stream_sends_silent_vorbis_packets_in_the_same_logical_stream() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    // Pages of 0.2 s: mute and unmute take effect at page boundaries.
    let mut codec = VORBIS.to_vec();
    codec.splice(0..0, ["-page_duration", "200000"]);
    let a = song(dir.path(), "a.ogg", 440, 2.0, &codec);
    let (_, _, body, _) = play(&a, &[], async |stream, events| {
        mute_for_a_second(stream, events, 4).await;
    })
    .await;
    let links = packets_per_link(&body);
    assert_eq!(links.len(), 1, "silence inside the song's logical stream");
    let packets = &links[0];
    let first_silent = packets
        .iter()
        .position(|p| vorbis_silent(p))
        .expect("silent packets");
    let run = packets[first_silent..]
        .iter()
        .take_while(|p| vorbis_silent(p))
        .count();
    let song = &packets_per_link(&std::fs::read(&a).unwrap())[0];
    let heard: Vec<&Vec<u8>> = packets.iter().filter(|p| !vorbis_silent(p)).collect();
    assert!(
        heard == song.iter().collect::<Vec<_>>(),
        "the song's packets, all in order, around the silence"
    );
    let ends = vorbis_ends(packets);
    let start = ends[first_silent - 4] as f64 / 44_100.0;
    let end = ends[first_silent - 4 + run] as f64 / 44_100.0;
    println!(
        "{first_silent} packets, then {run} silent packets: {start:.2}..{end:.2} s, {} packets in all",
        packets.len()
    );
    assert!(
        end - start > 1.0,
        "{:.2} s of silence for a mute of 1.2 s",
        end - start
    );

    let file = dir.path().join("heard.ogg");
    std::fs::write(&file, &body).unwrap();
    assert_eq!(
        ffprobe::decode_errors(&file),
        "",
        "decodes through the mute"
    );
    assert_eq!(packets_continuous(&file), 1);
    let samples = pcm(&file);
    let total = samples.len() as f64 / 48_000.0;
    println!("decoded {total:.2} s, silence {start:.2}..{end:.2} s");
    assert!(
        (total - (2.0 + end - start)).abs() < 0.05,
        "{total:.2} s: the song and the silence"
    );
    assert!(peak(&samples, 0.1, start - 0.05) > 1000, "the sine before");
    assert!(
        peak(&samples, start + 0.05, end - 0.05) <= 1,
        "digital silence during the mute"
    );
    assert!(
        peak(&samples, end + 0.05, end + 0.3) > 1000,
        "the sine after"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vorbis_radio_whose_queue_runs_dry_sends_a_link_of_silence_until_refilled() {
    require_peer!("icecast2", "ffmpeg", "ffprobe");
    let dir = test_support::temp_dir();
    let a = song(dir.path(), "a.ogg", 440, 1.5, VORBIS);
    let b = song(dir.path(), "b.ogg", 660, 1.5, VORBIS);
    let later = b.clone();
    let (events, _, body, _) = play(&a, &[], async move |stream, events| {
        wait_event(events, |e| *e == Event::QueueEmpty).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        stream.enqueue(Mp3Input::File(later)).unwrap();
        wait_event(events, |e| {
            matches!(e, Event::TrackStarted { index: 1, .. })
        })
        .await;
    })
    .await;
    assert_eq!(finished(&events), [(1, true)], "song 0 finished before");
    let links = packets_per_link(&body);
    let counts: Vec<usize> = links.iter().map(Vec::len).collect();
    println!("logical streams: {counts:?}");
    assert_eq!(links.len(), 3, "song, silence, song");
    assert_eq!(counts[0], packet_count(&a));
    assert_eq!(counts[2], packet_count(&b));
    let song = &packets_per_link(&std::fs::read(&a).unwrap())[0];
    let silence = &links[1];
    assert_eq!(silence[0], song[0], "the song's identification header");
    assert!(silence[1].starts_with(b"\x03vorbis"), "a comment header");
    assert_eq!(silence[2], song[2], "the song's setup header");
    assert!(
        silence[3..].iter().all(|p| vorbis_silent(p)),
        "silent packets only"
    );
    let dry = *vorbis_ends(silence).last().unwrap() as f64 / 44_100.0;
    // 1.5 s dry in real time; the last page of song 0 went out when its start was due, so
    // media time was ahead when the queue ran dry.
    assert!(dry >= 0.8, "{dry:.2} s of silence");
    let file = dir.path().join("heard.ogg");
    std::fs::write(&file, &body).unwrap();
    // ffmpeg 5.1's muxer complains of each link's timestamps starting again in any
    // chained Vorbis file (see the test of two Vorbis songs): those lines are allowed.
    const RESTART: &str = "non monotonically increasing dts to muxer";
    let errors = ffprobe::decode_errors(&file);
    println!("ffmpeg: {errors}");
    let other: Vec<&str> = errors.lines().filter(|l| !l.contains(RESTART)).collect();
    assert!(other.is_empty(), "decodes through the chain: {errors}");
    assert_eq!(packets_continuous(&file), 3);
    let samples = pcm(&file);
    let total = samples.len() as f64 / 48_000.0;
    println!("decoded {total:.2} s, {dry:.2} s of it silence");
    assert!((total - (3.0 + dry)).abs() < 0.1, "{total:.2} s");
    assert!(
        peak(&samples, 1.6, 1.5 + dry - 0.1) <= 1,
        "silence between the songs"
    );
    assert!(
        peak(&samples, 1.5 + dry + 0.1, total - 0.1) > 1000,
        "the second song"
    );
}

//! Ogg Vorbis radios against a real icecast2: Vorbis songs from the queue are one logical
//! stream each that ffmpeg decodes; a muted Vorbis stream carries silent Vorbis packets
//! inside the song's logical stream (granule positions and window flags kept true), and a
//! dry Vorbis radio a logical stream of silence with the last song's headers.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

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

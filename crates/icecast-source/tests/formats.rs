//! The live queue with AAC and Ogg Opus songs against a real icecast2 (Debian's 2.4.4):
//! ffmpeg-made ADTS AAC and Ogg Opus files queued while streaming reach a listener as one
//! stream of the songs' content type; ffmpeg decodes what the listener got without error;
//! Ogg songs are one logical stream each (read back with the `ogg` crate's packet reader,
//! written by others); a song of another format is skipped. Muted AAC and Opus streams
//! carry silence of their format (Ogg: inside the song's logical stream), and a dry Opus
//! radio a logical stream of silence of its own, which ffmpeg decodes as digital silence.
//! Ogg Vorbis: `vorbis.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
use common::*;

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

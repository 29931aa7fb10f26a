//! MP3 fixtures to MP4 (checked by ffprobe and ffmpeg), and the raw packet API: packets
//! written to a raw input come out of a raw output identical, and through an MP4 file
//! (read back by shiguredo_mp4's demuxer, written by others).
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use pipeline::raw::{self, Flow};
use pipeline::{Codec, Direction, Endpoint, Options, Packet, Pipeline, Track};
use shiguredo_mp4::demux::{Input, Mp4FileDemuxer};
use test_support::ffprobe::{self, num};
use test_support::rtsp::RtspServer;

fn mp4_out(path: &Path) -> Endpoint {
    Endpoint::parse(path.to_str().unwrap(), Direction::Output).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn mp3_fixtures_to_mp4_keep_their_duration() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    for name in [
        "mp3-44100.mp3",
        "mp3-22050.mp3",
        "mpeg1-44100-joint-vbr-v2.mp3",
        "mpeg1-48000-stereo-cbr320.mp3",
        "mpeg1-32000-joint-abr112.mp3",
        "mpeg2-22050-joint-vbr-v4.mp3",
        "mpeg2-16000-stereo-cbr32.mp3",
        "noxing-44100-cbr128.mp3",
        "id3v2-cover.mp3",
        "crc-22050-cbr48-noxing.mp3",
    ] {
        let mp3 = test_support::fixture(name);
        let expected = num(&ffprobe::probe(&mp3)["format"]["duration"]);
        for fragmented in [false, true] {
            let out = dir.path().join(format!("{name}-{fragmented}.mp4"));
            let input = Endpoint::parse(mp3.to_str().unwrap(), Direction::Input).unwrap();
            let options = {
                let mut options = Options::default();
                options.fragmented = fragmented;
                options
            };
            let summary = Pipeline::new(input, mp4_out(&out))
                .with_options(options)
                .run()
                .await
                .unwrap();
            assert_eq!(summary.files, vec![out.clone()]);
            let probe = ffprobe::probe(&out);
            let stream = &probe["streams"][0];
            assert_eq!(stream["codec_name"], "mp3", "{name}: {probe}");
            assert_eq!(stream["codec_tag_string"], "mp4a", "{name}: {probe}");
            let got = num(&probe["format"]["duration"]);
            assert!(
                (got - expected).abs() < 0.0011,
                "{name} fragmented={fragmented}: MP4 {got} s, MP3 {expected} s"
            );
            let errors = ffprobe::decode_errors(&out);
            assert!(errors.is_empty(), "{name}: ffmpeg decode errors: {errors}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn mp3_damaged_input_keeps_every_whole_frame() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    // Junk in the middle: the Info header's duration is wrong, so compare packets.
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("junk-middle.mp3");
    let out = dir.path().join("junk.mp4");
    let input = Endpoint::parse(mp3.to_str().unwrap(), Direction::Input).unwrap();
    Pipeline::new(input, mp4_out(&out)).run().await.unwrap();
    let ours = ffprobe::packets(&out, "a:0");
    let theirs = ffprobe::packets(&mp3, "a:0");
    assert_eq!(ours.len(), theirs.len());
    let sum = |p: &[ffprobe::Value]| p.iter().map(|p| num(&p["duration_time"])).sum::<f64>();
    assert!((sum(&ours) - sum(&theirs)).abs() < 0.001);
    assert!(ffprobe::decode_errors(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn mp3_at_8khz_is_a_clear_error_and_no_file() {
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("mpeg25-8000-mono-cbr16.mp3");
    let out = dir.path().join("x.mp4");
    let input = Endpoint::parse(mp3.to_str().unwrap(), Direction::Input).unwrap();
    let err = Pipeline::new(input, mp4_out(&out))
        .run()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("8000 Hz"), "{err}");
    assert!(!out.exists());
}

/// One sample: (decode time from the track's first sample, payload, sync).
type Row = (i64, Bytes, bool);

/// Compares without printing megabytes of payload.
fn assert_same(got: &[Row], want: &[Row], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: sample count");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g == w,
            "{what}: sample {i} differs: got (dts {}, {} bytes, sync {}), want (dts {}, {} bytes, sync {})",
            g.0,
            g.1.len(),
            g.2,
            w.0,
            w.1.len(),
            w.2
        );
    }
}

/// Decode times counted from each track's first sample (the writer puts a later start
/// into an edit list, not into the sample times).
fn relative(mut tracks: Vec<Vec<Row>>) -> Vec<Vec<Row>> {
    for t in &mut tracks {
        let first = t.first().map_or(0, |r| r.0);
        for r in t.iter_mut() {
            r.0 -= first;
        }
    }
    tracks
}

/// Samples of a plain MP4 per track id: (dts, data, sync).
fn demux(file: &[u8]) -> Vec<Vec<(i64, Bytes, bool)>> {
    let mut d = Mp4FileDemuxer::new();
    d.handle_input(Input {
        position: 0,
        data: file,
    });
    let tracks = d.tracks().unwrap().len();
    let mut out = vec![Vec::new(); tracks];
    while let Some(s) = d.next_sample().unwrap() {
        let start = s.data_offset as usize;
        let data = Bytes::copy_from_slice(&file[start..start + s.data_size]);
        out[s.track.track_id as usize - 1].push((s.timestamp as i64, data, s.keyframe));
    }
    out
}

/// The MP4 samples expected from packets: on the file's timeline, whose origin is the first
/// packet (earlier packets of other tracks are not written).
fn expected(tracks: &[Track], packets: &[Packet]) -> Vec<Vec<(i64, Bytes, bool)>> {
    let first = &packets[0];
    let origin = (first.dts, tracks[first.track].timescale);
    let mut out = vec![Vec::new(); tracks.len()];
    for p in packets {
        let rate = i128::from(tracks[p.track].timescale);
        let shift = (i128::from(origin.0) * rate).div_euclid(i128::from(origin.1));
        let dts = i128::from(p.dts) - shift;
        if dts >= 0 {
            out[p.track].push((dts as i64, p.data.clone(), p.keyframe));
        }
    }
    out
}

async fn through_mp4(tracks: &[Track], packets: &[Packet], dir: &Path, name: &str) -> Vec<u8> {
    let path = dir.join(name);
    let (writer, input) = raw::input(tracks.to_vec(), 8);
    let handle = Pipeline::new(input, mp4_out(&path)).spawn();
    for p in packets {
        assert_eq!(writer.write(p.clone()).await, Flow::Continue);
    }
    writer.close();
    handle.wait().await.unwrap();
    std::fs::read(&path).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_mp3_packets_round_trip_through_mp4() {
    let data = std::fs::read(test_support::fixture("mp3-44100.mp3")).unwrap();
    let data = Bytes::from(data);
    let mut packets = Vec::new();
    let mut t = 0;
    let mut format = None;
    for f in mp3_frames::Frames::new(&data) {
        format.get_or_insert((f.header.sample_rate(), f.header.mode().channels()));
        let bytes = data.slice(f.offset as usize..f.offset as usize + f.len());
        packets.push(Packet::new(0, t, true, bytes).with_duration(Some(f.samples())));
        t += i64::from(f.samples());
    }
    let (rate, channels) = format.unwrap();
    let tracks = vec![Track::audio(Codec::Mp3, rate, u16::from(channels))];
    let dir = test_support::temp_dir();
    let file = through_mp4(&tracks, &packets, dir.path(), "mp3.mp4").await;
    let (got, want) = (
        relative(demux(&file)),
        relative(expected(&tracks, &packets)),
    );
    assert_same(&got[0], &want[0], "MP3");
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_packets_round_trip_raw_to_raw_and_through_mp4() {
    if !test_support::peers_present("raw_round_trip", RtspServer::PEERS) {
        return;
    }
    // Real H.264 + AAC packets and tracks: a raw output of the test camera.
    let server = RtspServer::start_default();
    let (mut reader, output) = raw::output(64);
    let input = Endpoint::parse(&server.url("/h264aac"), Direction::Input).unwrap();
    let options = {
        let mut options = Options::default();
        options.duration = Some(Duration::from_secs(2));
        options
    };
    let handle = Pipeline::new(input, output).with_options(options).spawn();
    let mut packets = Vec::new();
    while let Some(p) = reader.read().await {
        packets.push(p);
    }
    handle.wait().await.unwrap();
    let tracks = reader.tracks().unwrap();
    assert_eq!(tracks.len(), 2);
    assert!(
        matches!(tracks[0].codec, Codec::H264 { .. })
            && matches!(tracks[1].codec, Codec::Aac { .. })
    );
    assert!(packets.len() > 40 && packets[0].keyframe);

    // Raw to raw: identical, read with the blocking iterator from a plain thread.
    let (writer, input) = raw::input(tracks.clone(), 4);
    let (mut reader, output) = raw::output(4);
    let handle = Pipeline::new(input, output).spawn();
    let reading = std::thread::spawn(move || {
        let got: Vec<Packet> = reader.blocking_iter().collect();
        (got, reader.tracks())
    });
    for p in &packets {
        assert_eq!(writer.write(p.clone()).await, Flow::Continue);
    }
    writer.close();
    handle.wait().await.unwrap();
    let (got, got_tracks) = reading.join().unwrap();
    assert_eq!(got_tracks.as_deref(), Some(&tracks[..]));
    assert_eq!(got.len(), packets.len());
    assert!(got == packets, "raw to raw changes nothing");

    // Through an MP4 file: the same payloads, key frames and timestamps.
    let dir = test_support::temp_dir();
    let file = through_mp4(&tracks, &packets, dir.path(), "av.mp4").await;
    let read = relative(demux(&file));
    let want = relative(expected(&tracks, &packets));
    assert_eq!(read.len(), 2);
    for (track, (r, w)) in read.iter().zip(&want).enumerate() {
        let sent = packets.iter().filter(|p| p.track == track).count();
        assert!(
            w.len() + 2 >= sent,
            "track {track}: {} of {sent} packets before the start",
            sent - w.len()
        );
        assert_same(r, w, &format!("track {track}"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn raw_writer_learns_when_the_pipeline_finished() {
    let tracks = vec![Track::audio(Codec::Mp3, 44_100, 2)];
    let header = mp3_frames::FrameHeader::from_u32(0xFFFB_9064).unwrap();
    let frame = Bytes::from(mp3_frames::silent_frame(&header).unwrap());
    let (writer, input) = raw::input(tracks, 1);
    let dir = test_support::temp_dir();
    let out = dir.path().join("limited.mp4");
    let handle = Pipeline::new(input, mp4_out(&out))
        .with_options({
            let mut options = Options::default();
            options.duration = Some(Duration::from_millis(100));
            options
        })
        .spawn();
    let mut flows = Vec::new();
    // The recorder's queue takes a few hundred packets before the limit is seen.
    for i in 0..5000 {
        flows.push(
            writer
                .write(Packet::new(0, i * 1152, true, frame.clone()))
                .await,
        );
        if flows.last() == Some(&Flow::Finished) {
            break;
        }
    }
    assert_eq!(
        flows.last(),
        Some(&Flow::Finished),
        "the duration limit ends the pipeline"
    );
    let summary = handle.wait().await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary.files, vec![out]);
    // 100 ms of 26 ms frames: 4 frames start before the limit.
    assert_eq!(summary.status.packets, 4);
}

/// Top-level box types of an MP4 file, in order.
fn top_level_boxes(file: &[u8]) -> Vec<String> {
    let mut boxes = Vec::new();
    let mut at = 0usize;
    while at + 8 <= file.len() {
        let size = u32::from_be_bytes(file[at..at + 4].try_into().unwrap()) as usize;
        boxes.push(String::from_utf8_lossy(&file[at + 4..at + 8]).into_owned());
        let size = if size == 1 {
            u64::from_be_bytes(file[at + 8..at + 16].try_into().unwrap()) as usize
        } else {
            size
        };
        if size < 8 {
            break;
        }
        at += size;
    }
    boxes
}

#[tokio::test(flavor = "multi_thread")]
async fn faststart_puts_moov_first() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("mpeg1-44100-joint-vbr-v2.mp3");
    let out = dir.path().join("fast.mp4");
    let input = Endpoint::parse(mp3.to_str().unwrap(), Direction::Input).unwrap();
    let options = {
        let mut options = Options::default();
        options.faststart = true;
        options
    };
    Pipeline::new(input, mp4_out(&out))
        .with_options(options)
        .run()
        .await
        .unwrap();
    let boxes = top_level_boxes(&std::fs::read(&out).unwrap());
    let at = |t: &str| boxes.iter().position(|b| b == t).unwrap();
    assert!(at("ftyp") == 0 && at("moov") < at("mdat"), "{boxes:?}");
    let expected = num(&ffprobe::probe(&mp3)["format"]["duration"]);
    let got = num(&ffprobe::probe(&out)["format"]["duration"]);
    assert!((got - expected).abs() < 0.0011, "{got} vs {expected}");
    assert!(ffprobe::decode_errors(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn mp3_to_vod_hls() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let mp3 = test_support::fixture("mpeg1-44100-joint-vbr-v2.mp3");
    let hls = dir.path().join("vod/");
    let input = Endpoint::parse(mp3.to_str().unwrap(), Direction::Input).unwrap();
    let output = Endpoint::parse(&format!("{}/", hls.display()), Direction::Output).unwrap();
    let options = {
        let mut options = Options::default();
        options.hls = Some(pipeline::HlsMode::Vod);
        options.fragment_duration = Duration::from_secs(1);
        options
    };
    let summary = Pipeline::new(input, output)
        .with_options(options)
        .run()
        .await
        .unwrap();
    let playlist = hls.join("index.m3u8");
    assert_eq!(summary.files, vec![playlist.clone()]);
    let text = std::fs::read_to_string(&playlist).unwrap();
    assert!(
        text.contains("#EXT-X-PLAYLIST-TYPE:VOD") && text.ends_with("#EXT-X-ENDLIST\n"),
        "{text}"
    );
    assert!(text.matches(".m4s").count() >= 3, "{text}");
    let expected = num(&ffprobe::probe(&mp3)["format"]["duration"]);
    let got = num(&ffprobe::probe(&playlist)["format"]["duration"]);
    assert!(
        (got - expected).abs() < 0.03,
        "HLS {got} s vs MP3 {expected} s"
    );
    assert!(ffprobe::decode_errors(&playlist).is_empty());
}

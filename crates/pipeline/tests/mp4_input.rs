//! MP4 files as input (plain, faststart, fragmented by ffmpeg, CMAF with sidx, M4A,
//! QuickTime `.mov`;
//! H.264 with B-frames, H.265, AAC, MP3 in MP4, an edit list) through the MP4, fMP4 and
//! HLS sinks, compared packet by packet with the source through `ffprobe -show_packets`;
//! ffmpeg decodes every output. Truncated files fail with a line naming what is missing.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use pipeline::Options;
use test_support::ffprobe::{self, ffmpeg, num};

mod mp4_common;
use mp4_common::{AUDIO, H264_AAC, VIDEO, assert_decodes, assert_same_packets, listed, make, run};

/// Every form of one H.264 + AAC recording: plain (moov at the end), faststart,
/// ffmpeg's fragmented `frag_keyframe+empty_moov` (absolute base offsets), CMAF with a
/// `sidx` (default-base-is-moof), version 1 `trun`s (signed composition offsets): to MP4 and to fMP4,
/// packet for packet.
#[tokio::test(flavor = "multi_thread")]
async fn h264_aac_in_every_mp4_form_to_mp4_and_fmp4_packet_for_packet() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let plain = make(dir.path(), "plain.mp4", &[VIDEO, AUDIO], H264_AAC);
    let src = plain.to_str().unwrap();
    let faststart = dir.path().join("faststart.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "faststart",
        faststart.to_str().unwrap(),
    ]);
    let fragmented = dir.path().join("fragmented.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov",
        fragmented.to_str().unwrap(),
    ]);
    let cmaf = dir.path().join("cmaf.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof+global_sidx+cmaf",
        cmaf.to_str().unwrap(),
    ]);
    // Version 1 `trun`s: signed composition offsets (ffmpeg's negative_cts_offsets).
    let negative = dir.path().join("negative.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov+default_base_moof+negative_cts_offsets",
        negative.to_str().unwrap(),
    ]);
    // QuickTime `.mov`: AAC in a version 1 sound description with its `esds` in a `wave`
    // box (every `.mov` with AAC failed to open before `source/mp4/quicktime.rs`).
    let mov = dir.path().join("quicktime.mov");
    ffmpeg(&["-i", src, "-c", "copy", mov.to_str().unwrap()]);
    let mov_faststart = dir.path().join("quicktime-faststart.mov");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "faststart",
        mov_faststart.to_str().unwrap(),
    ]);
    let sources = [
        &plain,
        &faststart,
        &fragmented,
        &cmaf,
        &negative,
        &mov,
        &mov_faststart,
    ];
    for source in sources {
        assert!(
            first_pts(&plain, "a:0") < 0.0,
            "ffmpeg's plain file hides priming"
        );
        for fragmented_out in [false, true] {
            let out = dir.path().join(format!(
                "{}-out-{fragmented_out}.mp4",
                source.file_stem().unwrap().to_string_lossy()
            ));
            let options = {
                let mut options = Options::default();
                options.fragmented = fragmented_out;
                options
            };
            run(source, &out, options).await.unwrap();
            assert_same_packets(source, &out, "v:0");
            assert_same_packets(source, &out, "a:0");
            assert_decodes(&out);
            // ffprobe 5.1 does not apply the edit lists of ffmpeg's own CMAF and
            // default-base-moof files (their video shows at 0.04 s, the B-frame delay the
            // edit list removes); we do, so the time lines are compared where ffprobe reads
            // the edit lists as we do.
            let edit_lists_read_alike =
                [&plain, &faststart, &fragmented, &mov, &mov_faststart].contains(&source);
            if !fragmented_out && edit_lists_read_alike {
                // The two streams on one time line as in the source (for ffmpeg's plain
                // files: video from 0, the AAC priming packet at -1024 and hidden by the
                // audio's edit list).
                for stream in ["v:0", "a:0"] {
                    assert_eq!(
                        first_pts(&out, stream),
                        first_pts(source, stream),
                        "{stream} of {out:?}"
                    );
                }
            }
        }
    }
}

/// The first packet's presentation time of `stream`, in seconds.
fn first_pts(path: &Path, stream: &str) -> f64 {
    num(&ffprobe::packets(path, stream)[0]["pts_time"])
}

/// H.265 (with B-frames, `hvc1`) + MP3 in MP4; H.265 (`hev1`) + AAC fragmented; AAC
/// alone in M4A; to MP4 and fMP4, packet for packet.
#[tokio::test(flavor = "multi_thread")]
async fn h265_mp3_and_m4a_packet_for_packet() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let h265 = make(
        dir.path(),
        "h265-mp3.mp4",
        &[VIDEO, AUDIO],
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=3:keyint=25",
            "-tag:v",
            "hvc1",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "64k",
        ],
    );
    // ffmpeg 5.1 writes MP3's encoder delay into fragmented files as a gap after the
    // first frame (its own plain remux of it keeps that gap), so the fragmented H.265
    // file carries AAC.
    let h265_fragmented = make(
        dir.path(),
        "h265-aac-fragmented.mp4",
        &[VIDEO, AUDIO],
        &[
            "-c:v",
            "libx265",
            "-x265-params",
            "log-level=error:bframes=3:keyint=25",
            "-c:a",
            "aac",
            "-b:a",
            "48k",
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
        ],
    );
    let m4a = make(
        dir.path(),
        "aac.m4a",
        &[AUDIO],
        &["-c:a", "aac", "-b:a", "48k"],
    );
    assert_eq!(ffprobe::probe(&h265)["streams"][1]["codec_name"], "mp3");
    for (source, streams) in [
        (&h265, &["v:0", "a:0"][..]),
        (&h265_fragmented, &["v:0", "a:0"][..]),
        (&m4a, &["a:0"][..]),
    ] {
        for fragmented in [false, true] {
            let name = source.file_stem().unwrap().to_string_lossy();
            let out = dir.path().join(format!("{name}-out-{fragmented}.mp4"));
            let options = {
                let mut options = Options::default();
                options.fragmented = fragmented;
                options
            };
            run(source, &out, options).await.unwrap();
            for stream in streams {
                assert_same_packets(source, &out, stream);
            }
            assert_decodes(&out);
        }
    }
}

/// Audio that starts half a second after the video (ffmpeg writes an empty edit): the
/// packets are the source's and the audio still starts half a second later.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_edit_keeps_the_track_start() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let delayed: &[&str] = &[
        "-itsoffset",
        "0.5",
        "-f",
        "lavfi",
        "-i",
        "sine=frequency=440:sample_rate=48000",
    ];
    let source = make(dir.path(), "delayed.mp4", &[VIDEO, delayed], H264_AAC);
    let gap = |p: &Path| first_pts(p, "a:0") - first_pts(p, "v:0");
    assert!(
        (gap(&source) - 0.5).abs() < 0.03,
        "source gap {}",
        gap(&source)
    );
    let out = dir.path().join("out.mp4");
    run(&source, &out, Options::default()).await.unwrap();
    assert_same_packets(&source, &out, "v:0");
    assert_same_packets(&source, &out, "a:0");
    assert!(
        (gap(&out) - gap(&source)).abs() < 0.001,
        "audio starts {} s after video, the source {} s",
        gap(&out),
        gap(&source)
    );
    assert_decodes(&out);
}

/// MP4 → fMP4 → MP4 keeps every packet; MP4 → HLS gives the source's packets to ffprobe
/// reading the playlist and to our HLS input; ffmpeg's HLS with fMP4 segments is read too.
#[tokio::test(flavor = "multi_thread")]
async fn round_trips_through_fmp4_and_hls() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let source = make(dir.path(), "source.mp4", &[VIDEO, AUDIO], H264_AAC);
    let fragmented = dir.path().join("fragmented.mp4");
    let options = {
        let mut options = Options::default();
        options.fragmented = true;
        options
    };
    run(&source, &fragmented, options).await.unwrap();
    let back = dir.path().join("back.mp4");
    run(&fragmented, &back, Options::default()).await.unwrap();
    for stream in ["v:0", "a:0"] {
        assert_same_packets(&source, &back, stream);
    }
    assert_decodes(&back);

    let hls = dir.path().join("hls/");
    std::fs::create_dir(&hls).unwrap();
    run(&source, &hls, Options::default()).await.unwrap();
    let playlist = hls.join("index.m3u8");
    for stream in ["v:0", "a:0"] {
        let (_, theirs) = listed(&source, stream);
        let (_, ours) = listed(&playlist, stream);
        assert_eq!(ours.len(), theirs.len(), "{stream} packets through HLS");
        for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
            assert_eq!(
                (o.size, o.key),
                (t.size, t.key),
                "{stream} packet {i} through HLS"
            );
        }
    }
    assert_decodes(&playlist);

    // Our HLS read back by our input, and ffmpeg's HLS (fMP4 segments) too.
    let back = dir.path().join("from-hls.mp4");
    run(&playlist, &back, Options::default()).await.unwrap();
    for stream in ["v:0", "a:0"] {
        assert_same_packets(&source, &back, stream);
    }
    let theirs = dir.path().join("ffmpeg-hls");
    std::fs::create_dir(&theirs).unwrap();
    let their_playlist = theirs.join("index.m3u8");
    ffmpeg(&[
        "-i",
        source.to_str().unwrap(),
        "-c",
        "copy",
        "-f",
        "hls",
        "-hls_segment_type",
        "fmp4",
        "-hls_time",
        "1",
        "-hls_playlist_type",
        "vod",
        their_playlist.to_str().unwrap(),
    ]);
    let from_theirs = dir.path().join("from-ffmpeg-hls.mp4");
    run(&their_playlist, &from_theirs, Options::default())
        .await
        .unwrap();
    for stream in ["v:0", "a:0"] {
        assert_same_packets(&their_playlist, &from_theirs, stream);
    }
    assert_decodes(&from_theirs);
}

/// Cut files: no moov (a plain file cut before its moov), samples past the end (a
/// faststart file cut in half) fail with a line naming what is missing; a fragmented
/// file cut inside a fragment gives every packet of the complete fragments.
#[tokio::test(flavor = "multi_thread")]
async fn truncated_files_say_what_is_missing() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let plain = make(dir.path(), "plain.mp4", &[VIDEO, AUDIO], H264_AAC);
    let src = plain.to_str().unwrap();
    let bytes = std::fs::read(&plain).unwrap();
    let cut = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let no_moov = cut("no-moov.mp4", &bytes[..bytes.len() / 2]);
    let err = run(&no_moov, &dir.path().join("a.mp4"), Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no moov box") && err.contains("no-moov.mp4"),
        "{err}"
    );

    let faststart = dir.path().join("faststart.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "faststart",
        faststart.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&faststart).unwrap();
    let half = cut("half.mp4", &bytes[..bytes.len() / 2]);
    let err = run(&half, &dir.path().join("b.mp4"), Options::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("past the end of the file") && err.contains("truncated"),
        "{err}"
    );

    let fragmented = dir.path().join("fragmented.mp4");
    ffmpeg(&[
        "-i",
        src,
        "-c",
        "copy",
        "-movflags",
        "frag_keyframe+empty_moov",
        fragmented.to_str().unwrap(),
    ]);
    let bytes = std::fs::read(&fragmented).unwrap();
    let last_moof = bytes.windows(4).rposition(|w| w == b"moof").unwrap();
    let cut_file = cut("cut.mp4", &bytes[..last_moof + 100]);
    let out = dir.path().join("c.mp4");
    run(&cut_file, &out, Options::default()).await.unwrap();
    // What ffmpeg reads of the file cut right before its last fragment.
    let complete = cut("complete.mp4", &bytes[..last_moof - 4]);
    for stream in ["v:0", "a:0"] {
        let (_, ours) = listed(&out, stream);
        let (_, theirs) = listed(&complete, stream);
        assert!(!ours.is_empty());
        assert_eq!(
            ours.len(),
            theirs.len(),
            "{stream}: packets of the complete fragments"
        );
    }
    assert_decodes(&out);
}

/// A file with two audio tracks: the first video and first audio by default; with
/// `track_ids` the tracks asked for; an unknown id names the file's tracks.
#[tokio::test(flavor = "multi_thread")]
async fn the_track_selector_picks_tracks_by_id() {
    test_support::require_peer!("ffprobe", "ffmpeg");
    let dir = test_support::temp_dir();
    let second: &[&str] = &["-f", "lavfi", "-i", "sine=frequency=880:sample_rate=44100"];
    let source = make(
        dir.path(),
        "three.mp4",
        &[VIDEO, AUDIO, second],
        &[
            "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-c:a", "aac",
        ],
    );
    let streams = |p: &Path| ffprobe::probe(p)["streams"].as_array().unwrap().len();
    assert_eq!(streams(&source), 3);

    let default = dir.path().join("default.mp4");
    run(&source, &default, Options::default()).await.unwrap();
    assert_eq!(streams(&default), 2);
    assert_same_packets(&source, &default, "v:0");
    assert_same_packets(&source, &default, "a:0");

    let picked = dir.path().join("picked.mp4");
    let options = {
        let mut options = Options::default();
        options.track_ids = vec![3];
        options
    };
    run(&source, &picked, options).await.unwrap();
    assert_eq!(streams(&picked), 1);
    let (_, theirs) = listed(&source, "a:1");
    let (_, ours) = listed(&picked, "a:0");
    assert_eq!(ours, theirs);
    assert_eq!(
        ffprobe::probe(&picked)["streams"][0]["sample_rate"],
        "44100"
    );

    let options = {
        let mut options = Options::default();
        options.track_ids = vec![9];
        options
    };
    let err = run(&source, &dir.path().join("none.mp4"), options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no track 9 (its tracks are 1, 2, 3)"), "{err}");
}

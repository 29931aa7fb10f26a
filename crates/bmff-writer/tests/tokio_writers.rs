//! The tokio adapters write the same bytes as the blocking ones, and ffmpeg decodes them.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used)]

mod common;

use bmff_writer::{FragmentOptions, Mp4Options};
use common::{fixture_track, interleave};

#[tokio::test(flavor = "current_thread")]
async fn async_writers_match_the_blocking_ones() {
    test_support::require_peer!("ffmpeg");
    let tracks = [
        fixture_track("h264-bframes.mp4", 0),
        fixture_track("aac.mp4", 1),
    ];
    let configs: Vec<_> = tracks.iter().map(|(c, _)| c.clone()).collect();
    let dir = test_support::temp_dir();
    for faststart in [false, true] {
        let path = dir.path().join(format!("tokio-{faststart}.mp4"));
        let file = tokio::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .await
            .unwrap();
        let mut w =
            bmff_writer::tokio::Mp4Writer::new(file, configs.clone(), Mp4Options::default())
                .await
                .unwrap();
        for s in interleave(&tracks) {
            w.push(s).await.unwrap();
        }
        if faststart {
            w.finish_faststart().await
        } else {
            w.finish().await
        }
        .unwrap();

        let mut std_w = bmff_writer::Mp4Writer::new(
            std::io::Cursor::new(Vec::new()),
            configs.clone(),
            Mp4Options::default(),
        )
        .unwrap();
        for s in interleave(&tracks) {
            std_w.push(s).unwrap();
        }
        let expected = if faststart {
            std_w.finish_faststart()
        } else {
            std_w.finish()
        }
        .unwrap()
        .into_inner();
        let got = std::fs::read(&path).unwrap();
        assert!(
            got == expected,
            "tokio output differs (faststart {faststart})"
        );
        let errors = test_support::ffprobe::decode_errors(&path);
        assert!(errors.is_empty(), "{errors}");
    }

    let mut w = bmff_writer::tokio::FragmentedWriter::new(
        Vec::new(),
        configs.clone(),
        FragmentOptions::default(),
    )
    .await
    .unwrap();
    for s in interleave(&tracks) {
        w.push(s).await.unwrap();
    }
    let got = w.finish().await.unwrap();
    let mut std_w =
        bmff_writer::FragmentedWriter::new(Vec::new(), configs, FragmentOptions::default())
            .unwrap();
    for s in interleave(&tracks) {
        std_w.push(s).unwrap();
    }
    assert!(
        got == std_w.finish().unwrap(),
        "tokio fragmented output differs"
    );
    let path = dir.path().join("tokio-frag.mp4");
    std::fs::write(&path, &got).unwrap();
    let errors = test_support::ffprobe::decode_errors(&path);
    assert!(errors.is_empty(), "{errors}");
}

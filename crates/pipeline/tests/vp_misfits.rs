//! VP8, VP9 and AV1 tracks (from the raw packet API) against the file and RTP outputs that
//! cannot carry them: each refuses at once with one line naming the output, what it takes and
//! the track's codec, and writes no file.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use bytes::Bytes;
use pipeline::raw;
use pipeline::{Codec, Direction, Endpoint, Error, Pipeline, Track};

#[tokio::test(flavor = "multi_thread")]
async fn outputs_without_vp8_vp9_or_av1_refuse_them_in_one_line() {
    // A VP9 and an AV1 record as the WHIP input makes them (8-bit 4:2:0, level 2.1 / 4.0).
    let vp9 = Bytes::from_static(&[0, 21, 0x80, 1, 1, 1, 0, 0]);
    let av1 = Bytes::from_static(&[0x81, 0x08, 0x0c, 0x00, 0x0a, 0x01, 0x00]);
    let dir = test_support::temp_dir();
    for (codec, name) in [
        (Codec::Vp8, "VP8"),
        (Codec::Vp9 { config: vp9 }, "VP9"),
        (Codec::Av1 { config: av1 }, "AV1"),
    ] {
        // RTP (nothing listens on that port: the refusal comes before any datagram).
        let rtp = format!("rtp://127.0.0.1:{}", test_support::free_port());
        for file in ["out.ts", "out.aac", "out.mp3", "out.h264", "out.ogg", &rtp] {
            let path = if file.starts_with("rtp:") {
                file.into()
            } else {
                dir.path().join(file)
            };
            let (writer, input) =
                raw::input(vec![Track::video(codec.clone(), 90_000, 640, 360)], 8);
            let output = Endpoint::parse(path.to_str().unwrap(), Direction::Output).unwrap();
            let handle = Pipeline::new(input, output).spawn();
            let _ = writer
                .write(pipeline::Packet::new(
                    0,
                    0,
                    true,
                    Bytes::from_static(&[0x10, 0, 0]),
                ))
                .await;
            writer.close();
            let err = tokio::time::timeout(Duration::from_secs(10), handle.wait())
                .await
                .expect("refused at once")
                .unwrap_err();
            let line = err.to_string();
            eprintln!("{file}: {line}");
            assert!(matches!(err, Error::Misfit { .. }), "{file}: {err:?}");
            assert!(
                line.contains(&format!("track 0 is {name} video")) && !line.contains('\n'),
                "{file}: {line}"
            );
            assert!(!path.exists(), "{file} was written");
        }
    }
}

//! Unit tests of the transcoding plan (which tracks, to which codec).

use bytes::Bytes;
use media_codec::G711Law;

use super::*;

fn tracks() -> Vec<Track> {
    vec![
        Track::video(
            Codec::H264 {
                config: Bytes::from_static(&[1, 2]),
            },
            90_000,
            640,
            360,
        ),
        Track::audio(media_codec::g711_codec(G711Law::ALaw, 8000, 1), 8000, 1),
    ]
}

fn planned(
    transcoder: &mut Transcoder,
    check: &dyn Fn(&[Track]) -> Result<(), Error>,
) -> Vec<Track> {
    match transcoder
        .process(InputEvent::Tracks(tracks()), &check)
        .expect("plan")
    {
        events if events.len() == 1 => match events.into_iter().next() {
            Some(InputEvent::Tracks(t)) => t,
            _ => panic!("not a Tracks event"),
        },
        _ => panic!("one event"),
    }
}

#[test]
fn if_needed_turns_only_g711_into_aac() {
    let mut t = Transcoder::new(Transcoding::default(), (true, true), false);
    let out = planned(&mut t, &|_| Ok(()));
    assert!(
        matches!(out[0].codec, Codec::H264 { .. }),
        "video untouched"
    );
    assert!(
        matches!(out[1].codec, Codec::Aac { .. }),
        "G.711 became AAC"
    );
    assert_eq!((out[1].sample_rate, out[1].timescale), (48_000, 48_000));
    assert!(t.plans[0].is_none() && t.plans[1].is_some());
}

#[test]
fn left_out_kinds_and_outputs_that_play_g711_keep_it() {
    let mut no_audio = Transcoder::new(Transcoding::default(), (true, false), false);
    assert!(AudioCodec::is_g711(
        &planned(&mut no_audio, &|_| Ok(()))[1].codec
    ));
    let mut raw = Transcoder::new(Transcoding::default(), (true, true), true);
    assert!(AudioCodec::is_g711(
        &planned(&mut raw, &|_| Ok(()))[1].codec
    ));
}

/// An output that takes the set but would send only Opus audio (as WebRTC does):
/// the AAC track becomes Opus although AAC is the configured codec; the video stays.
#[test]
fn a_track_the_output_would_leave_out_becomes_a_codec_it_sends() {
    struct WebRtcLike;
    impl Fit for WebRtcLike {
        fn check(&self, _: &[Track]) -> Result<(), Error> {
            Ok(())
        }
        fn left_out(&self, tracks: &[Track]) -> Vec<usize> {
            let sent = |t: &Track| matches!(t.codec, Codec::H264 { .. } | Codec::Opus { .. });
            (0..tracks.len()).filter(|&i| !sent(&tracks[i])).collect()
        }
    }
    let tracks = vec![
        tracks()[0].clone(),
        Track::audio(
            Codec::Aac {
                config: Bytes::from_static(&[0x11, 0x90]),
            },
            48_000,
            2,
        ),
    ];
    let mut t = Transcoder::new(Transcoding::default(), (true, true), true);
    let out = match t
        .process(InputEvent::Tracks(tracks), &WebRtcLike)
        .unwrap()
        .pop()
    {
        Some(InputEvent::Tracks(out)) => out,
        _ => panic!("tracks"),
    };
    assert!(t.plans[0].is_none(), "video untouched");
    assert!(matches!(out[1].codec, Codec::Opus { .. }), "{:?}", out[1]);
}

#[test]
fn a_misfit_the_target_codec_cannot_fix_is_left_to_the_recorder() {
    // An output that takes no video at all: re-encoding H.264 to H.264 would not help.
    let audio_only = |t: &[Track]| match t.iter().any(|t| t.kind == MediaKind::Video) {
        true => Err(Error::InvalidOptions("no video".into())),
        false => Ok(()),
    };
    let mut t = Transcoder::new(Transcoding::default(), (true, true), false);
    let out = planned(&mut t, &audio_only);
    assert!(t.plans[0].is_none(), "video not transcoded");
    assert!(matches!(out[0].codec, Codec::H264 { .. }));
}

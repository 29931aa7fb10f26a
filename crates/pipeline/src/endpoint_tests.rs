//! Tests of [`crate::endpoint`]: strings read by scheme, extension and direction.

use super::*;
use Direction::{Input, Output};

#[test]
fn strings_are_read_by_scheme_extension_and_direction() {
    let rtsp = Endpoint::parse("rtsp://cam:8554/main", Input).unwrap();
    assert_eq!(rtsp, Endpoint::Rtsp(SecretUrl::new("rtsp://cam:8554/main")));
    assert_eq!(
        Endpoint::parse("song.MP3", Input).unwrap(),
        Endpoint::Mp3File("song.MP3".into())
    );
    assert_eq!(
        Endpoint::parse("out.mp4", Output).unwrap(),
        Endpoint::Mp4File("out.mp4".into())
    );
    assert_eq!(
        Endpoint::parse("cam.sdp", Input).unwrap(),
        Endpoint::SdpFile("cam.sdp".into())
    );
    assert!(Endpoint::parse("cam.sdp", Output).is_err());
    // Other names of formats we read: ISO BMFF, BDAV, FLV both ways.
    for (name, direction, want) in [
        ("phone.3gp", Input, Endpoint::Mp4Input("phone.3gp".into())),
        ("clip.f4v", Input, Endpoint::Mp4Input("clip.f4v".into())),
        ("00001.MTS", Input, Endpoint::TsFile("00001.MTS".into())),
        ("disc.m2ts", Input, Endpoint::TsFile("disc.m2ts".into())),
        ("obs.flv", Input, Endpoint::FlvFile("obs.flv".into())),
        ("out.flv", Output, Endpoint::FlvFile("out.flv".into())),
    ] {
        assert_eq!(Endpoint::parse(name, direction).unwrap(), want, "{name}");
    }
    assert!(
        Endpoint::parse("out.m2ts", Output).is_err(),
        "BDAV is not written"
    );
    assert_eq!(Endpoint::parse("-", Input).unwrap(), Endpoint::Stdin);
    assert_eq!(
        Endpoint::parse("-", Output).unwrap(),
        Endpoint::Stdout(PipeFormat::Mp4)
    );
    assert_eq!(
        Endpoint::parse("hls/live.m3u8", Output).unwrap(),
        Endpoint::Hls {
            dir: "hls".into(),
            playlist: "live.m3u8".into()
        }
    );
    assert_eq!(
        Endpoint::parse("segments/", Output).unwrap(),
        Endpoint::Hls {
            dir: "segments/".into(),
            playlist: "index.m3u8".into()
        }
    );
    assert_eq!(
        Endpoint::parse("tcp://127.0.0.1:9000", Input).unwrap(),
        Endpoint::Tcp("127.0.0.1:9000".into())
    );
    assert_eq!(
        Endpoint::parse("tcp-listen://0.0.0.0:9000/", Output).unwrap(),
        Endpoint::TcpListen("0.0.0.0:9000".into())
    );
    assert!(matches!(
        Endpoint::parse("icecast://source:pw@h:8000/live", Output).unwrap(),
        Endpoint::Icecast(_)
    ));
    // No host: loopback; the path without slashes; shown back as given.
    let rtsp = Endpoint::parse("rtsp-listen://:8554/live/cam/", Output).unwrap();
    assert_eq!(
        rtsp,
        Endpoint::RtspListen {
            addr: "127.0.0.1:8554".into(),
            path: "live/cam".into()
        }
    );
    assert_eq!(rtsp.to_string(), "rtsp-listen://127.0.0.1:8554/live/cam");
    assert!(matches!(
        Endpoint::parse("rtsp-listen://0.0.0.0:8554/cam", Input).unwrap(),
        Endpoint::RtspListen { .. }
    ));
}

#[test]
fn unknown_or_wrong_direction_names_string_and_direction() {
    for (s, d) in [
        ("clip.avi", Input),
        ("song.ogx", Output),
        ("rtsp://cam/x", Output),
        ("ftp://x/y", Input),
        ("notes.txt", Output),
        ("tcp://nohost", Input),
    ] {
        let err = Endpoint::parse(s, d).unwrap_err().to_string();
        assert!(
            err.contains(s) && err.contains(&d.to_string()),
            "{s} {d}: {err}"
        );
    }
}

#[test]
fn credentials_never_shown() {
    let e = Endpoint::parse("rtsp://admin:s3cret@cam/stream?x=1", Input).unwrap();
    for shown in [e.to_string(), format!("{e:?}")] {
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("admin:***@cam/stream"), "{shown}");
    }
    let err = Endpoint::parse("icecast://source:hackme@h:8000/m", Input)
        .unwrap_err()
        .to_string();
    assert!(
        !err.contains("hackme") && err.contains("source:***@h:8000/m"),
        "{err}"
    );
    assert_eq!(
        redact("rtsp://cam/x@y"),
        "rtsp://cam/x@y",
        "an @ in the path is not userinfo"
    );
}

#[test]
fn rtmp_output_keys_are_stored_masked() {
    for (given, stored, shown) in [
        (
            "rtmp://127.0.0.1/live/k3y",
            "rtmp://127.0.0.1:1935/live?key=k3y",
            "rtmp://127.0.0.1:1935/live?key=***",
        ),
        (
            "rtmp://a.example:1936/app/sub/k3y?s=1&t=2",
            "rtmp://a.example:1936/app/sub?key=k3y%3Fs%3D1%26t%3D2",
            "rtmp://a.example:1936/app/sub?key=***",
        ),
        (
            "rtmp://[::1]:2000/live/k3y",
            "rtmp://[::1]:2000/live?key=k3y",
            "rtmp://[::1]:2000/live?key=***",
        ),
    ] {
        let Endpoint::Rtmp(url) = Endpoint::parse(given, Output).unwrap() else {
            panic!("{given} is not an RTMP output");
        };
        assert_eq!(url.expose(), stored);
        let e = Endpoint::Rtmp(url);
        assert_eq!(e.to_string(), shown);
        assert!(!format!("{e:?}").contains("k3y"));
    }
    for (given, direction) in [
        ("rtmp://h/live/k3y", Input),
        ("rtmps://h/live/k3y?x=1", Output),
        ("rtmp://h:port/live/k3y", Output),
        ("rtmp://h/k3y", Output),
        ("rtmp://:1935/live/k3y", Output),
    ] {
        let error = Endpoint::parse(given, direction).unwrap_err().to_string();
        assert!(!error.contains("k3y"), "{error}");
        assert!(error.contains("/***"), "{error}");
    }
}

#[test]
fn webrtc_clients_take_an_endpoint_url_without_query() {
    let e = Endpoint::parse("whep://127.0.0.1:8889/cam/whep", Input).unwrap();
    assert_eq!(e, Endpoint::Whep("http://127.0.0.1:8889/cam/whep".into()));
    assert_eq!(e.to_string(), "whep://127.0.0.1:8889/cam/whep");
    let e = Endpoint::parse("whip://h:8890/pub/whip", Output).unwrap();
    assert_eq!(e.to_string(), "whip://h:8890/pub/whip");
    let e = Endpoint::parse("WHIPS://h:443/pub/whip", Output).unwrap();
    assert_eq!(e, Endpoint::Whip("https://h:443/pub/whip".into()));
    assert_eq!(e.to_string(), "whips://h:443/pub/whip");
    assert!(Endpoint::parse("whep://h:1/x", Output).is_err());
    for bad in [
        "whip://h:1/x?token=s3cret",
        "whip://u:s3cret@h:1/x",
        "whip://h/x",
    ] {
        let error = Endpoint::parse(bad, Output).unwrap_err().to_string();
        assert!(!error.contains("s3cret"), "{error}");
    }
}

proptest::proptest! {
    #[test]
    fn any_string_parses_or_fails_cleanly(s in "\\PC{0,40}", input in proptest::bool::ANY) {
        let direction = if input { Input } else { Output };
        match Endpoint::parse(&s, direction) {
            Ok(e) => { let _ = (e.to_string(), format!("{e:?}")); }
            Err(e) => proptest::prop_assert!(e.to_string().contains(&direction.to_string())),
        }
    }

    #[test]
    fn passwords_never_shown(
        user in "[a-z]{1,8}",
        password in "[A-Za-z0-9]{6,12}",
        host in "[a-z]{1,8}(:[0-9]{1,5})?",
        path in "(/[a-z@:]{0,6}){0,3}",
        scheme in "(rtsp|rtsps|icecast|ftp)",
    ) {
        let url = format!("{scheme}://{user}:{password}@{host}{path}");
        for d in [Input, Output] {
            let shown = match Endpoint::parse(&url, d) {
                Ok(e) => format!("{e} {e:?}"),
                Err(e) => e.to_string(),
            };
            proptest::prop_assert!(!shown.contains(&format!(":{password}@")), "{shown}");
        }
    }
}

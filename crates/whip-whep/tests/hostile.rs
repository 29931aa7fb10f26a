//! The signalling against bad and hostile requests, over real HTTP on 127.0.0.1 (no
//! browser): garbage SDP, an offer with no common codec, a wrong content type, an
//! unknown session, a missing token, and a flood of offers that never complete ICE
//! (bounded while connecting, timed out, forgotten).
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::time::Duration;

use whip_whep::{StreamCodecs, VideoCodec, WhepServer, WhepSettings};

const OFFER: &str = include_str!("data/chromium_recvonly_offer.sdp");

async fn request(port: u16, head: String, body: &str) -> (u16, String) {
    let body = body.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // One write: the server may answer a bad head and close before the rest comes
        // (a second write would meet a closed socket); a failed write leaves the
        // answer, if one came, to be read.
        let raw = format!("{head}Content-Length: {}\r\n\r\n{body}", body.len());
        let _ = s.write_all(raw.as_bytes());
        let mut r = String::new();
        let _ = s.read_to_string(&mut r);
        let status = r
            .split_whitespace()
            .nth(1)
            .and_then(|x| x.parse().ok())
            .unwrap_or(0);
        (
            status,
            r.split_once("\r\n\r\n")
                .map(|x| x.1.to_owned())
                .unwrap_or_default(),
        )
    })
    .await
    .unwrap()
}

fn offer_head(token: Option<&str>) -> String {
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!("POST /cam/whep HTTP/1.1\r\nContent-Type: application/sdp\r\n{auth}")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_errors_and_unconnected_sessions_time_out() {
    let mut settings = WhepSettings::default();
    settings.connect_timeout = Duration::from_secs(1);
    settings.max_connecting = 8;
    let server = WhepServer::bind("127.0.0.1:0", "cam", settings).unwrap();
    let port = server.local_addr().port();

    // Before the stream's tracks are known: 503 with Retry-After.
    let (status, body) = request(port, offer_head(None), OFFER).await;
    assert_eq!(status, 503, "{body}");

    // A High-profile stream: Chromium's offer (no High) has nothing in common.
    server.set_codecs(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x640028,
        }),
        None,
    ));
    let (status, body) = request(port, offer_head(None), OFFER).await;
    assert_eq!(status, 406, "{body}");
    assert!(body.contains("no common codec"), "{body}");

    server.set_codecs(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42c016,
        }),
        None,
    ));
    let (status, body) = request(port, offer_head(None), "v=0 garbage\r\n\x01\x02").await;
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SDP offer cannot be parsed"), "{body}");
    let (status, _) = request(
        port,
        "POST /cam/whep HTTP/1.1\r\nContent-Type: text/plain\r\n".into(),
        OFFER,
    )
    .await;
    assert_eq!(status, 415);
    let (status, _) = request(port, "DELETE /cam/whep/0123 HTTP/1.1\r\n".into(), "").await;
    assert_eq!(status, 404);
    let (status, _) = request(port, "GARBAGE\r\n".into(), "").await;
    assert_eq!(status, 400);

    // A flood of offers that never connect: at most 8 sessions connecting, the rest 503.
    let mut created = 0;
    let mut refused = 0;
    for _ in 0..100 {
        match request(port, offer_head(None), OFFER).await.0 {
            201 => created += 1,
            503 => refused += 1,
            other => panic!("offer answered {other}"),
        }
    }
    assert_eq!((created, refused), (8, 92));
    assert_eq!(server.stats().sessions, 8);
    // They time out and are forgotten.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let stats = server.stats();
    assert_eq!(stats.sessions, 0, "{stats:?}");
    assert_eq!(stats.timed_out, 8, "{stats:?}");
    // And new offers are taken again.
    assert_eq!(request(port, offer_head(None), OFFER).await.0, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_required_off_loopback_and_checked() {
    let e = WhepServer::bind("0.0.0.0:0", "cam", WhepSettings::default()).unwrap_err();
    assert!(e.to_string().contains("needs a bearer token"), "{e}");
    let mut settings = WhepSettings::default();
    settings.token = Some("s3cret".into());
    let server = WhepServer::bind("127.0.0.1:0", "cam", settings).unwrap();
    server.set_codecs(StreamCodecs::new(
        Some(VideoCodec::H264 {
            profile_level_id: 0x42e01f,
        }),
        None,
    ));
    let port = server.local_addr().port();
    let (status, body) = request(port, offer_head(None), OFFER).await;
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("s3cret"));
    let (status, _) = request(port, offer_head(Some("wrong")), OFFER).await;
    assert_eq!(status, 401);
    let (status, body) = request(port, offer_head(Some("s3cret")), OFFER).await;
    assert_eq!(status, 201, "{body}");
    assert!(body.starts_with("v=0"), "{body}");
}

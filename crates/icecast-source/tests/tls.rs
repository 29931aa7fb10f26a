//! TLS to a real icecast2 (Debian's 2.4.4, built with OpenSSL) that has a self-signed
//! certificate made by openssl: the source connection, the title update and the status
//! reads go over TLS when the certificate is trusted (`tls_ca`), a listener on the plain
//! port hears exactly the file's frames, and without the CA the connection fails with one
//! clear line that does not show the password.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use futures::StreamExt;
use icecast_source::{Event, EventStream, IcecastConfig, IcecastStream, Mp3Input, StreamOptions};
use mp3_frames::Frames;
use test_support::icecast::{Icecast, IcecastOptions, self_signed_certificate};
use test_support::require_peer;

async fn wait_event(events: &mut EventStream, want: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(20), async {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn source_title_and_status_over_tls_with_a_self_signed_certificate() {
    require_peer!("icecast2", "openssl");
    let certs = test_support::temp_dir();
    let (server_pem, cert) = self_signed_certificate(certs.path());
    let server = Icecast::start(IcecastOptions {
        tls_certificate: Some(server_pem),
        ..IcecastOptions::default()
    });
    let tls_port = server.tls_port().unwrap();
    let url = format!("icecasts://source:hackme@127.0.0.1:{tls_port}/stream");

    // Not trusted: the webpki roots do not know this certificate.
    let untrusted = IcecastConfig::from_url(&url).unwrap();
    let mut stream = IcecastStream::spawn(
        untrusted,
        StreamOptions::default(),
        vec![Mp3Input::File(test_support::fixture(
            "sine-44100-cbr128.mp3",
        ))],
    );
    let err = stream.events().map(drop);
    let _ = err;
    let err = stream.wait().await.unwrap_err().to_string();
    println!("{err}");
    assert!(err.contains("certificate"), "{err}");
    assert!(err.contains("icecasts://source:***@127.0.0.1"), "{err}");
    assert!(!err.contains("hackme") && !err.contains('\n'), "{err}");

    // Trusted through the CA file.
    let mut config = IcecastConfig::from_url(&url).unwrap();
    config.tls_ca = Some(cert);
    config.admin = Some(("admin".into(), "adminpw".into()));
    let song = test_support::fixture("sine-44100-cbr128.mp3");
    let options = {
        let mut options = StreamOptions::default();
        options.status_interval = Some(Duration::from_millis(300));
        options
    };
    let mut stream = IcecastStream::spawn(config, options, vec![Mp3Input::File(song.clone())]);
    let mut events = stream.events().unwrap();
    loop {
        match events.next().await {
            Some(Event::Connected { method: "PUT" }) => break,
            Some(_) => {}
            None => panic!("stream ended: {:?}", stream.wait().await),
        }
    }
    let status = tokio::task::block_in_place(|| {
        server.wait_for_status(|s| s["icestats"].get("source").is_some())
    });
    assert!(status["icestats"].get("source").is_some(), "{status}");
    // A listener on the plain port.
    let port = server.port();
    let listener = std::thread::spawn(move || {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET /stream HTTP/1.0\r\n\r\n").unwrap();
        let mut all = Vec::new();
        let _ = s.read_to_end(&mut all);
        all
    });
    stream.set_title("Über TLS – ♫").await;
    wait_event(&mut events, |e| {
        *e == Event::TitleSet("Über TLS – ♫".into())
    })
    .await;
    let seen = wait_event(
        &mut events,
        |e| matches!(e, Event::Status(s) if s.title.as_deref() == Some("Über TLS – ♫")),
    )
    .await;
    println!("{seen:?}");
    stream.wait().await.unwrap();
    let body = tokio::task::block_in_place(|| listener.join().unwrap());
    let original: Vec<Vec<u8>> = Frames::new(&std::fs::read(&song).unwrap())
        .map(|f| f.data.to_vec())
        .collect();
    let heard: Vec<Vec<u8>> = Frames::new(&body).map(|f| f.data.to_vec()).collect();
    let start = heard
        .iter()
        .position(|f| *f == original[0])
        .expect("first frame heard");
    assert!(
        heard[start..start + original.len()] == original[..],
        "the listener hears the file's frames, sent over TLS"
    );
}

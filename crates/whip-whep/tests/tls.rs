//! `https://` endpoints: a `WhepPull` through a TLS front (rustls, a self-signed
//! certificate for 127.0.0.1 made by openssl) to our `WhepServer`. Without the CA the
//! pull fails with one line naming the certificate problem; with it (`tls_ca`) it
//! receives frames and DELETEs its session over TLS.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use whip_whep::{
    AudioCodec, ClientSettings, Frame, StreamCodecs, TrackKind, WhepPull, WhepServer, WhepSettings,
};

/// A TLS front on 127.0.0.1 that forwards each connection to `backend`; its port.
async fn tls_front(dir: &std::path::Path, backend: std::net::SocketAddr) -> u16 {
    let (_, cert) = test_support::icecast::self_signed_certificate(dir);
    let key = dir.join("key.pem");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let Ok(mut plain) = TcpStream::connect(backend).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pull_over_https_with_a_self_signed_certificate() {
    if !test_support::peers_present(
        "a_pull_over_https_with_a_self_signed_certificate",
        &["openssl"],
    ) {
        return;
    }
    let server = WhepServer::bind("127.0.0.1:0", "cam", WhepSettings::default()).unwrap();
    server.set_codecs(StreamCodecs::new(None, Some(AudioCodec::Opus)));
    let dir = test_support::temp_dir();
    let port = tls_front(dir.path(), server.local_addr()).await;
    let url = format!("https://127.0.0.1:{port}/cam/whep");
    let mut settings = ClientSettings::default();
    settings.timeout = Duration::from_secs(5);

    let untrusted = WhepPull::connect(&url, settings.clone()).await.unwrap_err();
    let line = untrusted.to_string();
    eprintln!("without the CA: {line}");
    assert!(
        line.contains("certificate") && !line.contains('\n'),
        "{line}"
    );

    settings.tls_ca = Some(dir.path().join("cert.pem"));
    let mut pull = WhepPull::connect(&url, settings).await.unwrap();
    let sender = tokio::spawn(async move {
        for i in 0..50u64 {
            server.send(Frame::new(
                TrackKind::Audio,
                i * 960,
                true,
                vec![0xfc, 1].into(),
            ));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server
    });
    let mut frames = 0;
    let deadline = Instant::now() + Duration::from_secs(5);
    while frames < 40 && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(2), pull.next()).await {
            Ok(Some(_)) => frames += 1,
            _ => break,
        }
    }
    eprintln!("{frames} frames over a session signalled by https");
    assert!(frames >= 40, "{frames}");
    let server = sender.await.unwrap();
    pull.close().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.stats().sessions > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.stats().sessions,
        0,
        "the DELETE went through the TLS front"
    );
}

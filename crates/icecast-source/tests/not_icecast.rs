//! Plain TCP servers that are not Icecast (an SSH banner, an answer cut short, a server
//! that takes the source and hangs up): every error names the server and mount, password
//! masked, and quotes briefly what came back. Messages said "icecast : unexpected answer"
//! or "sending to icecast" without the server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use icecast_source::{Error, IcecastConfig, IcecastSource};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A server on 127.0.0.1 that reads the request, writes `answer` and closes, for
/// `connections` connections (bounded: the task ends with the test's runtime).
async fn plain_server(answer: &'static [u8], connections: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        for _ in 0..connections {
            let Ok((mut conn, _)) = listener.accept().await else {
                return;
            };
            let mut request = [0u8; 4096];
            let _ = tokio::time::timeout(TIMEOUT, conn.read(&mut request)).await;
            let _ = conn.write_all(answer).await;
        }
    });
    port
}

fn config(port: u16) -> IcecastConfig {
    IcecastConfig::from_url(&format!("icecast://source:S3cretPW@127.0.0.1:{port}/live")).unwrap()
}

fn assert_names_the_server(e: &Error, port: u16) {
    let shown = e.to_string();
    assert!(
        shown.contains(&format!("icecast://source:***@127.0.0.1:{port}/live")),
        "{shown}"
    );
    assert!(!shown.contains("S3cretPW") && !format!("{e:?}").contains("S3cretPW"));
}

#[tokio::test]
async fn an_ssh_banner_is_named_and_quoted() {
    // PUT and the SOURCE fallback: two connections.
    let port = plain_server(b"SSH-2.0-OpenSSH_9.6\r\n", 2).await;
    let e = IcecastSource::connect(&config(port), TIMEOUT)
        .await
        .unwrap_err();
    assert_names_the_server(&e, port);
    assert!(
        e.to_string().contains(
            "unexpected answer: answer cut short after 21 bytes: \"SSH-2.0-OpenSSH_9.6\\r\\n\""
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_status_line_that_is_not_http_is_named_and_quoted() {
    let port = plain_server(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n\r\n", 2).await;
    let e = IcecastSource::connect(&config(port), TIMEOUT)
        .await
        .unwrap_err();
    assert_names_the_server(&e, port);
    assert!(
        e.to_string()
            .contains("not an HTTP status line: \"RTSP/1.0 200 OK\""),
        "{e}"
    );
}

#[tokio::test]
async fn a_server_that_hangs_up_is_named_when_sending_fails() {
    let port = plain_server(b"HTTP/1.0 200 OK\r\n\r\n", 1).await;
    let mut source = IcecastSource::connect(&config(port), TIMEOUT)
        .await
        .unwrap();
    // The peer has closed: a write fails within a few tries (the first may be buffered).
    let frame = vec![0u8; 16 * 1024];
    let mut failure = None;
    for _ in 0..100 {
        if let Err(e) = source.send(&frame).await {
            failure = Some(e);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e = failure.expect("sending to a closed connection fails");
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
    assert_names_the_server(&e, port);
}

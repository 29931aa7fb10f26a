//! Listener counts read from a real icecast2's `status-json.xsl` while streaming: they
//! follow the listeners actually connected, and equal what the server's own status page
//! says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

use futures::StreamExt;
use icecast_source::{Event, EventStream, IcecastConfig, IcecastStream, Mp3Input, StreamOptions};
use test_support::icecast::{Icecast, IcecastOptions};
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

fn listener(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET /stream HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    s
}

fn server_listeners(server: &Icecast) -> u64 {
    server.status_json()["icestats"]["source"]["listeners"]
        .as_u64()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_counts_follow_the_listeners_connected() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let mut config = IcecastConfig::from_url(&format!(
        "icecast://source:hackme@127.0.0.1:{}/stream",
        server.port()
    ))
    .unwrap();
    config.admin = Some(("admin".into(), "adminpw".into()));
    let options = {
        let mut options = StreamOptions::default();
        options.stop_when_empty = false; // silence after the song: the mount stays up
        options.status_interval = Some(Duration::from_millis(200));
        options
    };
    let song = Mp3Input::File(test_support::fixture("sine-44100-cbr128.mp3"));
    let mut stream = IcecastStream::spawn(config, options, vec![song]);
    let mut events = stream.events().unwrap();
    let first = wait_event(&mut events, |e| matches!(e, Event::Status(_))).await;
    assert!(
        matches!(&first, Event::Status(s) if s.listeners == 0
            && s.content_type.as_deref() == Some("audio/mpeg")),
        "{first:?}"
    );
    let mut listeners: Vec<TcpStream> = (0..3).map(|_| listener(server.port())).collect();
    for want in [3u64, 1] {
        let seen = wait_event(
            &mut events,
            |e| matches!(e, Event::Status(s) if s.listeners == want),
        )
        .await;
        println!("{seen:?}");
        let on_server = tokio::task::block_in_place(|| server_listeners(&server));
        assert_eq!(on_server, want, "the server's own status page agrees");
        for gone in listeners.drain(..2.min(listeners.len())) {
            gone.shutdown(Shutdown::Both).unwrap();
        }
    }
    let peak = wait_event(&mut events, |e| matches!(e, Event::Status(_))).await;
    assert!(
        matches!(&peak, Event::Status(s) if s.listener_peak == Some(3)),
        "{peak:?}"
    );
    stream.stop().await;
    stream.wait().await.unwrap();
    drop(listeners);
}

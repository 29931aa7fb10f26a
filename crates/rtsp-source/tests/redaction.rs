//! Passwords never appear in Display, Debug, errors or logs.
//!
//! One test in its own binary: it installs a global TRACE subscriber (which also receives
//! retina's `log` records) writing to a buffer, runs sessions with right and wrong
//! passwords against the scripted server and the GStreamer server (Digest), and searches
//! every log line, event and error for the passwords.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::mock::*;
use common::*;
use rtsp_source::{Event, ReconnectOptions, ReconnectingSource, RtspOptions, RtspSource};
use test_support::rtsp::{RtspAuth, RtspServer, RtspServerOptions};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const GOOD: &str = "Gr3at-Secret";
const BAD: &str = "Wr0ng-Secret";

fn shown(texts: &mut Vec<String>, events: &[Event]) {
    for e in events {
        texts.push(format!("{e:?}"));
        if let Event::Disconnected { reason, .. }
        | Event::ConnectFailed { reason, .. }
        | Event::Stopped {
            reason: Some(reason),
        } = e
        {
            texts.push(reason.to_string());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_show() {
    let logs = Buffer::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .unwrap();
    let mut texts: Vec<String> = Vec::new();

    // Scripted server with Basic auth ("cam:Gr3at-Secret").
    let token = "Basic Y2FtOkdyM2F0LVNlY3JldA==";
    let mock = Mock::start(Script {
        auth: Some(token.into()),
        ..Script::audio(pcma(0, 1..=3), Then::Close)
    })
    .await;
    for password in [GOOD, BAD] {
        let url = mock
            .url()
            .replace("rtsp://", &format!("rtsp://cam:{password}@"));
        let options = RtspOptions::new(&url)
            .unwrap()
            .idle_timeout(Duration::from_secs(2));
        texts.push(format!("{options:?}"));
        texts.push(options.to_string());
        match RtspSource::connect(options.clone()).await {
            Ok(mut source) => {
                texts.push(format!("{source:?}"));
                let events = collect_until(&mut source, Duration::from_secs(10), |_| false).await;
                assert_eq!(frames(&events, 0).len(), 3);
                shown(&mut texts, &events);
            }
            Err(e) => texts.extend([e.to_string(), format!("{e:?}")]),
        }
        // The supervisor too (it gives up on 401, or reconnects after the EOF).
        let source = ReconnectingSource::new(options, ReconnectOptions::default());
        texts.push(format!("{source:?}"));
        let stop = source.stop_handle();
        let mut events = Box::pin(source.into_stream());
        let evs = collect_until(&mut events, Duration::from_secs(10), |evs| {
            evs.iter()
                .any(|e| matches!(e, Event::Reconnecting { .. } | Event::Stopped { .. }))
        })
        .await;
        stop.stop();
        let end = collect_until(&mut events, Duration::from_secs(10), |_| false).await;
        shown(&mut texts, &evs);
        shown(&mut texts, &end);
    }

    // GStreamer with Digest auth.
    if test_support::peers_present("redaction", RtspServer::PEERS) {
        let server = RtspServer::start(RtspServerOptions {
            auth: Some(RtspAuth::Digest {
                user: "cam".into(),
                password: GOOD.into(),
            }),
            ..Default::default()
        });
        for password in [GOOD, BAD] {
            let url = server
                .url("/h264")
                .replace("rtsp://", &format!("rtsp://cam:{password}@"));
            match RtspSource::connect(RtspOptions::new(&url).unwrap()).await {
                Ok(mut source) => {
                    let events = collect_frames(&mut source, 0, 3, Duration::from_secs(20)).await;
                    shown(&mut texts, &events);
                    source.close().await.unwrap();
                }
                Err(e) => texts.extend([e.to_string(), format!("{e:?}")]),
            }
        }
    }

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("DESCRIBE"),
        "the TRACE logs were captured: {logs}"
    );
    assert!(
        logs.contains("cam:***@"),
        "URLs are logged redacted: {logs}"
    );
    assert!(
        logs.contains("retina::client"),
        "retina's own log records were captured"
    );
    texts.push(logs);
    for text in &texts {
        for secret in [GOOD, BAD, "Y2FtOkdyM2F0LVNlY3JldA"] {
            assert!(!text.contains(secret), "{secret} shown in: {text}");
        }
    }
    // Sanity: the search would have found them.
    assert!(texts.iter().any(|t| t.contains("cam:***@")));
}

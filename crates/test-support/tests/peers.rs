//! The peers helper against the real peers: an RTSP test camera checked by ffprobe, and
//! icecast2's status page.

use test_support::ffprobe;
use test_support::icecast::{Icecast, IcecastOptions};
use test_support::require_peer;
use test_support::rtsp::RtspServer;

#[test]
fn rtsp_test_server_is_read_by_ffprobe() {
    require_peer!(
        "gst-rtsp-server",
        "gst-base",
        "gst-good",
        "gst-ugly",
        "gst-libav",
        "ffprobe"
    );
    let server = RtspServer::start_default();
    let url = server.url("/h264aac");
    let probe = ffprobe::probe_with(&url, &["-rtsp_transport", "tcp", "-show_streams"]);
    let streams = probe["streams"].as_array().expect("streams array");
    let codecs: Vec<&str> = streams
        .iter()
        .filter_map(|s| s["codec_name"].as_str())
        .collect();
    assert!(codecs.contains(&"h264"), "codecs {codecs:?}");
    assert!(codecs.contains(&"aac"), "codecs {codecs:?}");
    let video = streams
        .iter()
        .find(|s| s["codec_name"] == "h264")
        .expect("video stream");
    assert_eq!(video["width"], 640);
    assert_eq!(video["height"], 360);
}

#[test]
fn icecast_status_json_answers() {
    require_peer!("icecast2");
    let server = Icecast::start(IcecastOptions::default());
    let status = server.status_json();
    let icestats = &status["icestats"];
    assert!(
        icestats["server_start_iso8601"]
            .as_str()
            .is_some_and(|s| s.starts_with("20")),
        "status: {status}"
    );
    // No source is connected yet, so no mount is listed.
    assert!(icestats.get("source").is_none(), "status: {status}");
    assert!(
        server.error_log().contains("Icecast"),
        "error.log should show the server start"
    );
}

//! Fragmented output played by headless Chromium through Media Source Extensions: a test
//! page appends the init segment and the fragments; it passes only when the video element
//! plays past a given time with no SourceBuffer or media error.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use bmff_writer::{
    FragmentOptions, InitSegment, MediaSegment, Sample, SegmentSink, SegmentWriter, TrackConfig,
};
use common::{fixture_track, interleave};

/// Collects segments in memory, in output order, as URL paths.
#[derive(Default)]
struct Memory {
    files: Vec<(String, Vec<u8>)>,
}

impl SegmentSink for Memory {
    fn init_segment(&mut self, init: &InitSegment) -> std::io::Result<()> {
        self.files
            .push((format!("/init-{}.mp4", init.number), init.bytes.to_vec()));
        Ok(())
    }
    fn media_segment(&mut self, s: &MediaSegment) -> std::io::Result<()> {
        let mut bytes = Vec::with_capacity(s.size as usize);
        bmff_writer::write_all_vectored(&mut bytes, &s.parts)?;
        self.files
            .push((format!("/segment-{}.m4s", s.sequence_number), bytes));
        Ok(())
    }
}

const PAGE: &str = r#"<!doctype html><html><body><script>
const report = (m) => fetch('/result?' + encodeURIComponent(m));
let failed = false;
const fail = (m) => { if (!failed) { failed = true; report('fail ' + m); } };
(async () => {
  try {
    const mime = MIME_TYPE;
    if (!MediaSource.isTypeSupported(mime)) return fail('isTypeSupported false for ' + mime);
    const video = document.createElement('video');
    video.muted = true;
    document.body.appendChild(video);
    video.addEventListener('error', () => fail('media error ' + (video.error && video.error.code) + ' ' + (video.error && video.error.message)));
    const ms = new MediaSource();
    video.src = URL.createObjectURL(ms);
    await new Promise(r => ms.addEventListener('sourceopen', r, { once: true }));
    const sb = ms.addSourceBuffer(mime);
    sb.addEventListener('error', () => fail('SourceBuffer error'));
    for (const url of URLS) {
      const data = await (await fetch(url)).arrayBuffer();
      await new Promise((resolve) => { sb.addEventListener('updateend', resolve, { once: true }); sb.appendBuffer(data); });
      if (failed) return;
    }
    ms.endOfStream();
    await video.play();
    const start = performance.now();
    const tick = () => {
      if (failed) return;
      if (video.currentTime > MIN_TIME) {
        report('ok currentTime=' + video.currentTime + ' width=' + video.videoWidth + ' buffered=' + video.buffered.end(0));
      } else if (performance.now() - start > 20000) {
        fail('timeout currentTime=' + video.currentTime + ' readyState=' + video.readyState);
      } else {
        setTimeout(tick, 50);
      }
    };
    tick();
  } catch (e) {
    fail('exception ' + e);
  }
})();
</script></body></html>"#;

fn respond(
    mut stream: TcpStream,
    files: &[(String, Vec<u8>)],
    page: &str,
    results: &mpsc::Sender<String>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, kind, body): (&str, &str, Vec<u8>) = if path == "/" {
        ("200 OK", "text/html", page.as_bytes().to_vec())
    } else if let Some(q) = path.strip_prefix("/result?") {
        let text = test_support::chromium::percent_decode(q);
        let _ = results.send(text);
        ("200 OK", "text/plain", b"ok".to_vec())
    } else if let Some((_, b)) = files.iter().find(|(p, _)| *p == path) {
        ("200 OK", "video/mp4", b.clone())
    } else {
        ("404 Not Found", "text/plain", Vec::new())
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// Serves `files` and a page appending them in order; returns the page's report.
fn play_in_chromium(files: Vec<(String, Vec<u8>)>, mime: &str, min_time: f64) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let urls: Vec<String> = files.iter().map(|(p, _)| format!("{p:?}")).collect();
    let page = PAGE
        .replace("MIME_TYPE", &format!("{mime:?}"))
        .replace("URLS", &format!("[{}]", urls.join(",")))
        .replace("MIN_TIME", &min_time.to_string());
    let (tx, rx) = mpsc::channel();
    listener.set_nonblocking(false).unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            respond(stream, &files, &page, &tx);
        }
    });
    let profile = test_support::temp_dir();
    let mut guard =
        test_support::chromium::launch(&format!("http://127.0.0.1:{port}/"), profile.path(), &[]);
    let result = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| "fail: no report from the page within 60 s".to_owned());
    guard.stop();
    eprintln!("Chromium page reported: {result}");
    result
}

fn segments(
    tracks: &[(TrackConfig, Vec<Sample>)],
    change: Option<(usize, TrackConfig, Vec<Sample>)>,
) -> Vec<(String, Vec<u8>)> {
    let configs = tracks.iter().map(|(c, _)| c.clone()).collect();
    let opts = FragmentOptions::new(Duration::from_millis(500));
    let mut w = SegmentWriter::new(Memory::default(), configs, opts).unwrap();
    for s in interleave(tracks) {
        w.push(s).unwrap();
    }
    if let Some((track, config, samples)) = change {
        w.set_codec(track, config.codec).unwrap();
        for s in samples {
            w.push(s).unwrap();
        }
    }
    w.finish().unwrap().files
}

#[test]
fn h264_and_aac_play_through_media_source_extensions() {
    test_support::require_peer!("chromium");
    let tracks = [fixture_track("h264.mp4", 0), fixture_track("aac.mp4", 1)];
    let codecs: Vec<String> = tracks
        .iter()
        .map(|(c, _)| c.codec_string().unwrap().unwrap())
        .collect();
    let mime = format!("video/mp4; codecs=\"{}\"", codecs.join(","));
    let result = play_in_chromium(segments(&tracks, None), &mime, 1.0);
    assert!(result.starts_with("ok "), "Chromium MSE: {result}");
}

#[test]
fn codec_change_plays_through_a_new_init_segment() {
    test_support::require_peer!("chromium");
    let (c1, s1) = fixture_track("h264.mp4", 0);
    let (c2, s2) = fixture_track("rtsp-file.mp4", 0);
    let step = s1[1].dts - s1[0].dts;
    let end = s1.last().unwrap().dts + step;
    let second: Vec<Sample> = s2
        .into_iter()
        .take(30)
        .map(|mut s| {
            s.dts = end + s.dts * i64::from(c1.timescale) / i64::from(c2.timescale);
            s
        })
        .collect();
    let mime = format!(
        "video/mp4; codecs=\"{}\"",
        c1.codec_string().unwrap().unwrap()
    );
    let files = segments(&[(c1, s1)], Some((0, c2, second)));
    assert!(files.iter().any(|(p, _)| p == "/init-2.mp4"));
    // Past the 2 s switch point into the second configuration (640x360).
    let result = play_in_chromium(files, &mime, 2.3);
    assert!(
        result.starts_with("ok ") && result.contains("width=640"),
        "Chromium MSE: {result}"
    );
}

#[test]
fn the_page_reports_a_corrupt_fragment() {
    // Negative control: the harness must see Chromium reject bad data.
    test_support::require_peer!("chromium");
    let tracks = [fixture_track("h264.mp4", 0)];
    let mime = format!(
        "video/mp4; codecs=\"{}\"",
        tracks[0].0.codec_string().unwrap().unwrap()
    );
    let mut files = segments(&tracks, None);
    let seg = &mut files[1].1;
    seg[12..16].copy_from_slice(b"junk"); // the mfhd inside the first moof
    let result = play_in_chromium(files, &mime, 1.0);
    assert!(
        result.starts_with("fail "),
        "Chromium accepted a corrupt fragment: {result}"
    );
}

#[test]
fn vp9_and_av1_play_through_media_source_extensions() {
    test_support::require_peer!("chromium");
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    let vp9 = common::ivf::encode(
        dir.path(),
        "libvpx-vp9",
        &["-deadline", "realtime", "-b:v", "300k"],
    );
    let (av1_config, av1) = common::ivf::av1_stream(dir.path());
    for (codec, frames) in [
        (
            bmff_writer::Codec::Vp9(bmff_writer::VpConfig::default()),
            vp9,
        ),
        (bmff_writer::Codec::Av1(av1_config), av1),
    ] {
        let config = TrackConfig::video(codec, 90_000, 320, 240);
        let mime = format!(
            "video/mp4; codecs=\"{}\"",
            config.codec_string().unwrap().unwrap()
        );
        let tracks = [(config, common::ivf::samples(&frames))];
        let result = play_in_chromium(segments(&tracks, None), &mime, 1.5);
        assert!(result.starts_with("ok "), "Chromium MSE ({mime}): {result}");
    }
}

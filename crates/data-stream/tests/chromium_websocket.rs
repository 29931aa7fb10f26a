//! Headless Chromium against the `datastream serve --ws` example: a page encodes and
//! decodes DataPackets with LiveKit's own npm package `@livekit/protocol` (1.52.1, served
//! from the global node_modules, no CDN) and the browser's `CompressionStream`. It sends
//! a v1 text, a v2 single-packet deflated text and a v2 deflated 5 MB file; it receives
//! ours as v1 (text, 5 MB file) and v2 (single-packet deflated text, deflated file). Both
//! sides compare SHA-256 of the content. Peers "chromium" and "livekit-protocol-npm".
#![cfg(feature = "websocket")]
#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value as Json;
use sha2::{Digest, Sha256};

const PAGE: &str = r#"<!doctype html><html><head>
<script type="importmap">{"imports": {
  "@livekit/protocol": "/npm/@livekit/protocol/dist/index.mjs",
  "@bufbuild/protobuf": "BUFBUILD"}}</script>
</head><body><script type="module">
import { DataPacket, DataStream_ByteHeader, DataStream_Chunk, DataStream_CompressionType,
  DataStream_Header, DataStream_TextHeader, DataStream_Trailer } from '@livekit/protocol';
const report = (m) => fetch('/result?' + encodeURIComponent(m));
const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
const sha = async (bytes) => hex(await crypto.subtle.digest('SHA-256', bytes));
const through = async (bytes, t) =>
  new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(t)).arrayBuffer());
const concat = (parts) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
(async () => {
  try {
    const ws = new WebSocket(WS_URL);
    ws.binaryType = 'arraybuffer';
    const streams = new Map();
    const finished = [];
    let allIn;
    const arrived = new Promise((r) => { allIn = r; });
    const finish = (s) => { finished.push(s); if (finished.length === EXPECTED) allIn(); };
    ws.onmessage = (ev) => {
      const v = DataPacket.fromBinary(new Uint8Array(ev.data)).value;
      if (v.case === 'streamHeader') {
        const s = { h: v.value, chunks: [], next: 0, indexOk: true, reason: '' };
        streams.set(v.value.streamId, s);
        if (v.value.inlineContent !== undefined) { s.chunks.push(v.value.inlineContent); finish(s); }
      } else if (v.case === 'streamChunk') {
        const s = streams.get(v.value.streamId);
        if (Number(v.value.chunkIndex) !== s.next++) s.indexOk = false;
        s.chunks.push(v.value.content);
      } else if (v.case === 'streamTrailer') {
        const s = streams.get(v.value.streamId);
        s.reason = v.value.reason;
        finish(s);
      }
    };
    await new Promise((ok, fail) => { ws.onopen = ok; ws.onerror = () => fail(new Error('websocket error')); });
    const send = (value) => ws.send(new DataPacket({ participantIdentity: 'chromium', value }).toBinary());
    const header = (id, total, content, extra) => send({ case: 'streamHeader', value: new DataStream_Header({
      streamId: id, topic: 'chat', timestamp: BigInt(Date.now()), totalLength: BigInt(total),
      contentHeader: content, ...extra }) });
    const chunks = (id, bytes) => {
      for (let i = 0, n = 0; i < bytes.length; i += 15000, n++) {
        send({ case: 'streamChunk', value: new DataStream_Chunk({ streamId: id, chunkIndex: BigInt(n),
          content: bytes.subarray(i, i + 15000) }) });
      }
      send({ case: 'streamTrailer', value: new DataStream_Trailer({ streamId: id }) });
    };
    const text = { case: 'textHeader', value: new DataStream_TextHeader({}) };
    const sent = [];
    // v1 text: header, chunk, trailer.
    const hello = new TextEncoder().encode('héllo from Chromium 😊');
    header('js-v1-text', hello.length, text, { mimeType: 'text/plain' });
    chunks('js-v1-text', hello);
    sent.push({ id: 'js-v1-text', size: hello.length, sha: await sha(hello) });
    // v2 single packet, deflated.
    const long = new TextEncoder().encode('compress me, Chromium 😊 '.repeat(300));
    header('js-v2-inline', long.length, text, { mimeType: 'text/plain',
      compression: DataStream_CompressionType.DEFLATE_RAW,
      inlineContent: await through(long, new CompressionStream('deflate-raw')) });
    sent.push({ id: 'js-v2-inline', size: long.length, sha: await sha(long) });
    // v2 deflated 5 MB file, cut into 15 000-byte chunks of the deflate stream.
    const file = new Uint8Array(5000000);
    let x = 12345;
    for (let i = 0; i < file.length; i++) { x = (x * 1103515245 + 12345) >>> 0; file[i] = 97 + ((x >>> 16) & 3); }
    header('js-v2-file', file.length, { case: 'byteHeader', value: new DataStream_ByteHeader({ name: 'five.bin' }) },
      { mimeType: 'application/octet-stream', compression: DataStream_CompressionType.DEFLATE_RAW });
    chunks('js-v2-file', await through(file, new CompressionStream('deflate-raw')));
    sent.push({ id: 'js-v2-file', size: file.length, sha: await sha(file) });
    await Promise.race([arrived, new Promise((r) => setTimeout(r, 40000))]);
    const received = [];
    for (const s of finished) {
      let content = concat(s.chunks);
      const deflated = s.h.compression === DataStream_CompressionType.DEFLATE_RAW;
      if (deflated) content = await through(content, new DecompressionStream('deflate-raw'));
      received.push({ id: s.h.streamId, kind: s.h.contentHeader.case, inline: s.h.inlineContent !== undefined,
        deflated, size: content.length, total: Number(s.h.totalLength), sha: await sha(content),
        text: s.h.contentHeader.case === 'textHeader' ? new TextDecoder('utf-8', { fatal: true }).decode(content) : null,
        reason: s.reason, indexOk: s.indexOk });
    }
    report(JSON.stringify({ ok: true, sent, received }));
  } catch (e) {
    report(JSON.stringify({ ok: false, error: String(e) + ' ' + (e.stack || '') }));
  }
})();
</script></body></html>"#;

/// `cargo test` builds the examples next to the test binaries' `deps/` folder.
fn example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("datastream");
    assert!(
        path.exists(),
        "example not built at {} (run `cargo build -p media-toolkit-data-stream --features websocket --example datastream` first)",
        path.display()
    );
    path
}

/// Serves the page, `/npm/...` from the global node_modules, and takes the page's report.
fn respond(mut stream: TcpStream, page: &str, npm: &Path, results: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let (status, kind, body): (&str, &str, Vec<u8>) = if path == "/" {
        ("200 OK", "text/html", page.as_bytes().to_vec())
    } else if let Some(q) = path.strip_prefix("/result?") {
        let _ = results.send(test_support::chromium::percent_decode(q));
        ("200 OK", "text/plain", b"ok".to_vec())
    } else if let Some(file) = path.strip_prefix("/npm/").filter(|p| !p.contains("..")) {
        match std::fs::read(npm.join(file)) {
            Ok(body) => ("200 OK", "text/javascript", body),
            Err(_) => ("404 Not Found", "text/plain", Vec::new()),
        }
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

fn sha256(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn chromium_with_livekit_npm_package_talks_v1_and_v2_over_websocket() {
    test_support::require_peer!("chromium");
    test_support::require_peer!("livekit-protocol-npm");
    let npm = test_support::peer_list::npm_root().unwrap();
    let bufbuild = [
        "@livekit/protocol/node_modules/@bufbuild/protobuf",
        "@bufbuild/protobuf",
    ]
    .into_iter()
    .find(|p| npm.join(p).join("dist/esm/index.js").exists())
    .expect("@bufbuild/protobuf next to @livekit/protocol");

    // Our server: prints what it receives, answers with a text and a 5 MB file, v1 and v2.
    let dir = test_support::temp_dir();
    let reply_file: Vec<u8> = {
        let mut x = 7u32;
        (0..5_000_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                b'a' + ((x >> 16) & 7) as u8
            })
            .collect()
    };
    let file = dir.path().join("ours.bin");
    std::fs::write(&file, &reply_file).unwrap();
    let reply_text = "from rust 😊 ".repeat(200);
    let mut server = Command::new(example())
        .args([
            "serve",
            "--ws",
            "127.0.0.1:0",
            "--reply-v1",
            "--reply-v2",
            "--reply-text",
        ])
        .arg(&reply_text)
        .arg("--reply-file")
        .arg(&file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(server.stderr.take().unwrap());
    let stdout = server.stdout.take().unwrap();
    let mut server = test_support::ChildGuard::new("datastream serve", server);
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let ws_addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line);
        }
    });

    // The page, and the npm package files, from a small HTTP server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let page = PAGE
        .replace("WS_URL", &format!("'ws://{ws_addr}/'"))
        .replace("EXPECTED", "4")
        .replace("BUFBUILD", &format!("/npm/{bufbuild}/dist/esm/index.js"));
    let (tx, results) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            respond(stream, &page, &npm, &tx);
        }
    });
    let profile = test_support::temp_dir();
    let mut chromium =
        test_support::chromium::launch(&format!("http://127.0.0.1:{port}/"), profile.path(), &[]);
    let report = results
        .recv_timeout(Duration::from_secs(90))
        .unwrap_or_else(|_| r#"{"ok":false,"error":"no report from the page within 90 s"}"#.into());
    let mut server_lines = Vec::new();
    while server_lines.len() < 3 {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => server_lines.push(serde_json::from_str::<Json>(&line).unwrap()),
            Err(_) => break,
        }
    }
    chromium.stop();
    server.stop();
    let mut rest = String::new();
    let _ = stderr.read_to_string(&mut rest);
    eprintln!("page report: {report}\nserver stderr: {rest}");
    let report: Json = serde_json::from_str(&report).unwrap();
    assert_eq!(report["ok"], true, "{report}");

    // What the page sent, our server received intact.
    assert_eq!(server_lines.len(), 3, "{server_lines:?}");
    for sent in report["sent"].as_array().unwrap() {
        let ours = server_lines.iter().find(|l| l["id"] == sent["id"]).unwrap();
        assert!(ours.get("error").is_none(), "{ours}");
        assert_eq!(ours["size"], sent["size"], "{ours}");
        assert_eq!(ours["total_length"], sent["size"]);
        match ours["kind"].as_str().unwrap() {
            "text" => assert_eq!(
                sha256(ours["text"].as_str().unwrap().as_bytes()),
                sent["sha"]
            ),
            _ => assert_eq!(ours["sha256"], sent["sha"]),
        }
    }

    // What we sent, the page decoded (with LiveKit's classes and DecompressionStream) intact.
    let received = report["received"].as_array().unwrap();
    assert_eq!(received.len(), 4, "{received:?}");
    let forms: Vec<(&str, bool, bool)> = received
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap(),
                r["inline"] == true,
                r["deflated"] == true,
            )
        })
        .collect();
    for form in [
        ("textHeader", false, false),
        ("byteHeader", false, false),
        ("textHeader", true, true),
        ("byteHeader", false, true),
    ] {
        assert!(forms.contains(&form), "{form:?} not among {forms:?}");
    }
    for r in received {
        assert_eq!(r["indexOk"], true);
        assert_eq!(r["reason"], "");
        assert_eq!(
            r["size"], r["total"],
            "total_length is the size before compression"
        );
        let expected = match r["kind"].as_str().unwrap() {
            "textHeader" => {
                assert_eq!(r["text"], reply_text.as_str());
                sha256(reply_text.as_bytes())
            }
            _ => sha256(&reply_file),
        };
        assert_eq!(r["sha"], expected.as_str());
    }
}

//! The `datastream` example end to end: `send` output is read by `recv` and by LiveKit's
//! Python package (peer "livekit-protocol-py").
#![cfg(feature = "websocket")]
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

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
        "example not built at {} (`cargo test` builds it; `--test example_cli` alone does not: \
         run `cargo build -p media-toolkit-data-stream --features websocket --example datastream` first)",
        path.display()
    );
    path
}

fn send(args: &[&str]) -> Vec<u8> {
    let out = Command::new(example())
        .arg("send")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn send_then_recv_prints_each_stream_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    let data: Vec<u8> = (0..50_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let mut wire = send(&[
        "--text",
        "héllo 😊",
        "--topic",
        "chat",
        "--attr",
        "lang=fr",
        "--attr",
        "x=1",
    ]);
    wire.extend(send(&[
        "--file",
        file.to_str().unwrap(),
        "--topic",
        "files",
    ]));

    let mut recv = Command::new(example())
        .arg("recv")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    recv.stdin.take().unwrap().write_all(&wire).unwrap();
    let out = recv.wait_with_output().unwrap();
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text = lines.iter().find(|l| l["kind"] == "text").unwrap();
    assert_eq!(text["text"], "héllo 😊");
    assert_eq!(text["topic"], "chat");
    assert_eq!(text["attributes"]["lang"], "fr");
    assert_eq!(text["attributes"]["x"], "1");
    let bytes = lines.iter().find(|l| l["kind"] == "bytes").unwrap();
    assert_eq!(bytes["name"], "notes.txt");
    assert_eq!(bytes["mime_type"], "text/plain");
    assert_eq!(bytes["size"], 50_000);
    let sha: String = Sha256::digest(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(bytes["sha256"], sha);
    assert!(lines.iter().all(|l| l.get("error").is_none()));

    // LiveKit's own decoder reads what `send` wrote.
    test_support::require_peer!("livekit-protocol-py");
    let packets = dir.path().join("packets.bin");
    std::fs::write(&packets, &wire).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/livekit_interop.py");
    let out = Command::new("python3")
        .arg(script)
        .arg("decode")
        .arg(&packets)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let parts: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parts.iter().filter(|p| p["part"] == "header").count(), 2);
    assert_eq!(parts.iter().filter(|p| p["part"] == "chunk").count(), 1 + 4);
    assert_eq!(
        parts
            .iter()
            .filter(|p| p["part"] == "trailer" && p["reason"] == "")
            .count(),
        2
    );
}

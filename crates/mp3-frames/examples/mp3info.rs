//! `cargo run -p mp3-frames --example mp3info -- FILE [--frames]`
//!
//! Prints the stream summary as JSON; with `--frames`, first one JSON line per frame, tag,
//! skipped range or truncation (in stream order), then the summary. A failure is one line
//! on stderr (`mp3info: …` with its causes) and exit code 1, whatever `RUST_BACKTRACE`
//! says: a backtrace is for panics, not for a file that is not MP3.
//!
//! The file is streamed in 64 KiB reads through [`PushParser`] (frames are slices of the
//! read buffer), so memory stays bounded whatever the file size.

use anyhow::Context;
use std::io::Read;

use mp3_frames::{Event, InfoTag, PushParser, SummaryBuilder, TagKind};
use serde_json::{Value, json};

fn main() -> std::process::ExitCode {
    match mp3info() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}`: the causes on the same line, no backtrace (anyhow's `Debug`, which
            // `fn main() -> anyhow::Result` prints, adds one when RUST_BACKTRACE is set).
            eprintln!("mp3info: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn mp3info() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (mut path, mut frames) = (None, false);
    for arg in args.by_ref() {
        match arg.as_str() {
            "--frames" => frames = true,
            _ if path.is_none() => path = Some(arg),
            _ => anyhow::bail!("usage: mp3info FILE [--frames]"),
        }
    }
    let path = path.context("usage: mp3info FILE [--frames]")?;
    let mut file = std::fs::File::open(&path).with_context(|| format!("open {path}"))?;
    let mut parser = PushParser::new();
    let mut builder = SummaryBuilder::default();
    let mut read = vec![0u8; 64 * 1024];
    let mut len = 0u64;
    let mut take = |event: Event<mp3_frames::FrameBytes<'_>>| {
        if frames {
            println!("{}", event_json(&event));
        }
        builder.add(&event);
    };
    loop {
        let n = match file.read(&mut read) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("read {path}")),
        };
        len += n as u64;
        parser.feed(&read[..n]).for_each(&mut take);
    }
    parser.finish().for_each(&mut take);
    let s = builder.finish(len).with_context(|| path.clone())?;
    let summary = json!({
        "file": path,
        "version": s.version.as_str(),
        "layer": s.layer.number(),
        "sample_rate": s.sample_rate,
        "mode": s.mode.as_str(),
        "frames": s.frames,
        "samples": s.samples,
        "duration": s.duration.as_secs_f64(),
        "gapless_duration": s.gapless_duration.map(|d| d.as_secs_f64()),
        "bitrate": s.bitrate,
        "bitrate_mode": format!("{:?}", s.bitrate_mode).to_lowercase(),
        "crc": s.crc,
        "audio_bytes": s.audio_bytes,
        "first_frame_offset": s.first_frame_offset,
        "info": s.info.as_ref().map(info_json),
        "tags": s.tags.iter().map(|t| json!({"kind": t.kind.name(), "offset": t.offset, "len": t.len})).collect::<Vec<_>>(),
        "skipped": s.skipped.iter().map(|k| json!({"offset": k.offset, "len": k.len})).collect::<Vec<_>>(),
        "skipped_bytes": s.skipped_bytes,
        "truncated": s.truncated.map(|t| json!({"offset": t.offset, "len": t.len, "expected": t.expected})),
    });
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}

fn frame_json<D: AsRef<[u8]>>(f: &mp3_frames::Frame<D>) -> Value {
    let h = f.header;
    json!({
        "offset": f.offset,
        "index": f.index,
        "size": f.len(),
        "version": h.version().as_str(),
        "layer": h.layer().number(),
        "bitrate": h.bitrate(),
        "sample_rate": h.sample_rate(),
        "mode": h.mode().as_str(),
        "crc": h.crc(),
        "padding": h.padding(),
        "samples": h.samples(),
        "duration": h.duration().as_secs_f64(),
        "timestamp": f.timestamp().as_secs_f64(),
    })
}

fn event_json<D: AsRef<[u8]>>(event: &Event<D>) -> Value {
    match event {
        Event::Frame(f) => with_type("frame", frame_json(f)),
        Event::Info { frame, tag } => {
            let mut v = with_type("info", frame_json(frame));
            v["tag"] = info_json(tag);
            v
        }
        Event::Tag(t) => json!({
            "type": "tag",
            "kind": t.kind.name(),
            "footer": matches!(t.kind, TagKind::Id3v2 { footer: true, .. }),
            "offset": t.offset,
            "len": t.len,
        }),
        Event::Skipped { offset, len } => json!({"type": "skipped", "offset": offset, "len": len}),
        Event::Truncated {
            offset,
            len,
            expected,
        } => {
            json!({"type": "truncated", "offset": offset, "len": len, "expected": expected})
        }
        // An event of a newer mp3-frames: named as such rather than dropped.
        _ => json!({"type": "unknown"}),
    }
}

/// `{"type": kind, ...fields}`: one flat JSON object per line.
fn with_type(kind: &str, fields: Value) -> Value {
    let mut v = json!({"type": kind});
    if let (Some(out), Value::Object(fields)) = (v.as_object_mut(), fields) {
        out.extend(fields);
    }
    v
}

fn info_json(tag: &InfoTag) -> Value {
    let lame = tag.lame().map(|l| {
        json!({"encoder": l.encoder, "delay": l.delay, "padding": l.padding, "vbr_method": l.vbr_method, "lowpass_hz": l.lowpass_hz})
    });
    json!({"kind": tag.name(), "frames": tag.frames(), "bytes": tag.bytes(), "lame": lame})
}

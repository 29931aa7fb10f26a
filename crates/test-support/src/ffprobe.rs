//! ffprobe / ffmpeg wrappers returning parsed JSON. Peers: `ffprobe`, `ffmpeg`.

use std::path::Path;
use std::process::{Command, Stdio};

pub use serde_json::Value;

fn run_json(args: &[&str], target: &str) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-of", "json"])
        .args(args)
        .arg(target)
        .stdin(Stdio::null())
        .output()
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {args:?} {target} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("ffprobe printed JSON")
}

/// Runs `ffmpeg -nostdin -v error -y ARGS` (making test inputs, converting outputs) and
/// panics with what it printed unless it succeeded.
pub fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run ffmpeg");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes `out` with ffmpeg from its test picture (`testsrc`, `size` at 25 fps) and a
/// 440 Hz tone at 48 kHz, `seconds` long, encoded as `encode` says (codecs, options).
pub fn make_av(out: &Path, size: &str, seconds: u32, encode: &[&str]) {
    let picture = format!("testsrc=size={size}:rate=25");
    let seconds = seconds.to_string();
    let mut args = vec!["-f", "lavfi", "-i", &picture];
    args.extend(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"]);
    args.extend(["-t", &seconds]);
    args.extend(encode);
    args.push(out.to_str().expect("a UTF-8 path"));
    ffmpeg(&args);
}

/// `ffprobe -show_format -show_streams` of a file or URL.
pub fn probe(target: impl AsRef<Path>) -> Value {
    let target = target.as_ref().to_string_lossy().into_owned();
    run_json(&["-show_format", "-show_streams"], &target)
}

/// `ffprobe -show_packets` of one stream (`"v:0"`, `"a:0"`, …): the `packets` array.
pub fn packets(target: impl AsRef<Path>, stream: &str) -> Vec<Value> {
    let target = target.as_ref().to_string_lossy().into_owned();
    let v = run_json(&["-select_streams", stream, "-show_packets"], &target);
    v["packets"].as_array().cloned().unwrap_or_default()
}

/// (size, key) of every packet of one stream (`"v:0"`, …), in file order.
pub fn sizes_and_keys(target: impl AsRef<Path>, stream: &str) -> Vec<(u64, bool)> {
    packets(target, stream)
        .iter()
        .map(|p| {
            let key = p["flags"].as_str().unwrap_or("").starts_with('K');
            (num(&p["size"]) as u64, key)
        })
        .collect()
}

/// ffprobe with arbitrary extra arguments (e.g. `["-show_entries", "packet=pos,size"]`).
pub fn probe_with(target: impl AsRef<Path>, args: &[&str]) -> Value {
    let target = target.as_ref().to_string_lossy().into_owned();
    run_json(args, &target)
}

/// The ffprobe arguments that read every packet and show each stream's codec and
/// packet count, for [`packets_read`] (add `-of json` when running ffprobe yourself).
pub const COUNT_PACKETS: [&str; 3] = [
    "-count_packets",
    "-show_entries",
    "stream=codec_name,nb_read_packets",
];

/// (codec name, packets read) of each stream of a probe made with [`COUNT_PACKETS`].
pub fn packets_read(probe: &Value) -> Vec<(String, u64)> {
    probe["streams"]
        .as_array()
        .expect("ffprobe showed streams")
        .iter()
        .map(|s| {
            let codec = s["codec_name"].as_str().unwrap_or("?").to_owned();
            (codec, num(&s["nb_read_packets"]) as u64)
        })
        .collect()
}

/// (codec name, packets read) of each stream of `target`: ffprobe reads every packet.
pub fn packet_counts(target: impl AsRef<Path>) -> Vec<(String, u64)> {
    packets_read(&probe_with(target, &COUNT_PACKETS))
}

/// Decodes every stream with `ffmpeg -v error -i TARGET -f null -` and returns what ffmpeg
/// printed on stderr (empty means a clean decode). Panics if ffmpeg cannot start.
pub fn decode_errors(target: impl AsRef<Path>) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(target.as_ref())
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() && text.is_empty() {
        text = format!("ffmpeg exited with {}", out.status);
    }
    text
}

/// Like [`decode_errors`], keeping every frame's time as the file has it
/// (`-fps_mode passthrough -enc_time_base -1`): WebRTC frame times are capture or arrival
/// times, irregular, and with the null muxer's default ticks of the guessed frame rate two
/// frames 10 ms apart met in one tick ("non monotonically increasing dts", an error of
/// ffmpeg's own, not the file's; seen in a CI run, reproduced with a jittered file).
/// A non-zero exit is appended to what ffmpeg printed.
pub fn decode_errors_keeping_times(target: impl AsRef<Path>) -> String {
    let out = Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(target.as_ref())
        .args(["-fps_mode", "passthrough", "-enc_time_base", "-1"])
        .args(["-f", "null", "-"])
        .output()
        .expect("run ffmpeg");
    let mut text = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        text.push_str(&format!(" (exit {})", out.status));
    }
    text
}

/// A numeric field that ffprobe prints as a string (e.g. `"duration": "10.0000"`).
pub fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(f64::NAN),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        _ => f64::NAN,
    }
}

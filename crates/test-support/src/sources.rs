//! Synthetic media made by ffmpeg for the benches: one spelling of "a 720p25 H.264 + AAC
//! file" instead of one per bench.

use std::path::Path;
use std::process::Command;

/// The shape of a synthetic 720p25 file: ffmpeg's `testsrc2` picture (1280×720, 25
/// frames/s) through x264 `ultrafast`, a key frame every 2 s, no B-frames, at a capped
/// bit rate; a 440 Hz sine through AAC at 48 kHz.
#[derive(Debug, Clone, Copy)]
pub struct Source720p<'a> {
    /// Length in seconds.
    pub seconds: u64,
    /// Video bit rate in Mbit/s (also its cap; the buffer holds twice it).
    pub video_bitrate: u32,
    /// AAC bit rate in kbit/s and channels.
    pub audio: (u32, u16),
    /// ffmpeg's output format (`-f`), when not the file name's.
    pub format: Option<&'a str>,
}

impl Source720p<'_> {
    /// 4 Mbit/s video and 128 kbit/s stereo audio, `seconds` long.
    pub fn new(seconds: u64) -> Source720p<'static> {
        Source720p {
            seconds,
            video_bitrate: 4,
            audio: (128, 2),
            format: None,
        }
    }

    /// Makes the file at `path`; panics when ffmpeg fails (a bench cannot go on).
    pub fn make(&self, path: &Path) {
        let mbit = |m: u32| format!("{m}M");
        let mut cmd = Command::new("ffmpeg");
        cmd.args(["-nostdin", "-v", "error", "-y"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", &self.seconds.to_string()])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "50",
                "-bf",
                "0",
            ])
            .args(["-b:v", &mbit(self.video_bitrate)])
            .args(["-maxrate", &mbit(self.video_bitrate)])
            .args(["-bufsize", &mbit(2 * self.video_bitrate)])
            .args(["-pix_fmt", "yuv420p", "-c:a", "aac"])
            .args(["-b:a", &format!("{}k", self.audio.0)])
            .args(["-ac", &self.audio.1.to_string(), "-ar", "48000"]);
        if let Some(format) = self.format {
            cmd.args(["-f", format]);
        }
        let status = cmd.arg(path).status().expect("ffmpeg runs");
        assert!(
            status.success(),
            "making the 720p source {} failed",
            path.display()
        );
    }
}

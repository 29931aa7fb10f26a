//! What the WHEP benches share: `WhepPull` viewers that count what they receive, and the
//! wait for a server whose stream has not started yet.
#![allow(dead_code)] // each bench uses its part

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use whip_whep::{ClientSettings, ReceivedFrame, TrackKind, WhepPull};

/// What one viewer has received so far.
#[derive(Default)]
pub struct Counts {
    /// Video frames (distinct RTP times).
    pub frames: AtomicU64,
    /// Video frames that came after a gap (lost packets) or a drop in the client.
    pub gaps: AtomicU64,
}

/// A `WhepPull` whose frames a task takes as they come, counting them and handing each
/// video frame with its arrival instant to `seen`.
pub struct Viewer {
    pub counts: Arc<Counts>,
    task: tokio::task::JoinHandle<WhepPull>,
    stop: Arc<tokio::sync::Notify>,
}

impl Viewer {
    /// Connects to `url`; the first attempts may meet a 503 while the stream has not
    /// started, so it retries for up to `patience`.
    pub async fn connect(
        url: &str,
        patience: Duration,
        seen: impl Fn(&ReceivedFrame, Instant) + Send + 'static,
    ) -> Viewer {
        let started = Instant::now();
        let mut pull = loop {
            match WhepPull::connect(url, ClientSettings::default()).await {
                Ok(p) => break p,
                Err(e) if started.elapsed() < patience => {
                    eprintln!("waiting for the server: {e}");
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                Err(e) => panic!("no WHEP session within {patience:?}: {e}"),
            }
        };
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(tokio::sync::Notify::new());
        let task = {
            let (counts, stop) = (counts.clone(), stop.clone());
            tokio::spawn(async move {
                // After a loss str0m's depacketizer may give pieces of one frame apart
                // (same RTP time): a frame is counted, and handed on, once.
                let mut last_rtp = None;
                loop {
                    let frame = tokio::select! {
                        f = pull.next() => f,
                        _ = stop.notified() => break,
                    };
                    let Some(frame) = frame else { break };
                    let at = Instant::now();
                    if frame.track == TrackKind::Video
                        && last_rtp.replace(frame.rtp_time) != Some(frame.rtp_time)
                    {
                        counts.frames.fetch_add(1, Ordering::Relaxed);
                        if frame.after_loss {
                            counts.gaps.fetch_add(1, Ordering::Relaxed);
                        }
                        seen(&frame, at);
                    }
                }
                pull
            })
        };
        Viewer { counts, task, stop }
    }

    /// Video frames received so far, and those after a gap.
    pub fn frames(&self) -> (u64, u64) {
        (
            self.counts.frames.load(Ordering::Relaxed),
            self.counts.gaps.load(Ordering::Relaxed),
        )
    }

    /// Ends the session (DTLS close and DELETE); frames the client dropped because this
    /// side was slow.
    pub async fn close(self) -> u64 {
        self.stop.notify_one();
        let pull = self.task.await.expect("the viewer task ends");
        let dropped = pull.dropped();
        if let Err(e) = pull.close().await {
            eprintln!("closing a viewer: {e}");
        }
        dropped
    }
}

/// Waits until the viewers have played for `at_least` and each plays steadily: in each
/// of the last two half seconds it received 8 to 19 frames (25 frames/s is 12.5). The GOP
/// a late joiner gets first comes as a burst; in a debug build a client may lose some of
/// it, stall and then catch up, for longer than `at_least`. At most 20 s.
pub async fn settle(viewers: &[Viewer], at_least: std::time::Duration) {
    let started = Instant::now();
    let mut last: Vec<u64> = viewers.iter().map(|v| v.frames().0).collect();
    let mut steady_before = false;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: Vec<u64> = viewers.iter().map(|v| v.frames().0).collect();
        let steady = now
            .iter()
            .zip(&last)
            .all(|(n, l)| (8..=19).contains(&(n - l)));
        last = now;
        let done = steady && steady_before && started.elapsed() >= at_least;
        if done || started.elapsed() > Duration::from_secs(20) {
            return;
        }
        steady_before = steady;
    }
}

/// Asserts that a viewer received about 25 frames a second over `seconds`: within 15 %,
/// or 3 frames when that is more (a short smoke window is off by a frame or two).
pub fn assert_frame_rate(who: &str, frames: u64, seconds: f64) {
    let expected = 25.0 * seconds;
    let slack = (expected * 0.15).max(3.0);
    assert!(
        (frames as f64 - expected).abs() <= slack,
        "{who}: {frames} video frames in {seconds:.1} s ({:.1}/s), expected 25/s",
        frames as f64 / seconds
    );
}

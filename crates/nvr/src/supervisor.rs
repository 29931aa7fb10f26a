//! One supervised pipeline per camera: started, restarted with backoff when it ends or
//! fails, stopped gracefully (the current segment finalized). A camera's failure stays
//! in its own task, so it never stops the others.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use media_core::Backoff;
use pipeline::{Direction, Endpoint, Options, Pipeline, RtspSettings, Transport};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::config::{CameraConfig, RtpTransport};
use crate::metrics::{CameraState, Metrics};
use std::sync::Arc;

/// A run that lasted this long counts as healthy: the next failure starts the backoff over.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// A camera's recording task.
#[derive(Debug)]
pub(crate) struct CameraTask {
    pub(crate) config: CameraConfig,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl CameraTask {
    /// Starts recording `config` below `root`; `failed` is notified after each failure
    /// (retention may free space before the retry).
    pub(crate) fn start(
        config: CameraConfig,
        root: &Path,
        failed: Arc<Notify>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        metrics.register_camera(&config.name);
        let task = tokio::spawn(supervise(
            config.clone(),
            root.to_path_buf(),
            stop_rx,
            failed,
            metrics,
        ));
        CameraTask { config, stop, task }
    }

    /// Stops gracefully: the current segment is finalized.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!(camera = %self.config.name, "camera task ended abnormally: {e}");
        }
    }
}

/// The pipeline options of a camera.
pub(crate) fn options(camera: &CameraConfig) -> Options {
    let mut options = Options::default();
    options.fragmented = camera.fragmented;
    options.fsync = Some(camera.fsync);
    options.segment = Some(camera.segment);
    options.audio = camera.audio;
    options.remote.token = camera.also_token.as_ref().map(|t| t.expose().to_string());
    options.rtsp = {
        let mut settings = RtspSettings::default();
        settings.transport = match camera.transport {
            RtpTransport::Tcp => Transport::default(),
            RtpTransport::Udp => "udp".parse().unwrap_or_default(),
        };
        settings.user = camera.user.clone();
        settings.password = camera.password.as_ref().map(|p| p.expose().to_string());
        settings
    };
    options
}

async fn supervise(
    camera: CameraConfig,
    root: PathBuf,
    mut stop: watch::Receiver<bool>,
    failed: Arc<Notify>,
    metrics: Arc<Metrics>,
) {
    let name = camera.name.clone();
    let backoff = Backoff::default();
    let mut attempt = 0u32;
    let mut gap = GapWatch::new(Instant::now());
    loop {
        // Checked when the configuration was read (`config::is_live`).
        let input = Endpoint::parse(camera.url.expose(), Direction::Input)
            .unwrap_or_else(|_| Endpoint::Rtsp(camera.url.clone()));
        let path = root.join(&camera.output);
        // The configuration allows MP4 and Matroska only (`config::check_output`).
        let output = if crate::recovery::is_matroska(&path) {
            Endpoint::MatroskaFile(path)
        } else {
            Endpoint::Mp4File(path)
        };
        tracing::info!(camera = %name, url = %camera.url, "recording");
        let started = Instant::now();
        let mut pipeline = Pipeline::new(input, output);
        for also in &camera.also {
            pipeline = pipeline.also(also.clone());
        }
        let handle = pipeline.with_options(options(&camera)).spawn();
        let closer = handle.closer();
        let mut status = handle.status();
        let mut wait = Box::pin(handle.wait());
        gap.new_run();
        let mut reported = pipeline::Status::default();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let (result, stopping) = loop {
            tokio::select! {
                r = &mut wait => break (r, false),
                () = stopped(&mut stop) => {
                    closer.close();
                    break (wait.await, true);
                }
                _ = tick.tick() => {
                    let now = status.borrow_and_update().clone();
                    report(&metrics, &name, &mut reported, &now);
                    gap.observe(&name, now.packets, Instant::now(), &metrics);
                }
            }
        };
        match &result {
            Ok(summary) => {
                tracing::info!(camera = %name, files = summary.files.len(), "pipeline ended")
            }
            Err(e) => tracing::warn!(camera = %name, "pipeline failed: {e}"),
        }
        let stop_requested = *stop.borrow();
        if stopping || stop_requested {
            return;
        }
        let failed_run = result.is_err();
        if failed_run {
            // Retention runs at once (a full disk is the usual cause), before the leftovers
            // are recovered after the pause: recovery writes a new file, which needs space.
            failed.notify_one();
        }
        metrics.restarted(&name);
        metrics.set_state(&name, CameraState::Restarting);
        if started.elapsed() >= HEALTHY_RUN {
            attempt = 0;
        }
        attempt = attempt.saturating_add(1);
        let delay = backoff.delay(attempt, rand::random::<f64>());
        tracing::info!(camera = %name, attempt, delay_ms = delay.as_millis() as u64, "restarting after a pause");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = stopped(&mut stop) => return,
        }
        if failed_run {
            // The ended pipeline's files are closed: make what it left playable (a file
            // cut by a full disk or a write error).
            let (leftovers, dir_root) = (camera.clone(), root.clone());
            let _ = tokio::task::spawn_blocking(move || {
                crate::store::recover_camera(&leftovers, &dir_root)
            })
            .await;
        }
    }
}

/// Adds what a pipeline did since the last report to the metrics.
fn report(
    metrics: &Metrics,
    camera: &str,
    reported: &mut pipeline::Status,
    now: &pipeline::Status,
) {
    metrics.add_progress(camera, crate::metrics::Progress::between(reported, now));
    *reported = now.clone();
}

/// No packet for this long is a gap in the recording, logged with the camera's name (the
/// source's own log lines do not say which camera they are about).
const GAP: Duration = Duration::from_secs(2);

/// Logs the start and the length of each gap in a camera's packets.
struct GapWatch {
    packets: u64,
    last_progress: Instant,
    in_gap: bool,
    seen_media: bool,
}

impl GapWatch {
    fn new(now: Instant) -> Self {
        GapWatch {
            packets: 0,
            last_progress: now,
            in_gap: false,
            seen_media: false,
        }
    }

    /// A new pipeline starts: its packet count starts at zero; a gap goes on.
    fn new_run(&mut self) {
        self.packets = 0;
    }

    fn observe(&mut self, camera: &str, packets: u64, now: Instant, metrics: &Metrics) {
        let waiting = now.duration_since(self.last_progress);
        metrics.set_since_last_frame(camera, waiting.as_secs_f64());
        if packets != self.packets {
            metrics.set_state(camera, CameraState::Recording);
            if self.in_gap && self.seen_media {
                let secs = waiting.as_secs_f64();
                tracing::info!(camera = %camera, gap_seconds = format!("{secs:.1}"), "media resumed after a gap");
            } else if !self.seen_media {
                tracing::info!(camera = %camera, "first media");
            }
            self.packets = packets;
            self.last_progress = now;
            self.in_gap = false;
            self.seen_media = true;
        } else if !self.in_gap && waiting >= GAP {
            self.in_gap = true;
            metrics.set_state(camera, CameraState::NoMedia);
            // Waiting for a camera's first media is not a gap in its recording.
            if self.seen_media {
                tracing::warn!(camera = %camera, "no media for {} s: gap in the recording", GAP.as_secs());
                metrics.gap(camera);
            } else {
                tracing::warn!(camera = %camera, "no media yet after {} s", GAP.as_secs());
            }
        }
    }
}

/// Resolves when a stop is asked for (or its sender is gone); holds no borrow after.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await.map(|_| ());
}

//! Many cameras recorded by one process from one TOML file, for months without anyone
//! watching: a supervised [`pipeline`] per camera, rotation into segments, retention by
//! age, bytes and free space, reload of changed cameras only.
//!
//! - [`Config`]: the file ([`config`] module docs show every key), checked with
//!   line-numbered [`Problem`]s; credentials by reference, never printed.
//! - [`Nvr`]: [`Nvr::start`] a pipeline per camera (one failing camera never stops the
//!   others; each restarts with backoff), [`Nvr::reload`] (starts, stops and restarts only
//!   the cameras that changed), [`Nvr::stop`] (every segment finalized).
//! - [`retention`]: the sans-I/O policy; [`store`]: its thin adapter (list, measure,
//!   delete, log).
//!
//! ```
//! use std::path::Path;
//!
//! let text = r#"
//! [store]
//! root = "recordings"
//! min_free_percent = 5
//!
//! [[camera]]
//! name = "front"
//! url = "rtsp://viewer:secret@192.0.2.7/stream1"
//! segment_seconds = 60
//! retention = { max_age_days = 30 }
//! "#;
//! let config = nvr::Config::parse(text, Path::new("/var/lib/pipeline")).expect("valid");
//! let front = &config.cameras[0];
//! assert_eq!(front.output, "front/%Y/%m/%d/%H-%M-%S.mp4");
//! assert_eq!(front.directory(&config.store.root), Path::new("/var/lib/pipeline/recordings/front"));
//! assert!(!format!("{front:?}").contains("secret"));
//!
//! let problems = nvr::Config::parse("[[camera]]\nname = 'a b'\nurl = 'rtsp://h/a'\n", Path::new("."))
//!     .expect_err("a space in a name");
//! assert_eq!(problems[0].line, 2);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
mod error;
pub mod retention;
pub mod store;
mod supervisor;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::{CameraConfig, Config, StoreConfig};
pub use error::{Error, Problem};
use supervisor::CameraTask;

/// Cameras being recorded, and the store's retention.
#[derive(Debug)]
pub struct Nvr {
    config: Arc<watch::Sender<Config>>,
    cameras: BTreeMap<String, CameraTask>,
    failed: Arc<Notify>,
    retention: JoinHandle<()>,
}

/// What a [`Nvr::reload`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    /// Cameras started (new in the file).
    pub started: Vec<String>,
    /// Cameras stopped (gone from the file).
    pub stopped: Vec<String>,
    /// Cameras restarted (their settings changed).
    pub restarted: Vec<String>,
}

impl Nvr {
    /// Runs a retention pass, then starts a pipeline per camera on the current tokio
    /// runtime, and retention every `store.retention_interval` (and after a camera fails,
    /// which a full disk makes it do).
    pub fn start(config: Config) -> Nvr {
        let failed = Arc::new(Notify::new());
        let cameras = config
            .cameras
            .iter()
            .map(|c| {
                let task = CameraTask::start(c.clone(), &config.store.root, failed.clone());
                (c.name.clone(), task)
            })
            .collect();
        let (config, config_rx) = watch::channel(config);
        let retention = tokio::spawn(retain(config_rx, failed.clone()));
        Nvr {
            config: Arc::new(config),
            cameras,
            failed,
            retention,
        }
    }

    /// The names of the cameras being recorded.
    pub fn cameras(&self) -> Vec<String> {
        self.cameras.keys().cloned().collect()
    }

    /// Applies a new configuration: cameras new in it start, cameras gone stop, cameras
    /// whose settings changed restart (all of them when the store root changed); the
    /// others go on untouched.
    pub async fn reload(&mut self, new: Config) -> ReloadReport {
        let mut report = ReloadReport::default();
        let root_changed = self.config.borrow().store.root != new.store.root;
        let mut old = std::mem::take(&mut self.cameras);
        for camera in &new.cameras {
            match old.remove(&camera.name) {
                Some(task) if task.config == *camera && !root_changed => {
                    self.cameras.insert(camera.name.clone(), task);
                }
                Some(task) => {
                    task.stop().await;
                    report.restarted.push(camera.name.clone());
                    self.start_camera(camera, &new);
                }
                None => {
                    report.started.push(camera.name.clone());
                    self.start_camera(camera, &new);
                }
            }
        }
        for (name, task) in old {
            task.stop().await;
            report.stopped.push(name);
        }
        let _ = self.config.send(new);
        tracing::info!(started = ?report.started, stopped = ?report.stopped, restarted = ?report.restarted, "configuration reloaded");
        report
    }

    fn start_camera(&mut self, camera: &CameraConfig, config: &Config) {
        let task = CameraTask::start(camera.clone(), &config.store.root, self.failed.clone());
        self.cameras.insert(camera.name.clone(), task);
    }

    /// Stops every camera gracefully (each current segment is finalized) and retention.
    pub async fn stop(self) {
        let stops = self.cameras.into_values().map(CameraTask::stop);
        futures_join_all(stops).await;
        self.retention.abort();
    }
}

/// Waits for all `futures` (stopping cameras one by one would add their teardowns up).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let tasks: Vec<JoinHandle<()>> = futures.map(tokio::spawn).collect();
    for task in tasks {
        let _ = task.await;
    }
}

/// Retention every interval, and at once after a camera failed.
async fn retain(config: watch::Receiver<Config>, failed: Arc<Notify>) {
    loop {
        let snapshot = config.borrow().clone();
        let interval = snapshot.store.retention_interval;
        // File system walks and deletions block.
        let report = tokio::task::spawn_blocking(move || store::enforce(&snapshot)).await;
        if let Err(e) = report {
            tracing::warn!("retention pass ended abnormally: {e}");
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = failed.notified() => {}
        }
    }
}

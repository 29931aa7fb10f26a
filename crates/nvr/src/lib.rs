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
pub mod http;
pub mod metrics;
pub mod recovery;
pub mod retention;
pub mod store;
mod supervisor;

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use config::{CameraConfig, Config, StoreConfig};
pub use error::{Error, Problem};
pub use metrics::Metrics;
use supervisor::CameraTask;

/// Cameras being recorded, and the store's retention.
#[derive(Debug)]
pub struct Nvr {
    config: Arc<watch::Sender<Config>>,
    cameras: BTreeMap<String, CameraTask>,
    failed: Arc<Notify>,
    retention: JoinHandle<()>,
    metrics: Arc<Metrics>,
    http: Option<(std::net::SocketAddr, JoinHandle<()>)>,
}

/// What a [`Nvr::reload`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReloadReport {
    /// Cameras started (new in the file).
    pub started: Vec<String>,
    /// Cameras stopped (gone from the file).
    pub stopped: Vec<String>,
    /// Cameras restarted (their settings changed).
    pub restarted: Vec<String>,
}

impl Nvr {
    /// Recovers the `.partial` files a killed run left ([`store::recover_leftovers`]),
    /// then starts a pipeline per camera on the current tokio runtime, retention (at once,
    /// then every `store.retention_interval`, and after a camera fails, which a full disk
    /// makes it do) and the metrics endpoint if configured (binding it may fail).
    pub fn start(config: Config) -> Result<Nvr, Error> {
        let metrics = Arc::new(Metrics::new());
        let http = match &config.metrics {
            Some(m) => {
                let listener = std::net::TcpListener::bind(m.listen)
                    .and_then(|l| l.set_nonblocking(true).map(|()| l))
                    .and_then(tokio::net::TcpListener::from_std)
                    .map_err(|e| Error::store(format!("metrics endpoint on {}", m.listen), e))?;
                let addr = listener
                    .local_addr()
                    .map_err(|e| Error::store("metrics endpoint", e))?;
                let token = m.token.as_ref().map(|t| t.expose().to_string());
                tracing::info!(%addr, "metrics on http://{addr}/metrics, health on /healthz");
                Some((
                    addr,
                    tokio::spawn(http::serve(listener, metrics.clone(), token)),
                ))
            }
            None => None,
        };
        // Before any camera writes: what a killed run left behind.
        store::recover_leftovers(&config);
        let failed = Arc::new(Notify::new());
        let cameras = config
            .cameras
            .iter()
            .map(|c| {
                let task = CameraTask::start(
                    c.clone(),
                    &config.store.root,
                    failed.clone(),
                    metrics.clone(),
                );
                (c.name.clone(), task)
            })
            .collect();
        let (config, config_rx) = watch::channel(config);
        let retention = tokio::spawn(retain(config_rx, failed.clone(), metrics.clone()));
        Ok(Nvr {
            config: Arc::new(config),
            cameras,
            failed,
            retention,
            metrics,
            http,
        })
    }

    /// The address the metrics endpoint listens on, if any.
    pub fn metrics_address(&self) -> Option<std::net::SocketAddr> {
        self.http.as_ref().map(|(a, _)| *a)
    }

    /// The metrics (also served by the endpoint).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
            self.metrics.remove_camera(&name);
            report.stopped.push(name);
        }
        if self.config.borrow().metrics != new.metrics {
            tracing::warn!("metrics settings changed: they take effect at the next start");
        }
        let _ = self.config.send(new);
        tracing::info!(started = ?report.started, stopped = ?report.stopped, restarted = ?report.restarted, "configuration reloaded");
        report
    }

    fn start_camera(&mut self, camera: &CameraConfig, config: &Config) {
        let task = CameraTask::start(
            camera.clone(),
            &config.store.root,
            self.failed.clone(),
            self.metrics.clone(),
        );
        self.cameras.insert(camera.name.clone(), task);
    }

    /// Stops every camera gracefully (each current segment is finalized) and retention.
    pub async fn stop(self) {
        let stops = self.cameras.into_values().map(CameraTask::stop);
        futures_join_all(stops).await;
        self.retention.abort();
        if let Some((_, http)) = self.http {
            http.abort();
        }
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
async fn retain(config: watch::Receiver<Config>, failed: Arc<Notify>, metrics: Arc<Metrics>) {
    loop {
        let snapshot = config.borrow().clone();
        let interval = snapshot.store.retention_interval;
        let root = snapshot.store.root.clone();
        // File system walks and deletions block.
        let report = tokio::task::spawn_blocking(move || store::enforce(&snapshot)).await;
        match report {
            Ok(report) => {
                for (camera, n) in &report.deleted {
                    metrics.deleted(camera, *n);
                }
                let free = report
                    .free
                    .or_else(|| store::disk_space(&root).ok().map(|d| d.free));
                metrics.set_store(free, report.still_short);
            }
            Err(e) => tracing::warn!("retention pass ended abnormally: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = failed.notified() => {}
        }
    }
}

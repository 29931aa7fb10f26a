//! The NVR's figures in OpenMetrics / Prometheus text (`prometheus-client`, the
//! Prometheus project's own Rust client): per camera state, bytes, frames, restarts,
//! gaps, loss, seconds since the last frame, segments written and deleted; the store's
//! free space. [`crate::http`] serves them.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A camera's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
#[non_exhaustive]
pub struct CameraLabel {
    /// The camera's name.
    pub camera: String,
}

/// A camera's state label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    camera: String,
    state: String,
}

/// What a camera's pipeline did between two reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Payload bytes written.
    pub bytes: u64,
    /// Packets written.
    pub frames: u64,
    /// RTP packets lost.
    pub lost: u64,
    /// Segments finished.
    pub segments: u64,
    /// Reconnections to the camera.
    pub reconnects: u64,
}

impl Progress {
    /// The change from `before` to `now` of a pipeline's figures.
    pub fn between(before: &pipeline::Status, now: &pipeline::Status) -> Self {
        Progress {
            bytes: now.bytes.saturating_sub(before.bytes),
            frames: now.packets.saturating_sub(before.packets),
            lost: now.lost.saturating_sub(before.lost),
            segments: now.files.saturating_sub(before.files),
            reconnects: now.reconnections.saturating_sub(before.reconnections),
        }
    }
}

/// What a camera is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CameraState {
    /// Media arrives.
    Recording,
    /// Connected or connecting, but no media for a while.
    NoMedia,
    /// The pipeline ended; waiting to restart.
    Restarting,
}

impl CameraState {
    const ALL: [CameraState; 3] = [
        CameraState::Recording,
        CameraState::NoMedia,
        CameraState::Restarting,
    ];

    fn name(self) -> &'static str {
        match self {
            CameraState::Recording => "recording",
            CameraState::NoMedia => "no_media",
            CameraState::Restarting => "restarting",
        }
    }
}

/// Every metric of one NVR process.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    state: Family<StateLabel, Gauge>,
    bytes: Family<CameraLabel, Counter>,
    frames: Family<CameraLabel, Counter>,
    lost: Family<CameraLabel, Counter>,
    restarts: Family<CameraLabel, Counter>,
    reconnects: Family<CameraLabel, Counter>,
    gaps: Family<CameraLabel, Counter>,
    since_last_frame: Family<CameraLabel, Gauge<f64, AtomicU64>>,
    segments_written: Family<CameraLabel, Counter>,
    segments_deleted: Family<CameraLabel, Counter>,
    store_free: Gauge,
    store_short: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric (prefix `pipeline_`).
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("pipeline");
        let m = Metrics {
            registry: Mutex::new(Registry::default()),
            state: Family::default(),
            bytes: Family::default(),
            frames: Family::default(),
            lost: Family::default(),
            restarts: Family::default(),
            reconnects: Family::default(),
            gaps: Family::default(),
            since_last_frame: Family::default(),
            segments_written: Family::default(),
            segments_deleted: Family::default(),
            store_free: Gauge::default(),
            store_short: Gauge::default(),
        };
        registry.register(
            "camera_state",
            "1 for the state a camera is in (recording, no_media, restarting)",
            m.state.clone(),
        );
        registry.register("camera_bytes", "Payload bytes written", m.bytes.clone());
        registry.register(
            "camera_frames",
            "Packets (frames) written",
            m.frames.clone(),
        );
        registry.register(
            "camera_lost_packets",
            "RTP packets lost in the network",
            m.lost.clone(),
        );
        registry.register(
            "camera_restarts",
            "Pipeline restarts by the supervisor",
            m.restarts.clone(),
        );
        registry.register(
            "camera_reconnects",
            "RTSP reconnections within a pipeline run (each starts a new segment)",
            m.reconnects.clone(),
        );
        registry.register(
            "camera_gaps",
            "Times no media arrived for 2 s",
            m.gaps.clone(),
        );
        registry.register(
            "camera_seconds_since_last_frame",
            "Seconds since the last packet was written",
            m.since_last_frame.clone(),
        );
        registry.register(
            "camera_segments_written",
            "Segments finished",
            m.segments_written.clone(),
        );
        registry.register(
            "camera_segments_deleted",
            "Segments deleted by retention",
            m.segments_deleted.clone(),
        );
        registry.register(
            "store_free_bytes",
            "Free bytes of the store's file system",
            m.store_free.clone(),
        );
        registry.register(
            "store_below_floor",
            "1 when the store is below its free-space floor and nothing is left to delete",
            m.store_short.clone(),
        );
        if let Ok(mut r) = m.registry.lock() {
            *r = registry;
        }
        m
    }

    /// The text exposition (OpenMetrics, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            // Writing into a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }

    fn label(camera: &str) -> CameraLabel {
        CameraLabel {
            camera: camera.to_string(),
        }
    }

    /// Sets a camera's state.
    pub fn set_state(&self, camera: &str, state: CameraState) {
        for s in CameraState::ALL {
            let label = StateLabel {
                camera: camera.to_string(),
                state: s.name().to_string(),
            };
            self.state.get_or_create(&label).set(i64::from(s == state));
        }
    }

    /// Adds a pipeline's progress since its last report.
    pub fn add_progress(&self, camera: &str, progress: Progress) {
        let l = Self::label(camera);
        self.bytes.get_or_create(&l).inc_by(progress.bytes);
        self.frames.get_or_create(&l).inc_by(progress.frames);
        self.lost.get_or_create(&l).inc_by(progress.lost);
        self.segments_written
            .get_or_create(&l)
            .inc_by(progress.segments);
        self.reconnects
            .get_or_create(&l)
            .inc_by(progress.reconnects);
    }

    /// Seconds since the camera's last packet.
    pub fn set_since_last_frame(&self, camera: &str, seconds: f64) {
        self.since_last_frame
            .get_or_create(&Self::label(camera))
            .set(seconds);
    }

    /// One more supervisor restart.
    pub fn restarted(&self, camera: &str) {
        self.restarts.get_or_create(&Self::label(camera)).inc();
    }

    /// One more gap.
    pub fn gap(&self, camera: &str) {
        self.gaps.get_or_create(&Self::label(camera)).inc();
    }

    /// Segments deleted by retention.
    pub fn deleted(&self, camera: &str, segments: u64) {
        self.segments_deleted
            .get_or_create(&Self::label(camera))
            .inc_by(segments);
    }

    /// The store's free space after a retention pass.
    pub fn set_store(&self, free: Option<u64>, below_floor: bool) {
        if let Some(free) = free {
            self.store_free.set(i64::try_from(free).unwrap_or(i64::MAX));
        }
        self.store_short.set(i64::from(below_floor));
    }

    /// Whether the store is below its floor with nothing to delete.
    pub fn store_below_floor(&self) -> bool {
        self.store_short.get() != 0
    }

    /// Makes a camera's series exist from its start (zeros), so a scrape lists it.
    pub fn register_camera(&self, camera: &str) {
        self.add_progress(camera, Progress::default());
        let l = Self::label(camera);
        self.restarts.get_or_create(&l).inc_by(0);
        self.gaps.get_or_create(&l).inc_by(0);
        self.segments_deleted.get_or_create(&l).inc_by(0);
        self.set_since_last_frame(camera, 0.0);
        self.set_state(camera, CameraState::NoMedia);
    }

    /// Forgets a camera removed from the configuration.
    pub fn remove_camera(&self, camera: &str) {
        let l = Self::label(camera);
        for f in [
            &self.bytes,
            &self.frames,
            &self.lost,
            &self.restarts,
            &self.reconnects,
            &self.gaps,
            &self.segments_written,
            &self.segments_deleted,
        ] {
            f.remove(&l);
        }
        self.since_last_frame.remove(&l);
        for s in CameraState::ALL {
            self.state.remove(&StateLabel {
                camera: camera.to_string(),
                state: s.name().to_string(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_every_camera_series() {
        let m = Metrics::new();
        m.register_camera("front");
        let mut before = pipeline::Status::default();
        let mut now = pipeline::Status::default();
        (now.bytes, now.packets, now.lost, now.files) = (1000, 15, 2, 1);
        m.add_progress("front", Progress::between(&before, &now));
        before = now.clone();
        (now.bytes, now.packets, now.files, now.reconnections) = (1500, 20, 2, 1);
        m.add_progress("front", Progress::between(&before, &now));
        m.set_state("front", CameraState::Recording);
        m.deleted("front", 3);
        m.set_store(Some(123), false);
        let text = m.encode();
        assert!(
            text.contains("pipeline_camera_bytes_total{camera=\"front\"} 1500"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_camera_frames_total{camera=\"front\"} 20"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_camera_segments_written_total{camera=\"front\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_camera_reconnects_total{camera=\"front\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_camera_segments_deleted_total{camera=\"front\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_camera_state{camera=\"front\",state=\"recording\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("pipeline_camera_state{camera=\"front\",state=\"no_media\"} 0"),
            "{text}"
        );
        assert!(text.contains("pipeline_store_free_bytes 123"), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        m.remove_camera("front");
        assert!(!m.encode().contains("front"));
    }
}

//! Raw packets from and to Python: `Track`, `Packet`, `RawInput` (write packets into a
//! pipeline) and `RawOutput` (read them out), over `pipeline::raw`.
//!
//! Timestamps (`dts`, `pts`, `duration`) are ticks of the packet's track's `timescale`
//! (90 000 for RTSP video, the sample rate for audio), as in MP4. Payloads written from
//! Python are not copied: a `bytes` object is held by the `bytes::Bytes` that travels to
//! the writer (a `bytearray` is copied once, to freeze it). Payloads read out are copied
//! once into a `bytes` object: handing out memory owned by Rust needs the buffer protocol,
//! which the stable ABI has only from CPython 3.11 on, and the wheel is abi3 for 3.9.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use media_core::{Codec, MediaKind};
use pipeline::raw::{self, Flow, RawReader, RawWriter};
use pipeline::{Direction, Endpoint};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyBytes;

use crate::error::PermanentError;
use crate::runtime;

/// How often a blocked read lets Python handle signals (Ctrl-C).
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// One track: codec, decoder configuration and timescale.
///
/// Made with Track.video(codec, timescale, width, height, config=b"") or
/// Track.audio(codec, sample_rate, channels, config=b"", timescale=None), or read from
/// RawOutput.tracks. codec is "h264", "h265" (config: the avcC/hvcC record), "vp8", "vp9"
/// (config: the vpcC record after version and flags), "av1" (config: the av1C record),
/// "aac" (config: AudioSpecificConfig), "mp3", "ac3" (config: the dac3 body), "eac3"
/// (config: the dec3 body), "opus"
/// (config: OpusHead) or
/// "sample_entry" (config: a whole MP4 sample entry box).
#[pyclass(module = "media_toolkit", frozen)]
#[derive(Debug, Clone)]
pub(crate) struct Track {
    pub(crate) inner: media_core::Track,
}

fn codec(name: &str, config: Bytes) -> PyResult<Codec> {
    Ok(match name {
        "h264" => Codec::H264 { config },
        "h265" => Codec::H265 { config },
        "vp8" => Codec::Vp8,
        "vp9" => Codec::Vp9 { config },
        "av1" => Codec::Av1 { config },
        "aac" => Codec::Aac { config },
        "mp3" => Codec::Mp3,
        "ac3" => Codec::Ac3 { config },
        "eac3" => Codec::Eac3 { config },
        "opus" => Codec::Opus { head: config },
        "sample_entry" => Codec::SampleEntry { entry: config },
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown codec {other:?} (h264, h265, vp8, vp9, av1, aac, mp3, ac3, eac3, opus, sample_entry)"
            )));
        }
    })
}

#[pymethods]
impl Track {
    /// A video track: codec, ticks per second, width and height in pixels.
    #[staticmethod]
    #[pyo3(signature = (codec, timescale, width, height, config=None))]
    fn video(
        codec: &str,
        timescale: u32,
        width: u32,
        height: u32,
        config: Option<PyBackedBytes>,
    ) -> PyResult<Track> {
        let codec = self::codec(codec, config.map(Bytes::from_owner).unwrap_or_default())?;
        Ok(Track {
            inner: media_core::Track::video(codec, timescale, width, height),
        })
    }

    /// An audio track: codec, sample rate and channels; timescale defaults to the sample
    /// rate (48 000 for Opus).
    #[staticmethod]
    #[pyo3(signature = (codec, sample_rate, channels, config=None, timescale=None))]
    fn audio(
        codec: &str,
        sample_rate: u32,
        channels: u16,
        config: Option<PyBackedBytes>,
        timescale: Option<u32>,
    ) -> PyResult<Track> {
        let codec = self::codec(codec, config.map(Bytes::from_owner).unwrap_or_default())?;
        let mut track = media_core::Track::audio(codec, sample_rate, channels);
        if let Some(timescale) = timescale {
            track = track.with_timescale(timescale);
        }
        Ok(Track { inner: track })
    }

    /// "video" or "audio" ("other" for a kind a newer media-core added).
    #[getter]
    fn kind(&self) -> &'static str {
        match self.inner.kind {
            MediaKind::Video => "video",
            MediaKind::Audio => "audio",
            _ => "other",
        }
    }

    /// "h264", "h265", "vp8", "vp9", "av1", "aac", "mp3", "ac3", "eac3", "opus" or "sample_entry".
    #[getter]
    fn codec(&self) -> &'static str {
        match &self.inner.codec {
            Codec::H264 { .. } => "h264",
            Codec::H265 { .. } => "h265",
            Codec::Vp8 => "vp8",
            Codec::Vp9 { .. } => "vp9",
            Codec::Av1 { .. } => "av1",
            Codec::Aac { .. } => "aac",
            Codec::Mp3 => "mp3",
            Codec::Ac3 { .. } => "ac3",
            Codec::Eac3 { .. } => "eac3",
            Codec::Opus { .. } => "opus",
            Codec::SampleEntry { .. } => "sample_entry",
            _ => "other",
        }
    }

    /// The decoder configuration (avcC/hvcC/vpcC/av1C record, AudioSpecificConfig,
    /// OpusHead, `dac3` or `dec3` body, sample entry; empty for MP3 and VP8).
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let config: &[u8] = match &self.inner.codec {
            Codec::H264 { config }
            | Codec::H265 { config }
            | Codec::Vp9 { config }
            | Codec::Av1 { config }
            | Codec::Aac { config }
            | Codec::Ac3 { config }
            | Codec::Eac3 { config } => config,
            Codec::Opus { head } => head,
            Codec::SampleEntry { entry } => entry,
            _ => &[],
        };
        PyBytes::new(py, config)
    }

    /// Ticks per second of the packets' timestamps.
    #[getter]
    fn timescale(&self) -> u32 {
        self.inner.timescale
    }

    /// Video width in pixels (0 for audio).
    #[getter]
    fn width(&self) -> u32 {
        self.inner.width
    }

    /// Video height in pixels (0 for audio).
    #[getter]
    fn height(&self) -> u32 {
        self.inner.height
    }

    /// Audio sample rate (0 for video).
    #[getter]
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate
    }

    /// Audio channels (0 for video).
    #[getter]
    fn channels(&self) -> u16 {
        self.inner.channels
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Track>()
            .is_ok_and(|other| other.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        match self.inner.kind {
            MediaKind::Video => format!(
                "Track(video {} {}x{}, timescale={})",
                self.codec(),
                self.inner.width,
                self.inner.height,
                self.inner.timescale
            ),
            MediaKind::Audio => format!(
                "Track(audio {} {} Hz x{}, timescale={})",
                self.codec(),
                self.inner.sample_rate,
                self.inner.channels,
                self.inner.timescale
            ),
            _ => format!(
                "Track({} {}, timescale={})",
                self.kind(),
                self.codec(),
                self.inner.timescale
            ),
        }
    }
}

/// One packet (an access unit: a video frame or a few audio frames).
///
/// Packet(track, dts, data, key=False, pts=None, duration=None): track is the index in
/// the pipeline's track list; dts, pts and duration are ticks of that track's timescale
/// (pts defaults to dts); data is bytes (held, not copied) or a bytes-like object.
#[pyclass(module = "media_toolkit", frozen)]
#[derive(Debug, Clone)]
pub(crate) struct Packet {
    pub(crate) inner: media_core::Packet,
}

#[pymethods]
impl Packet {
    #[new]
    #[pyo3(signature = (track, dts, data, key=false, pts=None, duration=None))]
    fn new(
        track: usize,
        dts: i64,
        data: PyBackedBytes,
        key: bool,
        pts: Option<i64>,
        duration: Option<u32>,
    ) -> PyResult<Packet> {
        let mut inner = media_core::Packet::new(track, dts, key, Bytes::from_owner(data));
        if let Some(pts) = pts {
            inner.cts_offset = pts
                .checked_sub(dts)
                .and_then(|offset| i32::try_from(offset).ok())
                .ok_or_else(|| PyValueError::new_err("pts - dts does not fit 32 bits"))?;
        }
        inner.duration = duration;
        Ok(Packet { inner })
    }

    /// Index of the packet's track.
    #[getter]
    fn track(&self) -> usize {
        self.inner.track
    }

    /// Decode time, in ticks of the track's timescale.
    #[getter]
    fn dts(&self) -> i64 {
        self.inner.dts
    }

    /// Presentation time, in ticks of the track's timescale.
    #[getter]
    fn pts(&self) -> i64 {
        self.inner.dts + i64::from(self.inner.cts_offset)
    }

    /// Duration in ticks of the track's timescale, when known.
    #[getter]
    fn duration(&self) -> Option<u32> {
        self.inner.duration
    }

    /// Whether it is a key frame (a random access point).
    #[getter]
    fn key(&self) -> bool {
        self.inner.keyframe
    }

    /// The payload (H.264/H.265: 4-byte length-prefixed NAL units; AAC: a raw access
    /// unit; MP3: one whole frame). A new bytes object at each access.
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.data)
    }

    /// The payload's length in bytes (without copying it).
    fn __len__(&self) -> usize {
        self.inner.data.len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Packet>()
            .is_ok_and(|other| other.get().inner == self.inner)
    }

    fn __repr__(&self) -> String {
        format!(
            "Packet(track={}, dts={}, pts={}, key={}, {} bytes)",
            self.inner.track,
            self.inner.dts,
            self.pts(),
            if self.inner.keyframe { "True" } else { "False" },
            self.inner.data.len()
        )
    }
}

/// Packets from Python into a pipeline: RawInput(tracks, capacity=16), then
/// Pipeline(raw_input, output). write(packet) waits while the pipeline is busy and
/// returns False once it has finished; close() ends the input (the output is finalized).
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct RawInput {
    writer: Mutex<Option<Arc<RawWriter>>>,
    endpoint: Mutex<Option<Endpoint>>,
}

#[pymethods]
impl RawInput {
    #[new]
    #[pyo3(signature = (tracks, capacity=16))]
    fn new(tracks: Vec<PyRef<'_, Track>>, capacity: usize) -> RawInput {
        let tracks = tracks.iter().map(|t| t.inner.clone()).collect();
        let (writer, endpoint) = raw::input(tracks, capacity);
        RawInput {
            writer: Mutex::new(Some(Arc::new(writer))),
            endpoint: Mutex::new(Some(endpoint)),
        }
    }

    /// Hands a packet to the pipeline, waiting (GIL released) while it is busy. Returns
    /// True when taken, False when the pipeline has finished or the input was closed.
    fn write(&self, py: Python<'_>, packet: PyRef<'_, Packet>) -> bool {
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(writer) = writer else {
            return false;
        };
        let packet = packet.inner.clone();
        py.detach(move || writer.blocking_write(packet)) == Flow::Continue
    }

    /// Ends the input: the pipeline writes what it has and finalizes its output.
    fn close(&self) {
        self.writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }
}

/// Packets out of a pipeline into Python: RawOutput(capacity=64), then
/// Pipeline(input, raw_output). read() returns the next Packet, or None once the
/// pipeline has finished; iterating yields the packets. tracks is known once the first
/// packet is.
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct RawOutput {
    reader: Arc<Mutex<Option<RawReader>>>,
    endpoint: Mutex<Option<Endpoint>>,
}

#[pymethods]
impl RawOutput {
    #[new]
    #[pyo3(signature = (capacity=64))]
    fn new(capacity: usize) -> RawOutput {
        let (reader, endpoint) = raw::output(capacity);
        RawOutput {
            reader: Arc::new(Mutex::new(Some(reader))),
            endpoint: Mutex::new(Some(endpoint)),
        }
    }

    /// The next packet (waiting with the GIL released), or None when the pipeline has
    /// finished. Ctrl-C raises KeyboardInterrupt while waiting.
    fn read(&self, py: Python<'_>) -> PyResult<Option<Packet>> {
        let runtime = runtime()?;
        loop {
            let reader = self.reader.clone();
            let next = py.detach(move || {
                let mut reader = reader.lock().unwrap_or_else(PoisonError::into_inner);
                let Some(reader) = reader.as_mut() else {
                    return Some(None);
                };
                // The timer is made inside the runtime (tokio's timers need its context).
                runtime
                    .block_on(async { tokio::time::timeout(SIGNAL_CHECK, reader.read()).await })
                    .ok()
            });
            match next {
                Some(packet) => return Ok(packet.map(|inner| Packet { inner })),
                None => py.check_signals()?,
            }
        }
    }

    /// The tracks (a list of Track), or None until the first packet is available.
    #[getter]
    fn tracks(&self) -> Option<Vec<Track>> {
        let reader = self.reader.lock().unwrap_or_else(PoisonError::into_inner);
        let tracks = reader.as_ref()?.tracks()?;
        Some(tracks.into_iter().map(|inner| Track { inner }).collect())
    }

    /// Stops reading: the pipeline finishes at its next packet.
    fn close(&self) {
        let reader = self
            .reader
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(reader) = reader {
            reader.close();
        }
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Packet>> {
        self.read(py)
    }
}

/// The endpoint of a RawInput or RawOutput object (taken: it serves one pipeline), or
/// None for any other object.
pub(crate) fn take_endpoint(
    value: &Bound<'_, PyAny>,
    direction: Direction,
) -> PyResult<Option<Endpoint>> {
    let (slot, name, fits) = if let Ok(input) = value.cast::<RawInput>() {
        (
            &input.get().endpoint,
            "RawInput",
            direction == Direction::Input,
        )
    } else if let Ok(output) = value.cast::<RawOutput>() {
        (
            &output.get().endpoint,
            "RawOutput",
            direction == Direction::Output,
        )
    } else {
        return Ok(None);
    };
    if !fits {
        return Err(PyTypeError::new_err(format!(
            "a {name} cannot be the pipeline's {direction}"
        )));
    }
    let endpoint = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    endpoint.map(Some).ok_or_else(|| {
        PermanentError::new_err(format!("this {name} belongs to another pipeline already"))
    })
}

pub(crate) fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<Track>()?;
    module.add_class::<Packet>()?;
    module.add_class::<RawInput>()?;
    module.add_class::<RawOutput>()?;
    Ok(())
}

//! Decoded frames as numpy arrays, as Boombox's `VideoPacket` / `AudioPacket`: video
//! `uint8` H×W×3 (RGB; H×W×4 for RGBA), audio 1-D interleaved (`float32` or `int16`)
//! with `sample_rate` and `channels`, timestamps in milliseconds. `FrameOutput` decodes
//! what a pipeline gives (pipeline's `raw_frames`, FFmpeg through media-codec);
//! `FrameInput` encodes frames written from Python (H.264 with libx264, AAC/Opus/MP3).
//!
//! The arrays own the decoder's own buffer (rust-numpy's `PyArray::from_vec`: the `Vec`
//! the frame was packed into moves into the array, no copy), shaped (and for audio viewed
//! as its sample type) by numpy without a copy either; writable, owned by Python. numpy's
//! C-API is imported at run time, so the wheel stays one abi3 wheel with no numpy headers.
//!
//! FFmpeg's scaling contexts may not move between threads, so a decoder or encoder lives
//! on a thread of its own (which also decodes while Python works on the previous frame);
//! frames cross a bounded channel. Waits release the GIL and wake each 100 ms for signals.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use pipeline::raw::Flow;
use pipeline::raw_frames::{
    self, AudioEncoderSettings, AudioFormat, DecodedFormat, EncodedAudio, EncodedTrack, Frame,
    PixelFormat, SampleFormat, VideoEncoderSettings, VideoFormat,
};
use pipeline::{Direction, Endpoint};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

use crate::error::{self, PermanentError};
use crate::receive::{deadline, next_item};
use crate::runtime;

const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// A decoded picture, as Boombox's VideoPacket.
///
/// VideoFrame(payload, timestamp, track=0): payload is a numpy uint8 array of shape
/// (height, width, 3) (RGB; (height, width, 4) for RGBA output), timestamp the
/// presentation time in milliseconds. pts and timescale give the exact time of decoded
/// frames (ticks of the track's clock).
#[pyclass(module = "media_toolkit", frozen, get_all)]
pub(crate) struct VideoFrame {
    payload: Py<PyAny>,
    timestamp: i64,
    track: usize,
    pts: i64,
    timescale: u32,
}

#[pymethods]
impl VideoFrame {
    #[new]
    #[pyo3(signature = (payload, timestamp, track=0))]
    fn new(payload: Py<PyAny>, timestamp: i64, track: usize) -> VideoFrame {
        VideoFrame {
            payload,
            timestamp,
            track,
            pts: timestamp,
            timescale: 1000,
        }
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let shape = self
            .payload
            .getattr(py, "shape")
            .and_then(|s| s.bind(py).repr().map(|r| r.to_string()))
            .unwrap_or_default();
        format!(
            "VideoFrame(track={}, timestamp={} ms, shape={shape})",
            self.track, self.timestamp
        )
    }
}

/// Decoded PCM, as Boombox's AudioPacket.
///
/// AudioFrame(payload, timestamp, sample_rate, channels, track=0): payload is a 1-D numpy
/// array of interleaved samples (float32 in [-1, 1] or int16), timestamp the time of the
/// first sample in milliseconds.
#[pyclass(module = "media_toolkit", frozen, get_all)]
pub(crate) struct AudioFrame {
    payload: Py<PyAny>,
    timestamp: i64,
    sample_rate: u32,
    channels: u16,
    track: usize,
    pts: i64,
    timescale: u32,
}

#[pymethods]
impl AudioFrame {
    #[new]
    #[pyo3(signature = (payload, timestamp, sample_rate, channels, track=0))]
    fn new(
        payload: Py<PyAny>,
        timestamp: i64,
        sample_rate: u32,
        channels: u16,
        track: usize,
    ) -> AudioFrame {
        AudioFrame {
            payload,
            timestamp,
            sample_rate,
            channels,
            track,
            pts: timestamp,
            timescale: 1000,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "AudioFrame(track={}, timestamp={} ms, {} Hz x{})",
            self.track, self.timestamp, self.sample_rate, self.channels
        )
    }
}

/// A 1-D numpy array of `dtype` owning `data`: the frame's buffer moves into the array
/// when nothing else holds it (the decoder's frames), else it is copied once.
fn array<'py>(py: Python<'py>, data: Bytes, dtype: &str) -> PyResult<Bound<'py, PyAny>> {
    let bytes: Vec<u8> = match data.try_into_mut() {
        Ok(owned) => owned.into(),
        Err(shared) => shared.to_vec(),
    };
    let array = numpy::PyArray1::from_vec(py, bytes).into_any();
    match dtype {
        "uint8" => Ok(array),
        // A view with the sample type: numpy reinterprets the bytes without a copy.
        other => array.call_method1("view", (other,)),
    }
}

fn to_object(py: Python<'_>, frame: Frame) -> PyResult<Option<Py<PyAny>>> {
    Ok(Some(match frame {
        Frame::Video { track, mut frame } => {
            let depth = match frame.format {
                PixelFormat::Rgb24 => 3,
                PixelFormat::Rgba => 4,
                other => {
                    return Err(PermanentError::new_err(format!(
                        "video frames in {} are not arrays of pixels",
                        other.name()
                    )));
                }
            };
            let payload = array(py, std::mem::take(&mut frame.data), "uint8")?.call_method1(
                "reshape",
                (frame.height as usize, frame.width as usize, depth),
            )?;
            let object = VideoFrame {
                payload: payload.unbind(),
                timestamp: frame.pts_ms(),
                track,
                pts: frame.pts,
                timescale: frame.timescale,
            };
            Py::new(py, object)?.into_any()
        }
        Frame::Audio { track, mut frame } => {
            let dtype = match frame.format {
                SampleFormat::S16 => "int16",
                _ => "float32",
            };
            let object = AudioFrame {
                payload: array(py, std::mem::take(&mut frame.samples), dtype)?.unbind(),
                timestamp: frame.pts_ms(),
                sample_rate: frame.rate,
                channels: frame.channels,
                track,
                pts: frame.pts,
                timescale: frame.timescale,
            };
            Py::new(py, object)?.into_any()
        }
        _ => return Ok(None),
    }))
}

type Frames = std::pin::Pin<Box<dyn Stream<Item = Result<Frame, pipeline::Error>> + Send>>;

/// Decoded frames out of a pipeline, as Boombox's RawData output.
///
/// FrameOutput(video=True, audio=True, width=None, height=None, pixel_format="rgb24",
/// sample_rate=None, channels=None, sample_format="f32", capacity=8), then
/// Pipeline(input, frame_output).start(). Iterating (or read(timeout=None)) yields
/// VideoFrame and AudioFrame objects until the pipeline has finished. width/height scale
/// the pictures, sample_rate/channels resample the audio; pixel_format is "rgb24" or
/// "rgba", sample_format "f32" or "s16". video=False or audio=False leaves that kind out
/// (Pipeline's no_video/no_audio options also spare its decoding).
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct FrameOutput {
    frames: Arc<Mutex<Option<Frames>>>,
    endpoint: Mutex<Option<Endpoint>>,
}

#[pymethods]
impl FrameOutput {
    #[new]
    #[pyo3(signature = (video=true, audio=true, width=None, height=None, pixel_format="rgb24", sample_rate=None, channels=None, sample_format="f32", capacity=8))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        video: bool,
        audio: bool,
        width: Option<u32>,
        height: Option<u32>,
        pixel_format: &str,
        sample_rate: Option<u32>,
        channels: Option<u16>,
        sample_format: &str,
        capacity: usize,
    ) -> PyResult<FrameOutput> {
        let pixel = match PixelFormat::from_name(pixel_format) {
            Some(p @ (PixelFormat::Rgb24 | PixelFormat::Rgba)) => p,
            _ => {
                return Err(PyValueError::new_err(
                    "pixel_format is \"rgb24\" or \"rgba\"",
                ));
            }
        };
        let sample = SampleFormat::from_name(sample_format)
            .ok_or_else(|| PyValueError::new_err("sample_format is \"f32\" or \"s16\""))?;
        let mut video_format = VideoFormat::new(pixel);
        match (width, height) {
            (Some(w), Some(h)) => video_format = video_format.scaled(w, h),
            (None, None) => {}
            _ => {
                return Err(PyValueError::new_err(
                    "give both width and height, or neither",
                ));
            }
        }
        let mut audio_format = AudioFormat::new(sample);
        audio_format.rate = sample_rate;
        audio_format.channels = channels;
        let format = DecodedFormat::new(video_format, audio_format);
        let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
        let (endpoint_tx, endpoint_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("media-toolkit-decode".into())
            .spawn(move || {
                let (mut reader, endpoint) = raw_frames::output(format, capacity.max(1));
                if endpoint_tx.send(endpoint).is_err() {
                    return;
                }
                for frame in reader.blocking_iter() {
                    let keep = match &frame {
                        Ok(Frame::Video { .. }) => video,
                        Ok(Frame::Audio { .. }) => audio,
                        _ => true,
                    };
                    if keep && tx.blocking_send(frame).is_err() {
                        break;
                    }
                }
                reader.close();
            })
            .map_err(|e| {
                error::TransientError::new_err(format!("cannot start a decoder thread: {e}"))
            })?;
        let endpoint = endpoint_rx
            .recv()
            .map_err(|_| error::TransientError::new_err("the decoder thread stopped"))?;
        let mut rx = rx;
        let frames: Frames = Box::pin(futures::stream::poll_fn(move |cx| rx.poll_recv(cx)));
        Ok(FrameOutput {
            frames: Arc::new(Mutex::new(Some(frames))),
            endpoint: Mutex::new(Some(endpoint)),
        })
    }

    /// The next frame (VideoFrame or AudioFrame), decoded while the GIL is released; None
    /// once the pipeline has finished. Waits at most timeout seconds (TimeoutError);
    /// Ctrl-C raises KeyboardInterrupt.
    #[pyo3(signature = (timeout=None))]
    fn read(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let deadline = deadline(timeout)?;
        loop {
            match next_item(py, &self.frames, deadline, "frame")? {
                None => return Ok(None),
                Some(Err(e)) => return Err(error::to_py(&e)),
                Some(Ok(frame)) => {
                    if let Some(object) = to_object(py, frame)? {
                        return Ok(Some(object));
                    }
                }
            }
        }
    }

    /// Stops reading: the pipeline finishes at its next packet.
    fn close(&self) {
        self.frames
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.read(py, None)
    }
}

enum Command {
    Video(raw_frames::VideoFrame),
    Audio(raw_frames::AudioFrame),
}

type EncoderThread = std::thread::JoinHandle<Result<(), pipeline::Error>>;

/// Frames from Python encoded into a pipeline, as Boombox's RawData input.
///
/// FrameInput(video=None, audio=None, frame_rate=25, video_bitrate=2000000,
/// audio_codec="aac", audio_bitrate=128000, capacity=16), then
/// Pipeline(frame_input, output).start(). video is (width, height): an H.264 track
/// (libx264, track 0); audio is (sample_rate, channels): an "aac", "opus" or "mp3" track
/// (after the video one). write(frame) takes a VideoFrame (uint8 (height, width, 3) RGB)
/// or an AudioFrame (1-D interleaved float32 or int16), encodes it with the GIL released
/// and returns False once the pipeline has finished; close() drains the encoders and
/// ends the input (the output is finalized).
#[pyclass(module = "media_toolkit", frozen)]
pub(crate) struct FrameInput {
    commands: Mutex<Option<tokio::sync::mpsc::Sender<Command>>>,
    thread: Mutex<Option<EncoderThread>>,
    endpoint: Mutex<Option<Endpoint>>,
    video: Option<(u32, u32)>,
}

fn encoder_thread(
    tracks: Vec<EncodedTrack>,
    audio_track: usize,
    capacity: usize,
    endpoint_tx: std::sync::mpsc::Sender<Result<Endpoint, pipeline::Error>>,
    mut commands: tokio::sync::mpsc::Receiver<Command>,
) -> Result<(), pipeline::Error> {
    let (mut writer, endpoint) = match raw_frames::input(tracks, capacity) {
        Ok(opened) => opened,
        Err(e) => {
            let _ = endpoint_tx.send(Err(e));
            return Ok(());
        }
    };
    if endpoint_tx.send(Ok(endpoint)).is_err() {
        return Ok(());
    }
    while let Some(command) = commands.blocking_recv() {
        let flow = match command {
            Command::Video(frame) => writer.blocking_write_video(0, &frame)?,
            Command::Audio(frame) => writer.blocking_write_audio(audio_track, &frame)?,
        };
        if flow == Flow::Finished {
            return Ok(());
        }
    }
    writer.blocking_close()
}

#[pymethods]
impl FrameInput {
    #[new]
    #[pyo3(signature = (video=None, audio=None, frame_rate=25, video_bitrate=2_000_000, audio_codec="aac", audio_bitrate=128_000, capacity=16))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        video: Option<(u32, u32)>,
        audio: Option<(u32, u16)>,
        frame_rate: u32,
        video_bitrate: u64,
        audio_codec: &str,
        audio_bitrate: u64,
        capacity: usize,
    ) -> PyResult<FrameInput> {
        let mut tracks = Vec::new();
        if let Some((width, height)) = video {
            let mut settings = VideoEncoderSettings::new(width, height);
            settings.frame_rate = (frame_rate.max(1), 1);
            settings.gop = frame_rate.max(1) * 2;
            settings.bitrate = video_bitrate;
            tracks.push(EncodedTrack::Video(settings));
        }
        if let Some((rate, channels)) = audio {
            let codec = EncodedAudio::from_name(audio_codec).ok_or_else(|| {
                PyValueError::new_err("audio_codec is \"aac\", \"opus\" or \"mp3\"")
            })?;
            let mut settings = AudioEncoderSettings::new(codec, rate, channels);
            settings.bitrate = audio_bitrate;
            tracks.push(EncodedTrack::Audio(settings));
        }
        if tracks.is_empty() {
            return Err(PyValueError::new_err(
                "a FrameInput needs video=(width, height), audio=(sample_rate, channels) or both",
            ));
        }
        let audio_track = usize::from(video.is_some());
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let (endpoint_tx, endpoint_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("media-toolkit-encode".into())
            .spawn(move || encoder_thread(tracks, audio_track, capacity.max(1), endpoint_tx, rx))
            .map_err(|e| {
                error::TransientError::new_err(format!("cannot start an encoder thread: {e}"))
            })?;
        let endpoint = py
            .detach(move || endpoint_rx.recv())
            .map_err(|_| error::TransientError::new_err("the encoder thread stopped"))?
            .map_err(|e| error::to_py(&e))?;
        Ok(FrameInput {
            commands: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            endpoint: Mutex::new(Some(endpoint)),
            video,
        })
    }

    /// Encodes a VideoFrame or AudioFrame into the pipeline, waiting (GIL released)
    /// while it is busy. Returns True when taken, False once the pipeline has finished or
    /// the input was closed; an encoding failure raises (at this or the next call).
    fn write(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<bool> {
        let command = self.command(py, frame)?;
        let sender = self
            .commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let Some(sender) = sender else {
            return Ok(false);
        };
        let runtime = runtime()?;
        let mut command = Some(command);
        loop {
            // Some(true): taken; Some(false): the encoder thread has ended (the pipeline
            // finished, or it failed); None: still busy after 100 ms.
            let sent = py.detach(|| {
                runtime.block_on(async {
                    match tokio::time::timeout(SIGNAL_CHECK, sender.reserve()).await {
                        Ok(Ok(permit)) => {
                            if let Some(command) = command.take() {
                                permit.send(command);
                            }
                            Some(true)
                        }
                        Ok(Err(_)) => Some(false),
                        Err(_) => None,
                    }
                })
            });
            match sent {
                Some(true) => return Ok(true),
                Some(false) => {
                    drop(sender);
                    self.finish(py)?;
                    return Ok(false);
                }
                None => py.check_signals()?,
            }
        }
    }

    /// Drains the encoders and ends the input: the pipeline writes what it has and
    /// finalizes its output. Raises the encoder's error, if one failed.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.finish(py)
    }
}

impl FrameInput {
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        self.commands
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let Some(thread) = thread else {
            return Ok(());
        };
        match py.detach(|| thread.join()) {
            Ok(result) => result.map_err(|e| error::to_py(&e)),
            Err(_) => Err(PermanentError::new_err("the encoder thread panicked")),
        }
    }

    /// A frame object as the encoder's frame: the array's bytes (one copy, by numpy's
    /// tobytes()), the timestamp in the track's clock.
    fn command(&self, py: Python<'_>, frame: &Bound<'_, PyAny>) -> PyResult<Command> {
        let numpy = py.import("numpy")?;
        if let Ok(video) = frame.cast::<VideoFrame>() {
            let video = video.get();
            let (width, height) = self
                .video
                .ok_or_else(|| PyTypeError::new_err("this FrameInput has no video track"))?;
            let array =
                numpy.call_method1("ascontiguousarray", (video.payload.bind(py), "uint8"))?;
            let shape: Vec<usize> = array.getattr("shape")?.extract()?;
            if shape != [height as usize, width as usize, 3] {
                return Err(PyValueError::new_err(format!(
                    "a video frame of this input is a uint8 array of shape ({height}, {width}, 3), not {shape:?}"
                )));
            }
            let data: PyBackedBytes = array.call_method0("tobytes")?.extract()?;
            let pts = video.pts.saturating_mul(90_000) / i64::from(video.timescale.max(1));
            return raw_frames::VideoFrame::new(
                width,
                height,
                PixelFormat::Rgb24,
                Bytes::from_owner(data),
                pts,
                90_000,
            )
            .map(Command::Video)
            .ok_or_else(|| PyValueError::new_err("a video frame of the wrong size"));
        }
        if let Ok(audio) = frame.cast::<AudioFrame>() {
            let audio = audio.get();
            let payload = audio.payload.bind(py);
            let dtype: String = payload.getattr("dtype")?.getattr("name")?.extract()?;
            let (format, dtype) = if dtype == "int16" {
                (SampleFormat::S16, "int16")
            } else {
                (SampleFormat::F32, "float32")
            };
            let array = numpy.call_method1("ascontiguousarray", (payload, dtype))?;
            let data: PyBackedBytes = array.call_method0("tobytes")?.extract()?;
            let rate = audio.sample_rate;
            let pts = audio.pts.saturating_mul(i64::from(rate)) / i64::from(audio.timescale.max(1));
            return raw_frames::AudioFrame::new(
                Bytes::from_owner(data),
                rate,
                audio.channels,
                format,
                pts,
                rate.max(1),
            )
            .map(Command::Audio)
            .ok_or_else(|| {
                PyValueError::new_err(
                    "an audio frame needs sample_rate and channels > 0 and whole sample frames",
                )
            });
        }
        Err(PyTypeError::new_err(
            "FrameInput.write takes a VideoFrame or an AudioFrame",
        ))
    }
}

/// The endpoint of a FrameInput or FrameOutput object (taken: it serves one pipeline),
/// or None for any other object.
pub(crate) fn take_endpoint(
    value: &Bound<'_, PyAny>,
    direction: Direction,
) -> PyResult<Option<Endpoint>> {
    let (slot, name, fits) = if let Ok(input) = value.cast::<FrameInput>() {
        (
            &input.get().endpoint,
            "FrameInput",
            direction == Direction::Input,
        )
    } else if let Ok(output) = value.cast::<FrameOutput>() {
        (
            &output.get().endpoint,
            "FrameOutput",
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
    module.add_class::<VideoFrame>()?;
    module.add_class::<AudioFrame>()?;
    module.add_class::<FrameOutput>()?;
    module.add_class::<FrameInput>()?;
    Ok(())
}

//! `Pipeline(..., **options)`: keyword options with the CLI's names (dashes as
//! underscores) into `pipeline::Options`. Durations are seconds (int or float).

use std::time::Duration;

use pipeline::{HlsMode, Options};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::error::PermanentError;

/// The option names, for the error that names an unknown one.
const NAMES: &[&str] = &[
    "duration",
    "segment",
    "fragmented",
    "fragment_duration",
    "faststart",
    "no_video",
    "no_audio",
    "transport",
    "fail_on_loss",
    "teardown",
    "initial_timestamp",
    "user",
    "password",
    "hls_mode",
    "queue",
    "burst",
    "frame_rate",
    "track",
    "realtime",
    "loop",
    "token",
    "title",
    "tls_ca",
];

/// Builds the options from the keyword arguments; an unknown name is a `TypeError`, a
/// value the pipeline cannot use a `PermanentError`.
pub(crate) fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Options> {
    let mut options = Options::default();
    let Some(kwargs) = kwargs else {
        return Ok(options);
    };
    for (key, value) in kwargs.iter() {
        let name: String = key.extract()?;
        apply(&mut options, &name, &value)?;
    }
    Ok(options)
}

fn apply(options: &mut Options, name: &str, value: &Bound<'_, PyAny>) -> PyResult<()> {
    match name {
        "duration" => options.duration = optional_seconds(name, value)?,
        "segment" => options.segment = optional_seconds(name, value)?,
        "fragmented" => options.fragmented = value.extract()?,
        "fragment_duration" => options.fragment_duration = seconds(name, value)?,
        "faststart" => options.faststart = value.extract()?,
        "no_video" => options.video = !value.extract::<bool>()?,
        "no_audio" => options.audio = !value.extract::<bool>()?,
        "transport" => options.rtsp.transport = parse_rtsp(name, value)?,
        "fail_on_loss" => options.rtsp.allow_loss = !value.extract::<bool>()?,
        "teardown" => options.rtsp.teardown = parse_rtsp(name, value)?,
        "initial_timestamp" => options.rtsp.initial_timestamp = parse_rtsp(name, value)?,
        "user" => options.rtsp.user = value.extract()?,
        "password" => options.rtsp.password = value.extract()?,
        "hls_mode" => {
            options.hls = Some(match value.extract::<String>()?.as_str() {
                "live" => HlsMode::Live,
                "vod" => HlsMode::Vod,
                other => return Err(invalid(name, &format!("{other:?} (live or vod)"))),
            })
        }
        "queue" => options.queue = value.extract()?,
        "burst" => options.burst = optional_seconds(name, value)?.filter(|d| !d.is_zero()),
        "frame_rate" => options.frame_rate = value.extract()?,
        "track" => {
            options.track_ids = match value.extract::<u32>() {
                Ok(id) => vec![id],
                Err(_) => value.extract()?,
            }
        }
        "realtime" => options.realtime = value.extract()?,
        "loop" => options.loop_input = value.extract()?,
        "token" => options.remote.token = value.extract()?,
        "title" => options.icecast.title = value.extract()?,
        "tls_ca" => {
            let path: Option<std::path::PathBuf> = value.extract()?;
            options.icecast.tls_ca.clone_from(&path);
            options.tls_ca = path;
        }
        other => {
            return Err(PyTypeError::new_err(format!(
                "Pipeline() got an unexpected option {other:?}; the options are {}",
                NAMES.join(", ")
            )));
        }
    }
    Ok(())
}

fn invalid(name: &str, what: &str) -> PyErr {
    PermanentError::new_err(format!("invalid option {name}: {what}"))
}

fn seconds(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Duration> {
    let secs: f64 = value.extract()?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| invalid(name, &format!("{secs} is not a number of seconds")))
}

fn optional_seconds(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Option<Duration>> {
    if value.is_none() {
        Ok(None)
    } else {
        seconds(name, value).map(Some)
    }
}

/// The RTSP settings' own spellings (`tcp`/`udp`, `auto`/`always`/`never`, …).
fn parse_rtsp<T>(name: &str, value: &Bound<'_, PyAny>) -> PyResult<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    let text: String = value.extract()?;
    text.parse()
        .map_err(|e: T::Err| invalid(name, &e.to_string()))
}

//! MP3 input: `mp3_frames`' frames as packets of one audio track, without re-encoding.
//!
//! Timestamps count samples (timescale = sample rate), so durations are exact. Tags and
//! the Xing/Info frame are metadata and are left out; junk between frames is skipped by
//! the parser. A change of sample rate or channel count in the middle of the file ends the
//! input with an error: one MP4 track has one configuration.

use std::io::Read;
use std::path::PathBuf;
use std::time::SystemTime;

use mp3_frames::{Event, FrameReader};
use tokio::sync::{mpsc, watch};

use crate::Error;
use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Codec, Packet, Track};

pub(crate) async fn run_file(
    path: PathBuf,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    let file = std::fs::File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
    blocking(name, file, FileSender::new(tx), stop).await
}

async fn blocking<R: Read + Send + 'static>(
    name: String,
    reader: R,
    mut tx: FileSender,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    crate::source::on_reader_thread("MP3".into(), move || read(&name, reader, &mut tx, &stop)).await
}

pub(crate) fn read<R: Read>(
    name: &str,
    reader: R,
    tx: &mut FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut frames = FrameReader::new(reader);
    let mut format: Option<(u32, u16)> = None;
    let mut samples: i64 = 0;
    while !*stop.borrow() {
        let event = frames
            .next_event()
            .map_err(|e| Error::io(format!("reading {name}"), e))?;
        let frame = match event {
            None => break,
            Some(Event::Frame(frame)) => frame,
            Some(other) => {
                tracing::debug!(input = name, "skipped: {other:?}");
                continue;
            }
        };
        let rate = frame.header.sample_rate();
        let channels = u16::from(frame.header.mode().channels());
        match format {
            None => {
                format = Some((rate, channels));
                let track = Track::audio(Codec::Mp3, rate, channels);
                if !tx.send(InputEvent::Tracks(vec![track])) {
                    return Ok(());
                }
            }
            Some(f) if f != (rate, channels) => {
                return Err(Error::Input {
                    input: name.to_owned(),
                    reason: format!(
                        "format changes at byte {} from {} Hz, {} channel(s) to {rate} Hz, {channels} channel(s)",
                        frame.offset, f.0, f.1
                    ),
                });
            }
            Some(_) => {}
        }
        let duration = frame.samples();
        let packet = Packet::new(0, samples, true, frame.data).with_duration(Some(duration));
        samples += i64::from(duration);
        if !tx.send(InputEvent::Packet(packet, SystemTime::now())) {
            return Ok(()); // the recorder stopped (duration reached)
        }
    }
    if format.is_none() {
        return Err(Error::Input {
            input: name.to_owned(),
            reason: "no MPEG audio frame found".into(),
        });
    }
    Ok(())
}

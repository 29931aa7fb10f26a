//! Ogg Opus input (`.opus`, `.ogg`; RFC 7845) through the `ogg` crate: the first
//! logical stream's `OpusHead` becomes the track's configuration, `OpusTags` is skipped,
//! and every audio packet becomes a packet of one Opus track at 48 kHz.
//!
//! Durations come from each packet's TOC byte (RFC 6716 §3.1); the last page's granule
//! position trims the last packet (RFC 7845 §4.5). Decode times count samples from 0;
//! the pre-skip stays in the `OpusHead`, so presentation starts where the encoder said.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::time::SystemTime;

use bytes::Bytes;
use elementary::opus_packet_samples;
use ogg::PacketReader;
use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::source::FileSender;
use crate::{Codec, Error, Packet, Track};

pub(crate) async fn run_file(
    path: PathBuf,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    let name = path.display().to_string();
    tokio::task::spawn_blocking(move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        read(
            &name,
            PacketReader::new(BufReader::new(file)),
            &mut FileSender::new(tx),
            &stop,
        )
    })
    .await
    .map_err(|e| Error::Input {
        input: "Ogg".into(),
        reason: format!("reader thread failed: {e}"),
    })?
}

fn read(
    name: &str,
    mut reader: PacketReader<BufReader<File>>,
    tx: &mut FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let mut next = || {
        reader
            .read_packet()
            .map_err(|e| invalid(format!("not a readable Ogg stream: {e}")))
    };
    let head = next()?.ok_or_else(|| invalid("empty file".into()))?;
    if !head.data.starts_with(b"OpusHead") || head.data.len() < 19 {
        return Err(invalid(
            "not Ogg Opus: the first packet is not an OpusHead (RFC 7845 §5.1)".into(),
        ));
    }
    let serial = head.stream_serial();
    let channels = u16::from(head.data[9]);
    let track = Track::audio(
        Codec::Opus {
            head: Bytes::from(head.data),
        },
        48_000,
        channels,
    );
    if !tx.send(InputEvent::Tracks(vec![track])) {
        return Ok(());
    }
    let mut tags_seen = false;
    // One packet is held back: the last page's granule position may shorten it.
    let mut held: Option<Packet> = None;
    let mut samples: i64 = 0;
    let mut send = |packet: Packet| tx.send(InputEvent::Packet(packet, SystemTime::now()));
    while !*stop.borrow() {
        let Some(packet) = next()? else {
            break;
        };
        if packet.stream_serial() != serial {
            continue; // another logical stream (chained or multiplexed): not ours
        }
        if !tags_seen {
            tags_seen = true;
            if packet.data.starts_with(b"OpusTags") {
                continue;
            }
        }
        let duration = opus_packet_samples(&packet.data).ok_or_else(|| {
            invalid(format!(
                "an Opus packet of {} bytes whose TOC gives no duration",
                packet.data.len()
            ))
        })?;
        let end_of_stream = packet.last_in_stream();
        let granule = packet.last_in_page().then(|| packet.absgp_page());
        if let Some(previous) = held.take()
            && !send(previous)
        {
            return Ok(());
        }
        let mut duration = duration;
        if end_of_stream && let Some(granule) = granule.and_then(|g| i64::try_from(g).ok()) {
            // RFC 7845 §4.5: the end of the last page trims the last packet.
            let end = samples + i64::from(duration);
            if granule < end && granule > samples {
                duration = u32::try_from(granule - samples).unwrap_or(duration);
            }
        }
        held = Some(
            Packet::new(0, samples, true, Bytes::from(packet.data)).with_duration(Some(duration)),
        );
        samples += i64::from(duration);
        if end_of_stream {
            break;
        }
    }
    if let Some(last) = held {
        send(last);
    }
    Ok(())
}

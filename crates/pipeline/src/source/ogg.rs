//! Ogg Opus input (`.opus`, `.ogg`; RFC 7845) through the `ogg` crate: the first
//! logical stream's `OpusHead` becomes the track's configuration, `OpusTags` is skipped,
//! and every audio packet becomes a packet of one Opus track at 48 kHz.
//!
//! Durations come from each packet's TOC byte (RFC 6716 §3.1); the last page's granule
//! position trims the last packet (RFC 7845 §4.5). Decode times count samples from 0;
//! the pre-skip stays in the `OpusHead`, so presentation starts where the encoder said.
//!
//! Chained streams (RFC 7845 §3: Ogg Opus streams concatenated, as `cat a.opus b.opus`
//! makes and stream dumps of Ogg radio hold) go on in the same track: a link with another
//! `OpusHead` (other channels, say) is an [`InputEvent::TrackUpdated`]; a later link's
//! pre-skip is not trimmed (a few milliseconds of decoder start-up at the join). A link
//! that is not Opus ends the input with an error, what came before it kept. Before, the
//! input silently stopped at the end of the first link.

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
    crate::source::on_reader_thread("Ogg".into(), move || {
        let file = File::open(&path).map_err(|e| Error::io(format!("opening {name}"), e))?;
        read(
            &name,
            PacketReader::new(BufReader::new(file)),
            &mut FileSender::new(tx),
            &stop,
        )
    })
    .await
}

/// Reads an Ogg Opus file held in memory (for fuzzing: the same code as a file).
pub(crate) fn read_bytes(
    data: &[u8],
    tx: mpsc::Sender<InputEvent>,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let reader = PacketReader::new(std::io::Cursor::new(data));
    read("Ogg", reader, &mut FileSender::new(tx), stop)
}

fn read<R: std::io::Read + std::io::Seek>(
    name: &str,
    mut reader: PacketReader<R>,
    tx: &mut FileSender,
    stop: &watch::Receiver<bool>,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::Input {
        input: name.to_owned(),
        reason,
    };
    let next = |reader: &mut PacketReader<R>| {
        reader
            .read_packet()
            .map_err(|e| invalid(format!("not a readable Ogg stream: {e}")))
    };
    let head = next(&mut reader)?.ok_or_else(|| invalid("empty file".into()))?;
    if !head.data.starts_with(b"OpusHead") || head.data.len() < 19 {
        return Err(invalid(
            "not Ogg Opus: the first packet is not an OpusHead (RFC 7845 §5.1)".into(),
        ));
    }
    let mut serial = head.stream_serial();
    let channels = u16::from(head.data[9]);
    let mut current = Bytes::from(head.data);
    let track = Track::audio(
        Codec::Opus {
            head: current.clone(),
        },
        48_000,
        channels,
    );
    if !tx.send(InputEvent::Tracks(vec![track])) {
        return Ok(());
    }
    let mut tags_seen = false;
    // The link ended; the next logical stream to begin may chain on.
    let mut link_ended = false;
    // One packet is held back: the last page's granule position may shorten it.
    let mut held: Option<Packet> = None;
    let mut samples: i64 = 0;
    // Where the current link began (its granule positions count from there).
    let mut link_start: i64 = 0;
    let mut send = |event: InputEvent| tx.send(event);
    while !*stop.borrow() {
        let Some(packet) = next(&mut reader)? else {
            break;
        };
        if link_ended && packet.first_in_stream() {
            if !packet.data.starts_with(b"OpusHead") || packet.data.len() < 19 {
                if let Some(last) = held.take() {
                    send(InputEvent::Packet(last, SystemTime::now()));
                }
                return Err(invalid(format!(
                    "a chained stream that is not Ogg Opus follows {:.3} s of Opus: left out",
                    samples as f64 / 48_000.0
                )));
            }
            serial = packet.stream_serial();
            link_ended = false;
            tags_seen = false;
            if packet.data[..] != current[..] {
                if let Some(last) = held.take()
                    && !send(InputEvent::Packet(last, SystemTime::now()))
                {
                    return Ok(());
                }
                current = Bytes::from(packet.data);
                let track = Track::audio(
                    Codec::Opus {
                        head: current.clone(),
                    },
                    48_000,
                    u16::from(current[9]),
                );
                if !send(InputEvent::TrackUpdated { index: 0, track }) {
                    return Ok(());
                }
            }
            continue;
        }
        if link_ended || packet.stream_serial() != serial {
            continue; // another logical stream (multiplexed): not ours
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
            && !send(InputEvent::Packet(previous, SystemTime::now()))
        {
            return Ok(());
        }
        let mut duration = duration;
        if end_of_stream && let Some(granule) = granule.and_then(|g| i64::try_from(g).ok()) {
            // RFC 7845 §4.5: the end of the last page trims the last packet. Granule
            // positions count from the start of the link.
            let start = samples - link_start;
            let end = start + i64::from(duration);
            if granule < end && granule > start {
                duration = u32::try_from(granule - start).unwrap_or(duration);
            }
        }
        held = Some(
            Packet::new(0, samples, true, Bytes::from(packet.data)).with_duration(Some(duration)),
        );
        samples += i64::from(duration);
        if end_of_stream {
            link_ended = true;
            link_start = samples;
            // The reader refuses a stream that begins again with a serial it has seen
            // (`cat a.opus a.opus`: invalid Ogg, common all the same); a seek to where it
            // is makes it forget the streams so far.
            reader
                .seek_bytes(std::io::SeekFrom::Current(0))
                .map_err(|e| Error::io(format!("reading {name}"), e))?;
        }
    }
    if let Some(last) = held {
        send(InputEvent::Packet(last, SystemTime::now()));
    }
    Ok(())
}

//! Pacing of file inputs: `Options::realtime` sends each packet when its time comes (the
//! wall clock since the first packet against its decode time), as a live source would;
//! on by default into `tcp-listen://` ([`for_output`]). Each deadline is the first
//! packet's monotonic instant plus the media time since it, never a sum of sleeps, so a
//! late wake-up does not carry over and a long run does not drift;
//! `Options::loop_input` starts the file again when it ends, every track's times moved
//! by the presentation length of the longest, until the duration limit or a stop. A
//! packet that would then decode before the previous pass's last one (encoder priming,
//! which the file's edit list hides) is left out, so A/V stay in sync. A stop ends a
//! paced run at once: what was read ahead but is not due yet is left out, as a stopped
//! camera sends nothing more (it used to go on at its pace for about 2 s).
//!
//! It sits between a file source and the recorder: the source fills a channel of its
//! own, this forwards. Track lists after the first pass are dropped when they are the
//! same (a loop is no reconnection); different ones go through.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use media_core::MediaKind;

use crate::contract::InputEvent;
use crate::{Endpoint, Error, Options, Track};

/// The options for a pipeline into `output`: a live output that sends packets on as they
/// come (`tcp-listen://`, `srt://`, `srt-listen://`, `rtmp://`, `rtp://`, `rtsp-listen://`,
/// WebRTC's `whep-listen://` and `whip://`) gets a file at its media
/// pace, as its clients expect from a live stream (issue 15: pacing on by default for
/// live outputs). Icecast paces in its own sink
/// (icecast-source, by sample count) and file outputs take a file as fast as it reads.
pub(crate) fn for_output(output: &Endpoint, mut options: Options) -> Options {
    if matches!(
        output,
        Endpoint::TcpListen(_)
            | Endpoint::Srt(_)
            | Endpoint::SrtListen(_)
            | Endpoint::Rtmp(_)
            | Endpoint::Rtp(_)
            | Endpoint::WhepListen { .. }
            | Endpoint::RtspListen { .. }
            | Endpoint::Whip(_)
    ) {
        options.realtime = true;
    }
    options
}

/// Whether `input` is a file that pacing applies to.
pub(super) fn applies(input: &Endpoint, options: &Options) -> bool {
    (options.realtime || options.loop_input) && input.is_file_input()
}

/// Runs `input` (a file) once or in a loop, forwarding its events to `tx` on time; the
/// last event sent is [`InputEvent::End`].
pub(super) async fn run(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tracks: Option<Vec<Track>> = None;
    // Per track: what each pass adds to the decode times, and where the pass ended.
    let mut offsets: HashMap<usize, i64> = HashMap::new();
    // Per track: where its presentation ended, and where its last decode ended.
    let mut shown: HashMap<usize, i64> = HashMap::new();
    let mut decoded: HashMap<usize, i64> = HashMap::new();
    // Per track: the decode end of the passes before; earlier packets (encoder priming,
    // which the file's edit list hides) would go back in time and are left out.
    let mut floors: HashMap<usize, i64> = HashMap::new();
    let mut clock: Option<(Instant, f64)> = None;
    let end = 'passes: loop {
        let (inner_tx, inner_rx) = mpsc::channel(options.file_batches());
        let mut inner_rx = Unbatched {
            rx: inner_rx,
            taken: VecDeque::new(),
        };
        let pass = tokio::spawn(super::run_source(
            input.clone(),
            options.clone(),
            inner_tx,
            stop.clone(),
            None,
        ));
        let mut sent_packets = false;
        while let Some(event) = inner_rx.recv().await {
            let event = match event {
                InputEvent::Tracks(list) => {
                    if tracks.as_ref() == Some(&list) {
                        continue;
                    }
                    tracks = Some(list.clone());
                    InputEvent::Tracks(list)
                }
                InputEvent::Packet(mut packet, _) => {
                    let offset = offsets.get(&packet.track).copied().unwrap_or(0);
                    packet.dts = packet.dts.saturating_add(offset);
                    if floors.get(&packet.track).is_some_and(|&f| packet.dts < f) {
                        continue;
                    }
                    let end = packet
                        .dts
                        .saturating_add(i64::from(packet.duration.unwrap_or(0)));
                    let decode_end = decoded.entry(packet.track).or_insert(end);
                    *decode_end = (*decode_end).max(end);
                    let shown_end = end.saturating_add(i64::from(packet.cts_offset));
                    let entry = shown.entry(packet.track).or_insert(shown_end);
                    *entry = (*entry).max(shown_end);
                    // A track the recorder leaves out (`--no-audio`, `--no-video`) is not
                    // forwarded: each packet paced is a wake-up of this task and of the
                    // recorder's thread (two of every three with a file's AAC track).
                    if !kept(&tracks, packet.track, &options) {
                        continue;
                    }
                    if options.realtime {
                        let timescale = timescale(&tracks, packet.track);
                        let at = packet.dts as f64 / timescale;
                        let (start, first) = *clock.get_or_insert((Instant::now(), at));
                        let due = start + Duration::from_secs_f64((at - first).max(0.0));
                        if stopped_before(due, &mut stop).await {
                            // What was read ahead is not due yet: a stopped live
                            // replay ends now, as a stopped camera would.
                            drop(inner_rx);
                            pass.abort();
                            break 'passes Ok(());
                        }
                    }
                    sent_packets = true;
                    InputEvent::Packet(packet, SystemTime::now())
                }
                // `run_source` returns its end rather than sending it; this is a source's
                // own End (none of ours sends one): stop there.
                InputEvent::End(result) => break 'passes result,
                other => other,
            };
            if tx.send(event).await.is_err() {
                pass.abort();
                return; // the recorder is gone
            }
        }
        let result = pass.await.unwrap_or_else(|e| {
            Err(Error::Input {
                input: input.to_string(),
                reason: format!("the source task failed: {e}"),
            })
        });
        if result.is_err() || !options.loop_input || *stop.borrow() {
            break result;
        }
        // The next pass starts where the presentation of the longest track ended, every
        // track moved by the same time, so they stay in sync.
        let seconds = shown
            .iter()
            .map(|(&t, &end)| end as f64 / timescale(&tracks, t))
            .fold(0.0, f64::max);
        for track in 0..tracks.as_ref().map_or(0, Vec::len) {
            let ticks = (seconds * timescale(&tracks, track)).round() as i64;
            offsets.insert(track, ticks);
        }
        floors.clone_from(&decoded);
        if !sent_packets {
            break Err(Error::Input {
                input: input.to_string(),
                reason: "no packet to loop".into(),
            });
        }
    };
    let _ = tx.send(InputEvent::End(end)).await;
}

/// Waits until `due`; true if the pipeline is stopped first (or already was).
async fn stopped_before(due: Instant, stop: &mut watch::Receiver<bool>) -> bool {
    loop {
        if *stop.borrow_and_update() {
            return true;
        }
        tokio::select! {
            () = tokio::time::sleep_until(due) => return false,
            changed = stop.changed() => if changed.is_err() {
                // Nobody can stop it any more: only the time is left to wait for.
                tokio::time::sleep_until(due).await;
                return false;
            },
        }
    }
}

/// Whether the pipeline records `track` (its kind is not left out by the options).
fn kept(tracks: &Option<Vec<Track>>, track: usize, options: &Options) -> bool {
    tracks
        .as_ref()
        .and_then(|t| t.get(track))
        .is_none_or(|t| match t.kind {
            MediaKind::Video => options.video,
            MediaKind::Audio => options.audio,
            _ => true,
        })
}

fn timescale(tracks: &Option<Vec<Track>>, track: usize) -> f64 {
    tracks
        .as_ref()
        .and_then(|t| t.get(track))
        .map_or(1.0, |t| f64::from(t.timescale.max(1)))
}

/// A file source's events one by one: its batches (`FileSender`) taken apart, since
/// each packet is paced on its own.
struct Unbatched {
    rx: mpsc::Receiver<InputEvent>,
    taken: VecDeque<InputEvent>,
}

impl Unbatched {
    async fn recv(&mut self) -> Option<InputEvent> {
        loop {
            if let Some(event) = self.taken.pop_front() {
                return Some(event);
            }
            match self.rx.recv().await? {
                InputEvent::Batch(events) => self.taken.extend(events),
                event => return Some(event),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Direction;

    #[test]
    fn live_outputs_pace_a_file_and_file_outputs_do_not() {
        let paced = |url: &str| {
            let output = Endpoint::parse(url, Direction::Output).unwrap();
            for_output(&output, Options::default()).realtime
        };
        for live in [
            "tcp-listen://127.0.0.1:9000",
            "srt://127.0.0.1:9000",
            "rtp://127.0.0.1:5004",
            "whep-listen://127.0.0.1:8889/cam",
            "whip://127.0.0.1:8890/pub/whip",
        ] {
            assert!(paced(live), "{live}");
        }
        for file in ["out.mp4", "out.ts", "hls/live.m3u8"] {
            assert!(!paced(file), "{file}");
        }
    }
}

//! The live song queue of a playlist stream (MusicDB's model: the next song is chosen while
//! the previous one plays) and the player that turns it into one continuous frame stream.
//!
//! - [`SongQueue`] is shared by the handle ([`crate::IcecastStream::enqueue`], ...) and the
//!   streamer: edits are seen at the next frame, without a command round trip, so
//!   [`crate::IcecastStream::queue`] shows an edit at once.
//! - [`Player`] reads one song at a time on a blocking thread, and the front of the queue
//!   ahead of time (prefetch), so the first frames of the next song are ready when the
//!   last frame of the current one has gone out: songs follow each other without a gap.
//! - A song that cannot be played (unreadable, not MP3, or a format other than the
//!   stream's: ISO/IEC 11172-3 §2.4.2.3 version, layer, rate, channels, which listeners'
//!   decoders were set up for) is reported and skipped; the stream goes on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use tokio::sync::{Notify, mpsc};

use crate::format::Format;
use crate::playlist::{HeadedFrame, Mp3Input, spawn_reader};
use crate::{AudioFrame, Command, Error, Event};

/// Frames read ahead per song (about a second): bounded memory whatever the song length.
const READ_AHEAD: usize = 48;

/// One queued song, with an id that tells a prefetched reader whether it is still the
/// song at the front.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    input: Mp3Input,
}

#[derive(Debug, Default)]
struct QueueState {
    entries: VecDeque<Entry>,
    next_id: u64,
    /// Edited since the stream started (the initial frame count no longer holds).
    edited: bool,
}

/// The songs still to play, shared by the handle and the streamer.
#[derive(Debug, Default)]
pub(crate) struct SongQueue {
    state: Mutex<QueueState>,
    changed: Notify,
}

impl SongQueue {
    /// A queue holding `inputs`, not counted as an edit.
    pub(crate) fn new(inputs: Vec<Mp3Input>) -> Arc<Self> {
        let queue = Arc::new(SongQueue::default());
        for input in inputs {
            queue.push(input, false);
        }
        queue.lock().edited = false;
        queue
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // A panic elsewhere cannot leave the queue half-edited: every edit is one call.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a song at the end (`front: false`) or as the next one to play.
    pub(crate) fn push(&self, input: Mp3Input, front: bool) {
        let mut state = self.lock();
        let entry = Entry {
            id: state.next_id,
            input,
        };
        state.next_id += 1;
        if front {
            state.entries.push_front(entry);
        } else {
            state.entries.push_back(entry);
        }
        state.edited = true;
        drop(state);
        self.changed.notify_one();
    }

    /// Removes every song still to play (not the one playing).
    pub(crate) fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.edited = true;
    }

    /// The songs still to play, in order.
    pub(crate) fn snapshot(&self) -> Vec<Mp3Input> {
        self.lock()
            .entries
            .iter()
            .map(|e| e.input.clone())
            .collect()
    }

    pub(crate) fn edited(&self) -> bool {
        self.lock().edited
    }

    fn pop(&self) -> Option<Entry> {
        self.lock().entries.pop_front()
    }

    fn front(&self) -> Option<Entry> {
        self.lock().entries.front().cloned()
    }

    /// Waits until a song is added.
    pub(crate) async fn changed(&self) {
        self.changed.notified().await;
    }
}

/// A song being read.
struct Song {
    entry: Entry,
    frames: mpsc::Receiver<Result<HeadedFrame, Error>>,
    /// Its place in the play order, once its first frame went out.
    index: Option<u64>,
    /// `Artist – Title` from its tags, set by its reader before its first frame.
    title: Arc<OnceLock<String>>,
}

/// What the player has next.
pub(crate) enum Next {
    /// A frame of the current song, and its format.
    Frame(AudioFrame, Format),
    /// The queue is empty.
    Dry,
}

/// Turns the queue into one frame stream, one song after the other.
pub(crate) struct Player {
    queue: Arc<SongQueue>,
    current: Option<Song>,
    prefetch: Option<Song>,
    /// Songs started so far (the next song's index).
    started: u64,
    /// [`Event::TrackStarted`] of the song whose first frame is being sent: reported by
    /// the streamer once that frame went out.
    starting: Option<Event>,
    /// Why the last song that could not be played was refused (the stream's error when
    /// no song ever played).
    pub(crate) last_failure: Option<Error>,
    /// Ogg songs get serial `serials + entry id`: a new logical stream per song, even for
    /// a song played twice, and unlike any earlier stream's with high probability.
    serials: u32,
}

impl Player {
    pub(crate) fn new(queue: Arc<SongQueue>) -> Self {
        Player {
            queue,
            current: None,
            prefetch: None,
            started: 0,
            starting: None,
            last_failure: None,
            serials: rand::random(),
        }
    }

    pub(crate) fn queue(&self) -> &Arc<SongQueue> {
        &self.queue
    }

    /// The song playing, if any.
    pub(crate) fn playing(&self) -> Option<&Mp3Input> {
        self.current
            .as_ref()
            .filter(|s| s.index.is_some())
            .map(|s| &s.entry.input)
    }

    /// Starts reading the front of the queue unless it is already being read: a reader
    /// for a song that was since removed or displaced is dropped (its thread ends at its
    /// next frame).
    fn refresh_prefetch(&mut self) {
        let front = self.queue.front();
        let fresh = match (&front, &self.prefetch) {
            (Some(f), Some(p)) => f.id == p.entry.id,
            (None, None) => true,
            _ => false,
        };
        if !fresh {
            self.prefetch = front.map(|entry| open(entry, self.serials));
        }
    }

    /// [`Event::TrackStarted`] once, after the song's first frame went out.
    pub(crate) fn take_started(&mut self) -> Option<Event> {
        self.starting.take()
    }

    /// Ends the current song now ([`Event::TrackFinished`] with `completed: false`).
    pub(crate) fn skip(&mut self, report: &(dyn Fn(Event) + Sync)) {
        if let Some(song) = self.current.take()
            && let Some(index) = song.index
        {
            report(Event::TrackFinished {
                index,
                input: song.entry.input,
                completed: false,
            });
        }
    }

    /// The next frame to send: the current song's, or the first of the next song that
    /// can be played (`format`: the stream's, once known). Songs that cannot be played
    /// are reported ([`Event::TrackFailed`]) and skipped.
    pub(crate) async fn next(
        &mut self,
        format: Option<Format>,
        report: &(dyn Fn(Event) + Sync),
    ) -> Next {
        loop {
            if self.current.is_none() {
                let Some(entry) = self.queue.pop() else {
                    self.prefetch = None;
                    return Next::Dry;
                };
                self.current = Some(match self.prefetch.take() {
                    Some(song) if song.entry.id == entry.id => song,
                    _ => open(entry, self.serials),
                });
            }
            self.refresh_prefetch();
            let Some(song) = self.current.as_mut() else {
                continue;
            };
            match song.frames.recv().await {
                Some(Ok((header, frame))) => {
                    if song.index.is_none() {
                        if let Some(stream) = format
                            && !stream.same_format(header)
                        {
                            let error = Error::FormatChange {
                                input: song.entry.input.name(),
                                offset: 0,
                                from: stream.describe(),
                                to: header.describe(),
                            };
                            self.fail(error, report);
                            continue;
                        }
                        song.index = Some(self.started);
                        self.started += 1;
                        self.starting = Some(Event::TrackStarted {
                            index: self.started - 1,
                            input: song.entry.input.clone(),
                            title: song.title.get().cloned(),
                        });
                    }
                    return Next::Frame(frame, header);
                }
                Some(Err(error)) => self.fail(error, report),
                None => {
                    if let Some(song) = self.current.take()
                        && let Some(index) = song.index
                    {
                        report(Event::TrackFinished {
                            index,
                            input: song.entry.input,
                            completed: true,
                        });
                    }
                }
            }
        }
    }

    /// Reports the current song as not playable and drops it.
    fn fail(&mut self, error: Error, report: &(dyn Fn(Event) + Sync)) {
        if let Some(song) = self.current.take() {
            report(Event::TrackFailed {
                input: song.entry.input,
                reason: error.to_string(),
            });
        }
        self.last_failure = Some(error);
    }
}

fn open(entry: Entry, serials: u32) -> Song {
    let title = Arc::new(OnceLock::new());
    Song {
        frames: spawn_reader(
            vec![entry.input.clone()],
            READ_AHEAD,
            Some(Arc::clone(&title)),
            serials.wrapping_add(entry.id as u32),
        ),
        entry,
        index: None,
        title,
    }
}

/// Carries out a queue command on a playlist stream; gives back any other command.
pub(crate) fn queue_command(
    player: &mut Player,
    command: Command,
    report: &(dyn Fn(Event) + Sync),
) -> Option<Command> {
    match command {
        Command::Enqueue(input) => player.queue().push(input, false),
        Command::PlayNext(input) => player.queue().push(input, true),
        Command::Clear => player.queue().clear(),
        Command::Skip => player.skip(report),
        Command::List => report(Event::Queue {
            playing: player.playing().cloned(),
            queued: player.queue().snapshot(),
        }),
        other => return Some(other),
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use mp3_frames::Frames;

    use super::*;

    fn fixture(name: &str) -> Mp3Input {
        Mp3Input::File(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures")
                .join(name),
        )
    }

    fn frames_of(input: &Mp3Input) -> Vec<bytes::Bytes> {
        let Mp3Input::File(path) = input else {
            unreachable!()
        };
        let data = std::fs::read(path).unwrap();
        Frames::new(&data)
            .map(|f| bytes::Bytes::copy_from_slice(f.data))
            .collect()
    }

    #[test]
    fn edits_keep_order_and_are_seen_in_the_snapshot() {
        let (a, b, c) = (fixture("a.mp3"), fixture("b.mp3"), fixture("c.mp3"));
        let queue = SongQueue::new(vec![a.clone()]);
        assert!(!queue.edited(), "the initial list is no edit");
        queue.push(b.clone(), false);
        queue.push(c.clone(), true);
        assert_eq!(queue.snapshot(), vec![c.clone(), a.clone(), b.clone()]);
        assert!(queue.edited());
        assert_eq!(queue.pop().map(|e| e.input), Some(c));
        queue.clear();
        assert!(queue.snapshot().is_empty() && queue.pop().is_none());
    }

    #[tokio::test]
    async fn songs_follow_each_other_skip_cuts_and_another_format_is_passed_over() {
        let (a, b) = (
            fixture("sine-44100-cbr128.mp3"),
            fixture("noxing-44100-cbr128.mp3"),
        );
        let other = fixture("mpeg2-24000-mono-cbr64.mp3");
        let events = Mutex::new(Vec::new());
        let report = |e: Event| events.lock().unwrap().push(e);
        let queue = SongQueue::new(vec![a.clone(), other.clone(), b.clone()]);
        let mut player = Player::new(Arc::clone(&queue));
        let mut got = Vec::new();
        let mut format = None;
        while let Next::Frame(frame, header) = player.next(format, &report).await {
            format.get_or_insert(header);
            if let Some(started) = player.take_started() {
                report(started);
            }
            got.push(frame.data);
            if got.len() == 10 {
                player.skip(&report); // A cut after 10 frames
            }
        }
        let expected: Vec<_> = frames_of(&a)[..10]
            .iter()
            .chain(frames_of(&b).iter())
            .cloned()
            .collect();
        assert!(got == expected, "A's first 10 frames, then all of B");
        let events = events.into_inner().unwrap();
        let kinds: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::TrackStarted { index, .. } => format!("start {index}"),
                Event::TrackFinished {
                    index, completed, ..
                } => format!("finish {index} {completed}"),
                Event::TrackFailed { input, .. } => format!("failed {}", *input == other),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "start 0",
                "finish 0 false",
                "failed true",
                "start 1",
                "finish 1 true"
            ]
        );
        assert!(player.last_failure.is_some());
    }
}

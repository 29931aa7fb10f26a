//! Where a session's output starts: at the first video keyframe.
//!
//! A decoder cannot use video before a random access point (ISO/IEC 14496-10 section
//! 3.69, IDR picture), and a recording that starts with audio and no picture is useless, so
//! by default nothing is emitted until the first video track has a keyframe. Each further
//! video track also waits for its own keyframe. Sans-I/O: the session feeds it one
//! decision per frame.

use crate::track::MediaKind;

/// What to do with a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Admit {
    /// Drop it: its track has not started.
    Drop,
    /// Emit it; `first` is set on the session's first emitted frame (send the tracks
    /// before it).
    Pass {
        /// The session's first emitted frame.
        first: bool,
    },
}

/// Per-session start state.
#[derive(Clone, Debug)]
pub struct StartGate {
    wait: bool,
    kinds: Vec<MediaKind>,
    started: Vec<bool>,
    opened: bool,
    dropped: u64,
}

impl StartGate {
    /// A gate for tracks of these kinds (in track order); `wait` = wait for keyframes.
    pub fn new(kinds: Vec<MediaKind>, wait: bool) -> Self {
        let started = vec![false; kinds.len()];
        StartGate {
            wait,
            kinds,
            started,
            opened: false,
            dropped: 0,
        }
    }

    /// Decides for one frame of `track`.
    pub fn admit(&mut self, track: usize, keyframe: bool) -> Admit {
        let Some(kind) = self.kinds.get(track).copied() else {
            self.dropped += 1;
            return Admit::Drop;
        };
        let pass = if !self.wait {
            true
        } else {
            match kind {
                MediaKind::Video => {
                    if keyframe && let Some(s) = self.started.get_mut(track) {
                        *s = true;
                    }
                    self.started.get(track).copied().unwrap_or(false)
                }
                MediaKind::Audio => {
                    let mut videos = self
                        .kinds
                        .iter()
                        .zip(&self.started)
                        .filter(|(k, _)| **k == MediaKind::Video);
                    // The first video track leads; audio-only sessions start at once.
                    videos.next().is_none_or(|(_, started)| *started)
                }
            }
        };
        if !pass {
            self.dropped += 1;
            return Admit::Drop;
        }
        let first = !self.opened;
        self.opened = true;
        Admit::Pass { first }
    }

    /// Frames dropped while waiting.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Whether a frame has been let through.
    pub fn opened(&self) -> bool {
        self.opened
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use MediaKind::{Audio, Video};

    #[test]
    fn audio_waits_for_the_first_video_keyframe() {
        let mut g = StartGate::new(vec![Video, Audio], true);
        assert_eq!(g.admit(1, true), Admit::Drop);
        assert_eq!(g.admit(0, false), Admit::Drop);
        assert_eq!(g.admit(1, true), Admit::Drop);
        assert_eq!(g.admit(0, true), Admit::Pass { first: true });
        assert_eq!(g.admit(1, true), Admit::Pass { first: false });
        assert_eq!(g.admit(0, false), Admit::Pass { first: false });
        assert_eq!(g.dropped(), 3);
    }

    #[test]
    fn each_video_track_waits_for_its_own_keyframe() {
        let mut g = StartGate::new(vec![Video, Video], true);
        assert_eq!(g.admit(0, true), Admit::Pass { first: true });
        assert_eq!(g.admit(1, false), Admit::Drop);
        assert_eq!(g.admit(1, true), Admit::Pass { first: false });
    }

    #[test]
    fn audio_only_and_no_wait_pass_at_once() {
        let mut g = StartGate::new(vec![Audio], true);
        assert_eq!(g.admit(0, true), Admit::Pass { first: true });
        let mut g = StartGate::new(vec![Video, Audio], false);
        assert_eq!(g.admit(1, true), Admit::Pass { first: true });
        assert_eq!(g.admit(0, false), Admit::Pass { first: false });
        assert!(g.opened());
    }

    #[test]
    fn unknown_track_is_dropped() {
        let mut g = StartGate::new(vec![Audio], false);
        assert_eq!(g.admit(5, true), Admit::Drop);
    }
}

//! One client's bounded queue and its drop policy (sans-I/O).
//!
//! Only media packets count against the bounds (packets and bytes); control items are
//! never dropped. When a new packet passes a bound, packets are dropped, oldest first,
//! non-key frames before key frames. A dropped video packet makes every later packet of
//! its track undecodable until the next key frame, so those go too, and when no key
//! frame of the track is queued the track is gated: its packets are skipped until the
//! next key frame arrives. A client therefore never receives a packet whose reference
//! was dropped. A client also starts each recording at a key frame (not counted as
//! drops: it joined mid-GOP).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use media_core::{MediaKind, Track};

use crate::protocol::Message;

/// What the client's writer sends, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    /// A control message.
    Control(Message),
    /// Open one track stream per track (after `started_recording`).
    OpenTracks(Arc<[Track]>),
    /// Replace a track's stream (new codec configuration).
    UpdateTrack(usize, Track),
    /// A media packet (chunk content already encoded).
    Media(Media),
    /// Close the track streams with this `stop` attribute.
    CloseTracks(&'static str),
    /// Close the connection once what comes before is written.
    Close,
}

/// A queued media packet.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Media {
    pub(crate) track: usize,
    pub(crate) keyframe: bool,
    pub(crate) content: Bytes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    Open,
    /// Skip the track's packets until a key frame; `counted`: skipped packets are drops.
    WaitKeyframe {
        counted: bool,
    },
}

/// Per-client media counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Media packets handed to the connection.
    pub sent: u64,
    /// Media packets dropped by the drop policy (queue full).
    pub dropped: u64,
}

/// A client's queue; see the module docs.
#[derive(Debug)]
pub(crate) struct ClientQueue {
    items: VecDeque<Item>,
    media_packets: usize,
    media_bytes: usize,
    max_packets: usize,
    max_bytes: usize,
    /// Per track of the current recording: video or not, and its gate.
    video: Vec<bool>,
    gates: Vec<Gate>,
    /// A recording is being sent to this client.
    active: bool,
    counters: Counters,
}

impl ClientQueue {
    pub(crate) fn new(max_packets: usize, max_bytes: usize) -> Self {
        ClientQueue {
            items: VecDeque::new(),
            media_packets: 0,
            media_bytes: 0,
            max_packets: max_packets.max(1),
            max_bytes: max_bytes.max(1),
            video: Vec::new(),
            gates: Vec::new(),
            active: false,
            counters: Counters::default(),
        }
    }

    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    /// Media packets waiting.
    #[cfg(test)]
    pub(crate) fn media_len(&self) -> usize {
        self.media_packets
    }

    /// Whether a recording is being sent.
    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// Starts sending a recording: `started_recording`, then the track streams.
    pub(crate) fn begin(&mut self, session: u64, tracks: Arc<[Track]>) {
        self.items
            .push_back(Item::Control(Message::StartedRecording {
                session,
                tracks: tracks.len(),
            }));
        self.video = tracks.iter().map(|t| t.kind == MediaKind::Video).collect();
        self.gates = self
            .video
            .iter()
            .map(|&v| {
                if v {
                    Gate::WaitKeyframe { counted: false }
                } else {
                    Gate::Open
                }
            })
            .collect();
        self.items.push_back(Item::OpenTracks(tracks));
        self.active = true;
    }

    /// Stops sending the recording (track trailers with `stop`), if one is being sent.
    pub(crate) fn end(&mut self, stop: &'static str) {
        if self.active {
            self.items.push_back(Item::CloseTracks(stop));
            self.active = false;
        }
    }

    /// Queues a control item (never dropped, not counted).
    pub(crate) fn push(&mut self, item: Item) {
        self.items.push_back(item);
    }

    /// Control items waiting (they are never dropped, so the server bounds them).
    pub(crate) fn pending_control(&self) -> usize {
        self.items.len() - self.media_packets
    }

    /// A track's configuration changed: its stream is replaced; video waits for a key
    /// frame (the new parameters apply from one).
    pub(crate) fn update_track(&mut self, index: usize, track: Track) {
        if !self.active || index >= self.gates.len() {
            return;
        }
        self.video[index] = track.kind == MediaKind::Video;
        if self.video[index] {
            self.gates[index] = Gate::WaitKeyframe { counted: false };
        }
        self.items.push_back(Item::UpdateTrack(index, track));
    }

    /// Queues a media packet of the current recording, applying the drop policy.
    pub(crate) fn push_media(&mut self, media: Media) {
        let Some(gate) = self.gates.get_mut(media.track) else {
            return;
        };
        if !self.active {
            return;
        }
        if let Gate::WaitKeyframe { counted } = *gate {
            if !media.keyframe {
                if counted {
                    self.counters.dropped += 1;
                }
                return;
            }
            *gate = Gate::Open;
        }
        self.media_packets += 1;
        self.media_bytes += media.content.len();
        self.items.push_back(Item::Media(media));
        while (self.media_packets > self.max_packets || self.media_bytes > self.max_bytes)
            && self.drop_oldest()
        {}
    }

    /// The next item to send; media packets count as sent.
    pub(crate) fn pop(&mut self) -> Option<Item> {
        let mut item = self.items.pop_front()?;
        match &mut item {
            Item::Media(m) => {
                self.media_packets -= 1;
                self.media_bytes -= m.content.len();
                self.counters.sent += 1;
            }
            // Counters as of when the message leaves, after the packets before it.
            Item::Control(
                Message::StoppedPlaying { sent, dropped }
                | Message::StoppedRecording { sent, dropped, .. },
            ) => {
                (*sent, *dropped) = (self.counters.sent, self.counters.dropped);
            }
            _ => {}
        }
        Some(item)
    }

    /// Drops the oldest non-key frame (else the oldest packet) and what depends on it.
    fn drop_oldest(&mut self) -> bool {
        let media = |i: &Item| matches!(i, Item::Media(_));
        let victim = self
            .items
            .iter()
            .position(|i| matches!(i, Item::Media(m) if !m.keyframe))
            .or_else(|| self.items.iter().position(media));
        let Some(at) = victim else { return false };
        let Some(track) = self.remove_media(at) else {
            return false;
        };
        if !self.video.get(track).copied().unwrap_or(false) {
            return true; // audio: every frame stands alone
        }
        // Later packets of the track up to its next key frame referenced the dropped one.
        let mut i = at;
        while let Some(item) = self.items.get(i) {
            match item {
                Item::Media(m) if m.track == track && m.keyframe => return true,
                Item::Media(m) if m.track == track => {
                    self.remove_media(i);
                }
                Item::UpdateTrack(t, _) if *t == track => return true,
                Item::OpenTracks(_) | Item::CloseTracks(_) => return true,
                _ => i += 1,
            }
        }
        if let Some(gate) = self.gates.get_mut(track) {
            *gate = Gate::WaitKeyframe { counted: true };
        }
        true
    }

    fn remove_media(&mut self, at: usize) -> Option<usize> {
        match self.items.remove(at) {
            Some(Item::Media(m)) => {
                self.media_packets -= 1;
                self.media_bytes -= m.content.len();
                self.counters.dropped += 1;
                Some(m.track)
            }
            Some(other) => {
                self.items.insert(at, other);
                None
            }
            None => None,
        }
    }
}

/// The packets of the current recording since its last video key frame, so that a
/// client that starts playing mid-GOP gets video at once rather than at the next key
/// frame. Bounded like a client queue; past a bound it empties until the next key frame.
#[derive(Debug)]
pub(crate) struct GopCache {
    video: Vec<bool>,
    packets: Vec<Media>,
    bytes: usize,
    max_packets: usize,
    max_bytes: usize,
    /// It holds everything since a key frame.
    valid: bool,
}

impl GopCache {
    pub(crate) fn new(tracks: &[Track], max_packets: usize, max_bytes: usize) -> Self {
        GopCache {
            video: tracks.iter().map(|t| t.kind == MediaKind::Video).collect(),
            packets: Vec::new(),
            bytes: 0,
            max_packets,
            max_bytes,
            valid: false,
        }
    }

    pub(crate) fn push(&mut self, media: &Media) {
        let video = self.video.get(media.track).copied().unwrap_or(false);
        if video && media.keyframe {
            self.clear();
            self.valid = true;
        }
        if !self.valid {
            return;
        }
        self.packets.push(media.clone());
        self.bytes += media.content.len();
        if self.packets.len() > self.max_packets || self.bytes > self.max_bytes {
            self.clear();
        }
    }

    /// A track changed: what is cached no longer matches it.
    pub(crate) fn clear(&mut self) {
        self.packets.clear();
        self.bytes = 0;
        self.valid = false;
    }

    /// The packets since the last key frame, oldest first.
    pub(crate) fn packets(&self) -> &[Media] {
        &self.packets
    }
}

#[cfg(test)]
mod tests {
    use media_core::Codec;

    use super::*;

    fn tracks() -> Arc<[Track]> {
        let video = Track::video(
            Codec::H264 {
                config: Bytes::new(),
            },
            90_000,
            64,
            64,
        );
        vec![video, Track::audio(Codec::Mp3, 44_100, 2)].into()
    }

    fn media(track: usize, keyframe: bool, n: u8) -> Media {
        Media {
            track,
            keyframe,
            content: Bytes::from(vec![n; 10]),
        }
    }

    /// The media left in the queue as (track, key, tag).
    fn drain(q: &mut ClientQueue) -> Vec<(usize, bool, u8)> {
        std::iter::from_fn(|| q.pop())
            .filter_map(|i| match i {
                Item::Media(m) => Some((m.track, m.keyframe, m.content[0])),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gop_cache_holds_packets_since_the_last_video_key_frame() {
        let mut gop = GopCache::new(&tracks(), 4, 1 << 20);
        for (track, key, n) in [(1, true, 0), (0, false, 1), (0, true, 2), (1, true, 3)] {
            gop.push(&media(track, key, n));
        }
        let tags: Vec<u8> = gop.packets().iter().map(|m| m.content[0]).collect();
        assert_eq!(tags, [2, 3]);
        for n in 4..7 {
            gop.push(&media(0, false, n)); // 5 > 4: emptied until the next key frame
        }
        assert!(gop.packets().is_empty());
        gop.push(&media(0, false, 7));
        assert!(gop.packets().is_empty());
        gop.push(&media(0, true, 8));
        assert_eq!(gop.packets().len(), 1);
    }

    #[test]
    fn starts_at_a_key_frame_without_counting_drops() {
        let mut q = ClientQueue::new(100, 1 << 20);
        q.push_media(media(0, true, 0)); // before begin: ignored
        q.begin(1, tracks());
        q.push_media(media(0, false, 1));
        q.push_media(media(1, true, 2));
        q.push_media(media(0, true, 3));
        q.push_media(media(0, false, 4));
        assert_eq!(drain(&mut q), [(1, true, 2), (0, true, 3), (0, false, 4)]);
        assert_eq!(
            q.counters(),
            Counters {
                sent: 3,
                dropped: 0
            }
        );
    }

    #[test]
    fn overflow_drops_rest_of_gop_and_gates_until_next_key_frame() {
        let mut q = ClientQueue::new(4, 1 << 20);
        q.begin(1, tracks());
        q.push_media(media(0, true, 0));
        q.push_media(media(0, false, 1));
        q.push_media(media(1, true, 2));
        q.push_media(media(0, false, 3));
        q.push_media(media(1, true, 4)); // 5 > 4: drop P1 and P3 (depends on it)
        q.push_media(media(0, false, 5)); // gated
        q.push_media(media(0, true, 6)); // opens
        q.push_media(media(0, false, 7)); // 5 > 4 again: P7 is the oldest non-key frame
        assert_eq!(
            drain(&mut q),
            [(0, true, 0), (1, true, 2), (1, true, 4), (0, true, 6)]
        );
        assert_eq!(
            q.counters(),
            Counters {
                sent: 4,
                dropped: 4
            }
        );
    }

    #[test]
    fn drop_stops_at_the_next_queued_key_frame() {
        let mut q = ClientQueue::new(4, 1 << 20);
        q.begin(1, tracks());
        for (key, n) in [(true, 0), (false, 1), (true, 2), (false, 3), (false, 4)] {
            q.push_media(media(0, key, n));
        }
        // P1 dropped alone: K2 is queued, so P3 and P4 stay decodable.
        assert_eq!(
            drain(&mut q),
            [(0, true, 0), (0, true, 2), (0, false, 3), (0, false, 4)]
        );
        assert_eq!(q.counters().dropped, 1);
    }

    #[test]
    fn only_key_frames_queued_drops_the_oldest_and_its_dependants() {
        let mut q = ClientQueue::new(2, 1 << 20);
        q.begin(1, tracks());
        q.push_media(media(1, true, 0));
        q.push_media(media(1, true, 1));
        q.push_media(media(1, true, 2));
        assert_eq!(drain(&mut q), [(1, true, 1), (1, true, 2)]);
        assert_eq!(q.counters().dropped, 1);
    }

    #[test]
    fn byte_bound_and_control_items_are_never_dropped() {
        let mut q = ClientQueue::new(1000, 25);
        q.begin(7, tracks());
        q.push_media(media(1, true, 0));
        q.push_media(media(1, true, 1));
        q.end("stopped_playing");
        q.push(Item::Control(Message::StoppedPlaying {
            sent: 0,
            dropped: 0,
        }));
        q.push_media(media(1, true, 2)); // not active: ignored
        q.push_media(media(1, true, 3));
        let items: Vec<Item> = std::iter::from_fn(|| q.pop()).collect();
        assert!(matches!(
            items[0],
            Item::Control(Message::StartedRecording {
                session: 7,
                tracks: 2
            })
        ));
        assert!(matches!(items[1], Item::OpenTracks(_)));
        assert_eq!(items.len(), 6, "{items:?}");
        assert_eq!(items[4], Item::CloseTracks("stopped_playing"));
        assert_eq!(
            items[5],
            Item::Control(Message::StoppedPlaying {
                sent: 2,
                dropped: 0
            })
        );
    }

    #[test]
    fn never_holds_more_than_its_bounds_and_every_p_frame_follows_its_reference() {
        let mut q = ClientQueue::new(8, 1 << 20);
        q.begin(1, tracks());
        let mut sent = Vec::new();
        // Video key frame every 16 packets, audio every third; the reader takes one
        // item in four pushes, so the queue overflows.
        for n in 0..=255u8 {
            let audio = n % 3 == 0;
            q.push_media(media(usize::from(audio), audio || n % 16 == 1, n));
            assert!(q.media_len() <= 8);
            if n % 4 == 0 {
                sent.extend(drain_one(&mut q));
            }
        }
        sent.extend(drain(&mut q));
        let video: Vec<u8> = (0..=255u8).filter(|n| n % 3 != 0).collect();
        for w in sent.iter().filter(|m| m.0 == 0 && !m.1) {
            let at = video.iter().position(|&n| n == w.2).unwrap();
            let reference = video[at - 1];
            assert!(
                sent.iter().any(|m| m.2 == reference),
                "P-frame {} sent without {reference}: {sent:?}",
                w.2
            );
        }
        let c = q.counters();
        assert_eq!(c.sent as usize, sent.len());
        assert!(c.dropped > 0);
    }

    fn drain_one(q: &mut ClientQueue) -> Option<(usize, bool, u8)> {
        loop {
            match q.pop()? {
                Item::Media(m) => return Some((m.track, m.keyframe, m.content[0])),
                _ => continue,
            }
        }
    }

    proptest::proptest! {
        /// Any pushes and pops under any bounds: the bounds hold, every packet is
        /// accounted for, and every video non-key frame delivered follows the packet it
        /// references (the one before it on its track) — nothing undecodable goes out.
        #[test]
        fn drop_policy_invariants(
            ops in proptest::collection::vec((0u8..4, proptest::bool::ANY), 0..400),
            max_packets in 1usize..12,
        ) {
            let mut q = ClientQueue::new(max_packets, 1 << 20);
            q.begin(1, tracks());
            let mut pushed: [Vec<(u16, bool)>; 2] = [Vec::new(), Vec::new()];
            let mut delivered: Vec<(usize, u16)> = Vec::new();
            let mut joined = false;
            for (i, (op, key)) in ops.into_iter().enumerate() {
                let n = i as u16;
                if op == 3 {
                    if let Some(Item::Media(m)) = std::iter::from_fn(|| q.pop())
                        .find(|i| matches!(i, Item::Media(_)))
                    {
                        let tag = u16::from_be_bytes([m.content[0], m.content[1]]);
                        delivered.push((m.track, tag));
                    }
                    continue;
                }
                let track = usize::from(op == 2); // tracks 0 (video) and 1 (audio)
                let key = key || track == 1;
                // Video before the first key frame is the join gate's, not the policy's.
                if track == 0 && !joined {
                    if !key {
                        continue;
                    }
                    joined = true;
                }
                pushed[track].push((n, key));
                let mut content = n.to_be_bytes().to_vec();
                content.extend_from_slice(&[0; 8]);
                q.push_media(Media { track, keyframe: key, content: content.into() });
                proptest::prop_assert!(q.media_len() <= max_packets);
            }
            for item in std::iter::from_fn(|| q.pop()) {
                if let Item::Media(m) = item {
                    delivered.push((m.track, u16::from_be_bytes([m.content[0], m.content[1]])));
                }
            }
            let c = q.counters();
            let total = (pushed[0].len() + pushed[1].len()) as u64;
            proptest::prop_assert_eq!(c.sent, delivered.len() as u64);
            proptest::prop_assert_eq!(c.sent + c.dropped, total);
            for &(track, tag) in delivered.iter().filter(|d| d.0 == 0) {
                let at = pushed[track].iter().position(|p| p.0 == tag).unwrap();
                if !pushed[track][at].1 {
                    let reference = pushed[track][at - 1].0;
                    proptest::prop_assert!(
                        delivered.contains(&(track, reference)),
                        "P-frame {} delivered without {}", tag, reference
                    );
                }
            }
        }
    }
}

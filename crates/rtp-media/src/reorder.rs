//! A reorder (jitter) buffer for one stream: packets held by sequence number (RFC 3550
//! §A.1's extended, wrap-around-aware numbering) and released in order; a gap is waited for
//! until the buffer is full or its oldest packet has waited too long, then given up on and
//! counted as lost. Duplicates and packets that come after their place was passed are
//! dropped and counted. Sans-I/O: the caller passes the time in.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::RtpPacket;

/// Holds up to `capacity` packets of one stream and gives them back in sequence order.
#[derive(Debug)]
pub struct ReorderBuffer {
    capacity: usize,
    max_delay: Duration,
    /// The extended sequence number released next (from 2^32 up, so never below zero).
    next: Option<u64>,
    held: BTreeMap<u64, (Instant, RtpPacket)>,
    lost: u64,
    duplicates: u64,
    late: u64,
    /// Packets in a row that came far behind (more than `capacity`): a sender that
    /// started its sequence numbers over, once there are `capacity` of them.
    behind: usize,
}

impl ReorderBuffer {
    /// A buffer of at most `capacity` packets (at least 1), each held at most `max_delay`
    /// while a gap before it is waited for.
    pub fn new(capacity: usize, max_delay: Duration) -> ReorderBuffer {
        ReorderBuffer {
            capacity: capacity.max(1),
            max_delay,
            next: None,
            held: BTreeMap::new(),
            lost: 0,
            duplicates: 0,
            late: 0,
            behind: 0,
        }
    }

    /// Takes a packet received at `now`.
    pub fn push(&mut self, packet: RtpPacket, now: Instant) {
        let next = *self
            .next
            .get_or_insert(1 << 32 | u64::from(packet.sequence));
        let delta = i64::from(packet.sequence.wrapping_sub(next as u16) as i16);
        let Some(extended) = next.checked_add_signed(delta) else {
            return;
        };
        if extended < next {
            if next - extended > self.capacity as u64 {
                self.behind += 1;
                if self.behind >= self.capacity {
                    // The sender started over: what is held is given up on.
                    self.lost += self.held.len() as u64;
                    self.held.clear();
                    self.behind = 0;
                    let restart = 1 << 32 | u64::from(packet.sequence);
                    self.next = Some(restart);
                    self.held.insert(restart, (now, packet));
                    return;
                }
            }
            self.late += 1;
            return;
        }
        self.behind = 0;
        match self.held.entry(extended) {
            std::collections::btree_map::Entry::Vacant(place) => {
                place.insert((now, packet));
            }
            std::collections::btree_map::Entry::Occupied(_) => self.duplicates += 1,
        }
    }

    /// The next packet in order, if it is here; or, when the buffer is full or its oldest
    /// packet has waited `max_delay` by `now`, the first after the gap (the gap counted
    /// as lost).
    pub fn pop(&mut self, now: Instant) -> Option<RtpPacket> {
        let (&first, (arrived, _)) = self.held.first_key_value()?;
        let next = self.next?;
        let give_up = self.held.len() >= self.capacity
            || self
                .held
                .keys()
                .next_back()
                .is_some_and(|last| last - next >= self.capacity as u64)
            || now.saturating_duration_since(*arrived) >= self.max_delay;
        if first != next && !give_up {
            return None;
        }
        self.release()
    }

    /// The next packet held, whatever gap comes before it (counted as lost): for the end
    /// of a stream.
    pub fn drain(&mut self) -> Option<RtpPacket> {
        self.release()
    }

    fn release(&mut self) -> Option<RtpPacket> {
        let (first, (_, packet)) = self.held.pop_first()?;
        let next = self.next.unwrap_or(first);
        self.lost += first.saturating_sub(next);
        self.next = Some(first + 1);
        Some(packet)
    }

    /// Packets given up on: the gaps released past.
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Packets received twice while held.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Packets that came after their place was released past (late or duplicated).
    pub fn late(&self) -> u64 {
        self.late
    }

    /// The time at which the oldest held packet has waited `max_delay`: when to call
    /// [`pop`](Self::pop) again if nothing else arrives.
    pub fn deadline(&self) -> Option<Instant> {
        let (_, (arrived, _)) = self.held.first_key_value()?;
        arrived.checked_add(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn packet(sequence: u16) -> RtpPacket {
        let mut d = vec![0x80, 96];
        d.extend_from_slice(&sequence.to_be_bytes());
        d.extend_from_slice(&[0; 8]);
        RtpPacket::parse(Bytes::from(d)).unwrap()
    }

    fn released(buffer: &mut ReorderBuffer, now: Instant) -> Vec<u16> {
        std::iter::from_fn(|| buffer.pop(now).map(|p| p.sequence)).collect()
    }

    #[test]
    fn shuffled_packets_come_out_in_order_across_the_wrap() {
        let now = Instant::now();
        let mut b = ReorderBuffer::new(64, Duration::from_millis(500));
        let mut out = Vec::new();
        let order = [65530u16, 65532, 65531, 65534, 65533, 0, 65535, 2, 1, 3];
        for s in order {
            b.push(packet(s), now);
            out.extend(released(&mut b, now));
        }
        let want: Vec<u16> = (65530..=65535).chain(0..=3).collect();
        assert_eq!(out, want);
        assert_eq!((b.lost(), b.duplicates(), b.late()), (0, 0, 0));
    }

    #[test]
    fn duplicates_and_late_packets_are_counted_and_dropped() {
        let now = Instant::now();
        let mut b = ReorderBuffer::new(64, Duration::from_millis(500));
        b.push(packet(10), now);
        b.push(packet(12), now);
        b.push(packet(12), now);
        assert_eq!(released(&mut b, now), [10]);
        b.push(packet(10), now);
        b.push(packet(11), now);
        assert_eq!(released(&mut b, now), [11, 12]);
        assert_eq!((b.lost(), b.duplicates(), b.late()), (0, 1, 1));
    }

    #[test]
    fn a_gap_is_given_up_on_when_full_or_too_old() {
        let now = Instant::now();
        let mut b = ReorderBuffer::new(4, Duration::from_millis(100));
        for s in [1, 3, 4, 5] {
            b.push(packet(s), now);
        }
        assert_eq!(released(&mut b, now), [1]);
        b.push(packet(6), now);
        assert_eq!(released(&mut b, now), [3, 4, 5, 6], "full: 2 given up");
        assert_eq!(b.lost(), 1);

        b.push(packet(9), now);
        assert!(released(&mut b, now).is_empty());
        assert_eq!(b.deadline(), Some(now + Duration::from_millis(100)));
        let later = now + Duration::from_millis(100);
        assert_eq!(released(&mut b, later), [9]);
        assert_eq!(b.lost(), 3);
        b.push(packet(7), later);
        assert_eq!(b.late(), 1);
        b.push(packet(12), later);
        assert_eq!(b.drain().map(|p| p.sequence), Some(12));
        assert_eq!(b.lost(), 5);
    }

    #[test]
    fn a_sender_starting_its_sequence_over_is_followed() {
        let now = Instant::now();
        let mut b = ReorderBuffer::new(4, Duration::from_secs(1));
        b.push(packet(30_000), now);
        assert_eq!(released(&mut b, now), [30_000]);
        let mut out = Vec::new();
        for s in 10_000..10_010 {
            b.push(packet(s), now);
            out.extend(released(&mut b, now));
        }
        assert_eq!(out, (10_003..10_010).collect::<Vec<_>>());
        assert_eq!(b.late(), 3, "until four in a row came from far behind");
    }

    #[test]
    fn a_jump_beyond_the_capacity_releases_at_once() {
        let now = Instant::now();
        let mut b = ReorderBuffer::new(64, Duration::from_secs(1));
        b.push(packet(0), now);
        b.push(packet(1000), now);
        assert_eq!(released(&mut b, now), [0, 1000]);
        assert_eq!(b.lost(), 999);
    }
}

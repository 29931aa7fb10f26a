//! Who may wait to say `hello`, sans-I/O: the budget of connections accepted but not yet
//! greeted, apart from the clients' slots.
//!
//! A server that counts a connection as a client from its accept is held shut by peers
//! that connect and say nothing (each keeps a slot until its `hello` deadline, and comes
//! back at once), and the token cannot help, since it only arrives in `hello`. So
//! connections wait for their `hello` in a pool of their own, bounded in all and per IP
//! address, and a newcomer is never turned away: when a bound is reached, it displaces
//! the oldest waiting connection of its own address (per-address bound), or of the
//! address with the most waiting (overall bound). Silent peers thus displace each other,
//! while a real client, which says `hello` at once, is greeted long before enough newer
//! connections have arrived to displace it (and the server reads a displaced connection a
//! last time, so a `hello` already received still counts).
//!
//! Only waiting connections count against an address: once greeted, a client is bounded
//! by the clients' slots alone, so a client behind the same address as a flood (a NAT,
//! or everything on 127.0.0.1) is not refused because of it.

use std::collections::VecDeque;
use std::net::IpAddr;

/// The pool of connections waiting to say `hello`; see the module docs.
#[derive(Debug)]
pub(crate) struct Admission {
    max_pending: usize,
    max_per_address: usize,
    /// Waiting connections, oldest first.
    waiting: VecDeque<(u64, IpAddr)>,
}

impl Admission {
    /// A pool of at most `max_pending` connections, `max_per_address` per address (each
    /// at least 1).
    pub(crate) fn new(max_pending: usize, max_per_address: usize) -> Self {
        Admission {
            max_pending: max_pending.max(1),
            max_per_address: max_per_address.max(1),
            waiting: VecDeque::new(),
        }
    }

    /// Connection `id` from `ip` starts waiting for its `hello`. Returns the connections
    /// it displaces, which leave the pool (the caller reads each a last time, then
    /// closes it).
    pub(crate) fn arrive(&mut self, id: u64, ip: IpAddr) -> Vec<u64> {
        let mut displaced = Vec::new();
        while self.count(ip) >= self.max_per_address {
            displaced.extend(self.remove_oldest_of(ip));
        }
        while self.waiting.len() >= self.max_pending {
            let Some(busiest) = self.busiest() else { break };
            displaced.extend(self.remove_oldest_of(busiest));
        }
        self.waiting.push_back((id, ip));
        displaced
    }

    /// Connection `id` stopped waiting (greeted, refused or gone). Whether it was waiting.
    pub(crate) fn leave(&mut self, id: u64) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|(w, _)| *w != id);
        self.waiting.len() != before
    }

    /// Connections waiting.
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Every waiting connection, emptying the pool (the server is closing).
    pub(crate) fn drain(&mut self) -> Vec<u64> {
        self.waiting.drain(..).map(|(id, _)| id).collect()
    }

    fn count(&self, ip: IpAddr) -> usize {
        self.waiting.iter().filter(|(_, a)| *a == ip).count()
    }

    /// The address with the most waiting connections; on a tie, the one whose oldest
    /// waits longest (the pool is small: a scan is cheaper than an index).
    fn busiest(&self) -> Option<IpAddr> {
        let mut best: Option<(usize, IpAddr)> = None;
        for (_, ip) in &self.waiting {
            let n = self.count(*ip);
            if best.is_none_or(|(m, _)| n > m) {
                best = Some((n, *ip));
            }
        }
        best.map(|(_, ip)| ip)
    }

    fn remove_oldest_of(&mut self, ip: IpAddr) -> Option<u64> {
        let at = self.waiting.iter().position(|(_, a)| *a == ip)?;
        self.waiting.remove(at).map(|(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
    }

    #[test]
    fn one_address_over_its_bound_displaces_its_own_oldest() {
        let mut pool = Admission::new(10, 3);
        for id in 0..3 {
            assert!(pool.arrive(id, ip(1)).is_empty());
        }
        assert!(pool.arrive(100, ip(2)).is_empty());
        // The fourth of address 1 displaces its oldest, not address 2's.
        assert_eq!(pool.arrive(3, ip(1)), [0]);
        assert_eq!(pool.arrive(4, ip(1)), [1]);
        assert_eq!(pool.len(), 4);
        assert!(!pool.leave(0), "displaced connections left the pool");
        assert!(pool.leave(100));
        assert_eq!(pool.len(), 3);
    }

    #[test]
    fn a_full_pool_displaces_from_the_busiest_address() {
        let mut pool = Admission::new(6, 4);
        // Address 2 arrives first and waits longest, but address 1 has more waiting.
        assert!(pool.arrive(200, ip(2)).is_empty());
        for id in 0..4 {
            assert!(pool.arrive(id, ip(1)).is_empty());
        }
        assert!(pool.arrive(300, ip(3)).is_empty());
        assert_eq!(pool.len(), 6);
        // A newcomer is never refused: it displaces address 1's oldest.
        assert_eq!(pool.arrive(400, ip(4)), [0]);
        assert_eq!(pool.arrive(401, ip(4)), [1]);
        // Now 1, 2, 3 and 4 have 2, 1, 1, 2: a tie goes to the address waiting longest.
        assert_eq!(pool.arrive(500, ip(5)), [2]);
        assert!(
            pool.leave(200),
            "the lone early connection of address 2 stayed"
        );
        assert!(pool.leave(300));
    }

    #[test]
    fn a_flood_from_one_address_never_displaces_the_others() {
        let mut pool = Admission::new(64, 16);
        assert!(pool.arrive(1_000_000, ip(9)).is_empty());
        for id in 0..10_000 {
            let displaced = pool.arrive(id, ip(1));
            assert!(
                displaced.iter().all(|d| *d < id),
                "only older flood connections"
            );
            assert!(pool.len() <= 17);
        }
        assert!(pool.leave(1_000_000));
    }

    #[test]
    fn bounds_of_zero_still_admit_the_newcomer() {
        let mut pool = Admission::new(0, 0);
        assert!(pool.arrive(1, ip(1)).is_empty());
        assert_eq!(pool.arrive(2, ip(2)), [1]);
        assert_eq!(pool.drain(), [2]);
        assert_eq!(pool.len(), 0);
    }
}

//! A connection's outgoing bytes, in order: RTSP answers and interleaved packets (`$`,
//! channel, 16-bit length, packet).
//!
//! Why not a queue to a writer task (as before): every frame's packets then woke each
//! client's task, a hand-off from the caller's thread to the runtime's per client per
//! frame, and were copied once more into the task's buffer. Here whoever hands bytes over
//! (the caller's thread for packets, the connection's task for answers) writes them
//! straight to the socket, gathered (one `writev` per frame per client) and without
//! blocking; what the socket does not take now waits here in order, bounded, and the
//! writer task ([`write_loop`]) sends it once the socket is writable again.

use std::collections::VecDeque;
use std::io::{ErrorKind, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::Notify;

/// At most this many answers wait for a client that sends requests and reads nothing.
const MAX_ANSWERS: usize = 64;

/// At most this many pieces go in one `writev` (two slices each; Linux takes 1 024).
const GATHER: usize = 64;

pub(crate) struct Outbox {
    socket: OwnedWriteHalf,
    pending: Mutex<Pending>,
    /// Wakes the writer task: bytes wait, or the connection ends.
    wake: Notify,
    /// The most packets that may wait.
    max_packets: usize,
}

#[derive(Default)]
struct Pending {
    pieces: VecDeque<Piece>,
    /// Packets among `pieces` (the rest are answers).
    packets: usize,
    /// The socket failed: nothing more is taken.
    failed: bool,
    /// The connection ends: what waits goes out, nothing more is taken.
    ending: bool,
}

/// An answer, or a packet with its interleaved header.
struct Piece {
    head: [u8; 4],
    head_len: usize,
    body: Bytes,
    /// Bytes of `head[..head_len]` then `body` already written.
    written: usize,
}

impl Piece {
    fn len(&self) -> usize {
        self.head_len + self.body.len()
    }

    /// What is left to write, as at most two slices.
    fn rest(&self) -> [&[u8]; 2] {
        if self.written < self.head_len {
            [&self.head[self.written..self.head_len], &self.body]
        } else {
            [&[], &self.body[self.written - self.head_len..]]
        }
    }
}

impl Outbox {
    pub(crate) fn new(socket: OwnedWriteHalf, max_packets: usize) -> Arc<Outbox> {
        Arc::new(Outbox {
            socket,
            pending: Mutex::default(),
            wake: Notify::new(),
            max_packets,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Pending> {
        // Every section leaves the queue whole: a poisoned lock is usable.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an answer; `false` when the connection can take no more (the socket failed,
    /// or too many answers wait unread).
    pub(crate) fn answer(&self, answer: Vec<u8>) -> bool {
        let mut pending = self.lock();
        let answers = pending.pieces.len() - pending.packets;
        if pending.failed || pending.ending || answers >= MAX_ANSWERS {
            return false;
        }
        pending.pieces.push_back(Piece {
            head: [0; 4],
            head_len: 0,
            body: Bytes::from(answer),
            written: 0,
        });
        self.flush(&mut pending);
        !pending.failed
    }

    /// Sends `packets` on interleaved `channel`, all or none: `false` when they do not
    /// fit in what may wait (the client reads too slowly) or the connection is gone.
    pub(crate) fn packets(&self, channel: u8, packets: &[Bytes]) -> bool {
        let mut pending = self.lock();
        if pending.failed || pending.ending || pending.packets + packets.len() > self.max_packets {
            return false;
        }
        for packet in packets {
            // A longer packet cannot be framed; it is cut, as the length says.
            let len = u16::try_from(packet.len()).unwrap_or(u16::MAX);
            let [hi, lo] = len.to_be_bytes();
            pending.pieces.push_back(Piece {
                head: [b'$', channel, hi, lo],
                head_len: 4,
                body: packet.slice(..usize::from(len)),
                written: 0,
            });
        }
        pending.packets += packets.len();
        self.flush(&mut pending);
        !pending.failed
    }

    /// Whether packets may wait again (a client that fell behind reads again).
    pub(crate) fn has_room(&self) -> bool {
        self.lock().packets < self.max_packets
    }

    /// The connection ends: what waits still goes out (the writer task ends then).
    pub(crate) fn finish(&self) {
        self.lock().ending = true;
        self.wake.notify_one();
    }

    /// Writes what waits until the socket takes no more; the writer task is woken for
    /// the rest.
    fn flush(&self, pending: &mut Pending) {
        while !pending.pieces.is_empty() && !pending.failed {
            let mut slices = [IoSlice::new(&[]); 2 * GATHER];
            for (i, piece) in pending.pieces.iter().take(GATHER).enumerate() {
                let [head, body] = piece.rest();
                slices[2 * i] = IoSlice::new(head);
                slices[2 * i + 1] = IoSlice::new(body);
            }
            let count = 2 * pending.pieces.len().min(GATHER);
            match self.socket.try_write_vectored(&slices[..count]) {
                Ok(0) => pending.fail(),
                Ok(n) => pending.consume(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    self.wake.notify_one();
                    return;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => pending.fail(),
            }
        }
    }
}

impl Pending {
    /// Drops the first `n` written bytes.
    fn consume(&mut self, mut n: usize) {
        while let Some(piece) = self.pieces.front_mut() {
            let left = piece.len() - piece.written;
            if n < left {
                piece.written += n;
                return;
            }
            n -= left;
            if piece.head_len > 0 {
                self.packets -= 1;
            }
            self.pieces.pop_front();
        }
    }

    fn fail(&mut self) {
        self.failed = true;
        self.pieces.clear();
        self.packets = 0;
    }
}

/// Sends what the socket did not take at once, whenever it is writable again; ends once
/// the connection ends and nothing waits (or the socket failed).
pub(crate) async fn write_loop(outbox: Arc<Outbox>) {
    loop {
        outbox.wake.notified().await;
        loop {
            {
                let mut pending = outbox.lock();
                outbox.flush(&mut pending);
                if pending.failed || (pending.ending && pending.pieces.is_empty()) {
                    return;
                }
                if pending.pieces.is_empty() {
                    break;
                }
            }
            if outbox.socket.writable().await.is_err() {
                outbox.lock().fail();
                return;
            }
        }
    }
}

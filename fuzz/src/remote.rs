//! media-remote's protocol targets: the sans-I/O `media_remote::Inbound` decoder on either
//! side (a server reading clients, a client reading a server) must never panic, and must
//! give the same events and error whatever the split of its input.

use std::time::Instant;

use media_remote::{Inbound, InboundEvent, Side};

/// Targets of this module.
pub const TARGETS: &[(&str, crate::Body)] = &[("remote_inbound", remote_inbound)];

/// First byte: bit 0 picks the side, the rest the read size; then the bytes of a connection.
pub fn remote_inbound(data: &[u8]) {
    let Some((&seed, data)) = data.split_first() else {
        return;
    };
    let side = if seed & 1 == 0 {
        Side::Server
    } else {
        Side::Client
    };
    let read = usize::from(seed >> 1) % 61 + 1;
    let whole = events(side, data, data.len().max(1));
    let split = events(side, data, read);
    assert_eq!(whole, split, "events depend on how the input was split");
}

/// Events up to the first error (and that error's text), feeding `read` bytes at a time.
fn events(side: Side, data: &[u8], read: usize) -> (Vec<InboundEvent>, Option<String>) {
    let mut inbound = Inbound::new(side);
    let mut out = Vec::new();
    let now = Instant::now();
    for piece in data.chunks(read) {
        inbound.push(piece);
        loop {
            match inbound.poll(now) {
                Ok(Some(event)) => out.push(event),
                Ok(None) => break,
                Err(e) => return (out, Some(e.to_string())),
            }
        }
    }
    let end = inbound.finish().err().map(|e| e.to_string());
    (out, end)
}

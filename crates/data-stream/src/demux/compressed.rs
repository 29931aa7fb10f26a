//! Inflation of raw-deflate (data streams v2) content as events are polled: one bounded
//! piece per poll, so a small compressed chunk that inflates to gigabytes (a deflate bomb)
//! never sits in memory, and the content checks fail such a stream at the first piece
//! past its total length or the stream size limit.

use std::sync::Arc;

use bytes::{Buf, Bytes};

use super::{Demultiplexer, Event, Queued, check_content};
use crate::Error;

/// Largest inflated piece handed out at once.
const MAX_PIECE: usize = 1 << 20;

impl Demultiplexer {
    /// Inflates the next piece of `input` for `stream_id`: a `Chunk` event, a `Failed`
    /// one, or `None` when this input gave nothing (more input needed, or the stream is
    /// gone or drained). Input left over goes back to the front of the queue.
    pub(super) fn inflate_next(&mut self, stream_id: Arc<str>, mut input: Bytes) -> Option<Event> {
        // Pieces as large as the chunk limit, but never a huge allocation when the limit
        // is set very high (media-remote allows large packets).
        let piece = self.limits.max_chunk_size.clamp(1, MAX_PIECE);
        loop {
            let s = self.streams.get_mut(&*stream_id)?;
            if !s.handled {
                // Drained streams are not inflated: nobody reads them.
                return None;
            }
            // One byte past the announced total is enough to see it exceeded.
            let room = match s.info.total_length {
                Some(total) => (total.saturating_sub(s.received) + 1).min(piece as u64) as usize,
                None => piece,
            };
            let inflated = s.inflater.as_mut()?.inflate(&input, room);
            let (consumed, out) = match inflated {
                Ok(step) => step,
                Err(message) => {
                    let error = Error::Decompression {
                        stream_id: stream_id.to_string(),
                        message,
                    };
                    return self.end_with_error(&stream_id, error);
                }
            };
            input.advance(consumed);
            if out.is_empty() {
                if consumed == 0 || input.is_empty() {
                    return None;
                }
                continue;
            }
            if let Some(error) = check_content(s, &self.limits, &out) {
                return self.end_with_error(&stream_id, error);
            }
            s.received += out.len() as u64;
            // A full piece may leave output inside the inflater even with no input left.
            if !input.is_empty() || out.len() == room {
                self.queue.push_front(Queued::Inflate {
                    stream_id: stream_id.clone(),
                    input,
                });
            }
            return Some(Event::Chunk {
                stream_id,
                content: out,
            });
        }
    }
}

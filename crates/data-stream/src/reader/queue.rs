//! The bounded queue between a connection driver and one [`super::StreamReader`].
//!
//! Why not `futures::channel::mpsc`: it wakes the other side on every message. With a
//! reader that keeps up (the usual case) every chunk then costs a thread wake-up and a
//! context switch (about one per 15 000-byte chunk in `benches/codec.rs`
//! `ours-tokio-duplex`, 324 k switches in 4.4 s, three quarters of the time). Here the
//! driver may queue a batch and wake the reader once ([`Queue::push_quiet`] then
//! [`Queue::wake_reader`]), the reader is woken at the latest when the queue is half full,
//! and a driver waiting for room is woken only once the queue has drained to half
//! (hysteresis), so a full reader does not ping-pong either.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

struct State<T> {
    items: VecDeque<T>,
    reader_waker: Option<Waker>,
    feed_waker: Option<Waker>,
    reader_gone: bool,
    feed_gone: bool,
    /// Items queued since the reader was last woken.
    unannounced: usize,
}

/// One end of the queue (both ends hold the same shared state).
pub(crate) struct Queue<T> {
    state: Arc<Mutex<State<T>>>,
    capacity: usize,
}

/// What a push did.
pub(crate) enum Pushed<T> {
    Queued,
    Full(T),
    ReaderGone,
}

impl<T> Queue<T> {
    /// Both ends of a queue of `capacity` items (at least 1).
    pub(crate) fn pair(capacity: usize) -> (Queue<T>, Queue<T>) {
        let capacity = capacity.max(1);
        let state = Arc::new(Mutex::new(State {
            items: VecDeque::with_capacity(capacity),
            reader_waker: None,
            feed_waker: None,
            reader_gone: false,
            feed_gone: false,
            unannounced: 0,
        }));
        let feed = Queue {
            state: state.clone(),
            capacity,
        };
        (feed, Queue { state, capacity })
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // Every section is short and leaves the state whole: a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `item` if there is room, waking the reader only when half the queue waits
    /// unannounced (call [`Queue::wake_reader`] after a batch).
    pub(crate) fn push_quiet(&self, item: T) -> Pushed<T> {
        let mut state = self.lock();
        if state.reader_gone {
            return Pushed::ReaderGone;
        }
        if state.items.len() >= self.capacity {
            return Pushed::Full(item);
        }
        state.items.push_back(item);
        state.unannounced += 1;
        if state.unannounced * 2 >= self.capacity {
            Self::announce(&mut state);
        }
        Pushed::Queued
    }

    /// Queues `item` even when the queue is full (an end message) and wakes the reader.
    pub(crate) fn push_last(&self, item: T) {
        let mut state = self.lock();
        if !state.reader_gone {
            state.items.push_back(item);
            Self::announce(&mut state);
        }
    }

    /// Wakes the reader if items wait unannounced.
    pub(crate) fn wake_reader(&self) {
        let mut state = self.lock();
        if state.unannounced > 0 {
            Self::announce(&mut state);
        }
    }

    fn announce(state: &mut State<T>) {
        state.unannounced = 0;
        if let Some(waker) = state.reader_waker.take() {
            waker.wake();
        }
    }

    /// Queues `item` once there is room; `Ready(false)` when the reader is gone. A
    /// waiting driver wakes the reader first, so the two cannot wait for each other.
    pub(crate) fn poll_push(&self, cx: &mut Context<'_>, item: &mut Option<T>) -> Poll<bool> {
        let mut state = self.lock();
        if state.reader_gone {
            return Poll::Ready(false);
        }
        if state.items.len() < self.capacity {
            if let Some(item) = item.take() {
                state.items.push_back(item);
                Self::announce(&mut state);
            }
            return Poll::Ready(true);
        }
        state.feed_waker = Some(cx.waker().clone());
        Self::announce(&mut state);
        Poll::Pending
    }

    /// Ready once the queue has room again (or the reader is gone): what a futures
    /// `send().await` waited for after queueing (its flush), so a driver that ends a stream
    /// waits until the reader has caught up rather than run ahead to the next stream.
    pub(crate) fn poll_room(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if state.reader_gone || state.items.len() < self.capacity {
            return Poll::Ready(());
        }
        state.feed_waker = Some(cx.waker().clone());
        Self::announce(&mut state);
        Poll::Pending
    }

    /// The next item; `Ready(None)` when the feed is gone and the queue empty.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut state = self.lock();
        match state.items.pop_front() {
            Some(item) => {
                // Wake a waiting driver once half the room is free, not per item.
                if state.items.len() * 2 <= self.capacity
                    && let Some(waker) = state.feed_waker.take()
                {
                    waker.wake();
                }
                Poll::Ready(Some(item))
            }
            None if state.feed_gone => Poll::Ready(None),
            None => {
                state.reader_waker = Some(cx.waker().clone());
                if let Some(waker) = state.feed_waker.take() {
                    waker.wake();
                }
                Poll::Pending
            }
        }
    }

    /// This end is dropped: the reader side (`reader == true`) or the feed side.
    pub(crate) fn close(&self, reader: bool) {
        let mut state = self.lock();
        if reader {
            state.reader_gone = true;
            state.items.clear();
            if let Some(waker) = state.feed_waker.take() {
                waker.wake();
            }
        } else {
            state.feed_gone = true;
            Self::announce(&mut state);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use super::{Pushed, Queue};

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn a_batch_wakes_the_reader_once_and_a_full_queue_wakes_the_driver_at_half() {
        let (feed, reader) = Queue::<u32>::pair(8);
        let (reader_wakes, reader_waker) = counting();
        let mut cx = Context::from_waker(&reader_waker);
        assert!(reader.poll_pop(&mut cx).is_pending());
        for i in 0..3 {
            assert!(matches!(feed.push_quiet(i), Pushed::Queued));
        }
        assert_eq!(reader_wakes.0.load(Ordering::SeqCst), 0, "not per item");
        feed.wake_reader();
        assert_eq!(reader_wakes.0.load(Ordering::SeqCst), 1);
        // Half the queue unannounced wakes the reader without wake_reader.
        assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(Some(0))));
        assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(Some(1))));
        assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(Some(2))));
        assert!(reader.poll_pop(&mut cx).is_pending());
        for i in 0..4 {
            assert!(matches!(feed.push_quiet(i), Pushed::Queued));
        }
        assert_eq!(reader_wakes.0.load(Ordering::SeqCst), 2);
        for i in 4..8 {
            assert!(matches!(feed.push_quiet(i), Pushed::Queued));
        }
        assert!(matches!(feed.push_quiet(8), Pushed::Full(8)));
        // The driver waits for room; it is woken once half the queue is free, not per item.
        let (feed_wakes, feed_waker) = counting();
        let mut feed_cx = Context::from_waker(&feed_waker);
        let mut item = Some(8);
        assert!(feed.poll_push(&mut feed_cx, &mut item).is_pending());
        for expected in 0..3 {
            assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(Some(n)) if n == expected));
            assert_eq!(feed_wakes.0.load(Ordering::SeqCst), 0);
        }
        assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(Some(3))));
        assert_eq!(feed_wakes.0.load(Ordering::SeqCst), 1);
        assert!(matches!(
            feed.poll_push(&mut feed_cx, &mut item),
            Poll::Ready(true)
        ));
        // The feed gone: the rest is read, then the end.
        feed.close(false);
        for expected in 4..=8 {
            assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(Some(n)) if n == expected));
        }
        assert!(matches!(reader.poll_pop(&mut cx), Poll::Ready(None)));
    }
}

//! The bounded queue between the writers of one connection and its transport driver:
//! many senders ([`super::Outgoing`] and its writers), one [`OutgoingFrames`].
//!
//! Why not `futures::channel::mpsc` (used before): it allocates a node per message and,
//! with a transport slower than the writers (the usual case: the transport copies every
//! byte, a writer only slices), every frame the driver takes wakes a waiting writer, so
//! writer and driver hand a core back and forth once per chunk (`benches/codec.rs`
//! `ours-tokio-duplex`). Here the queue is a `VecDeque` reused for the whole connection,
//! and waiting writers are woken once the queue has drained to half (hysteresis), as the
//! reader side does (`reader/queue.rs`).

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures::Stream;
pub use futures::channel::mpsc::TryRecvError;

use crate::packet::Frame;

struct State {
    frames: VecDeque<Frame>,
    /// The driver waiting for a frame.
    driver_waker: Option<Waker>,
    /// Senders waiting for room.
    sender_wakers: Vec<Waker>,
    senders: usize,
    driver_gone: bool,
}

struct Shared {
    state: Mutex<State>,
    capacity: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every section is short and leaves the state whole: a poisoned lock is usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A sending end (cloned for every writer).
pub(crate) struct FrameSender {
    shared: Arc<Shared>,
}

/// Frames waiting for the transport, in send order: a [`Stream`] that ends once every
/// [`Outgoing`](super::Outgoing) handle and writer is gone and the queue is drained. Drain
/// it and write each frame with its 4-byte length prefix ([`Frame::write_framed`]) or as
/// one message.
pub struct OutgoingFrames {
    shared: Arc<Shared>,
    /// Senders to wake once the lock is released; reused (taking the queue's `Vec`
    /// instead would leave it to be allocated again at the next wait).
    waking: Vec<Waker>,
}

/// Both ends of a queue holding at most `capacity` frames (at least 1), plus the end
/// frames of dropped writers.
pub(crate) fn channel(capacity: usize) -> (FrameSender, OutgoingFrames) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            frames: VecDeque::with_capacity(capacity),
            driver_waker: None,
            sender_wakers: Vec::new(),
            senders: 1,
            driver_gone: false,
        }),
        capacity,
    });
    (
        FrameSender {
            shared: shared.clone(),
        },
        OutgoingFrames {
            shared,
            waking: Vec::new(),
        },
    )
}

impl FrameSender {
    /// Ready(true) once there is room; Ready(false) when the driver is gone.
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut state = self.shared.lock();
        if state.driver_gone {
            return Poll::Ready(false);
        }
        if state.frames.len() < self.shared.capacity {
            return Poll::Ready(true);
        }
        if !state.sender_wakers.iter().any(|w| w.will_wake(cx.waker())) {
            state.sender_wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Queues `frame` (room or not: call after [`FrameSender::poll_ready`], or for a
    /// writer's last frame); false when the driver is gone.
    pub(crate) fn push(&self, frame: Frame) -> bool {
        let mut state = self.shared.lock();
        if state.driver_gone {
            return false;
        }
        state.frames.push_back(frame);
        if let Some(waker) = state.driver_waker.take() {
            drop(state);
            waker.wake();
        }
        true
    }
}

impl Clone for FrameSender {
    fn clone(&self) -> Self {
        self.shared.lock().senders += 1;
        FrameSender {
            shared: self.shared.clone(),
        }
    }
}

impl Drop for FrameSender {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.senders -= 1;
        if state.senders == 0
            && let Some(waker) = state.driver_waker.take()
        {
            drop(state);
            waker.wake();
        }
    }
}

impl OutgoingFrames {
    /// The next frame if one is queued: [`TryRecvError::Empty`] when none is yet,
    /// [`TryRecvError::Closed`] when none will come.
    pub fn try_recv(&mut self) -> Result<Frame, TryRecvError> {
        let frame = {
            let mut state = self.shared.lock();
            match state.frames.pop_front() {
                Some(frame) => {
                    room_made(&mut state, self.shared.capacity, &mut self.waking);
                    frame
                }
                None if state.senders == 0 => return Err(TryRecvError::Closed),
                None => return Err(TryRecvError::Empty),
            }
        };
        self.waking.drain(..).for_each(Waker::wake);
        Ok(frame)
    }
}

/// Moves the waiting senders to `waking` once the queue has drained to half.
fn room_made(state: &mut State, capacity: usize, waking: &mut Vec<Waker>) {
    if state.frames.len() * 2 <= capacity {
        waking.append(&mut state.sender_wakers);
    }
}

impl Stream for OutgoingFrames {
    type Item = Frame;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let this = self.get_mut();
        let item = {
            let mut state = this.shared.lock();
            match state.frames.pop_front() {
                Some(frame) => {
                    room_made(&mut state, this.shared.capacity, &mut this.waking);
                    Poll::Ready(Some(frame))
                }
                None if state.senders == 0 => Poll::Ready(None),
                None => {
                    state.driver_waker = Some(cx.waker().clone());
                    // Empty: every waiting sender has room.
                    this.waking.append(&mut state.sender_wakers);
                    Poll::Pending
                }
            }
        };
        this.waking.drain(..).for_each(Waker::wake);
        item
    }
}

impl Drop for OutgoingFrames {
    fn drop(&mut self) {
        let wake = {
            let mut state = self.shared.lock();
            state.driver_gone = true;
            state.frames.clear();
            std::mem::take(&mut state.sender_wakers)
        };
        wake.into_iter().for_each(Waker::wake);
    }
}

impl std::fmt::Debug for OutgoingFrames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("OutgoingFrames")
            .field("queued", &state.frames.len())
            .field("senders", &state.senders)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Context, Poll, Wake, Waker};

    use bytes::Bytes;
    use futures::StreamExt;

    use super::{TryRecvError, channel};
    use crate::packet::Frame;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn frame(n: u8) -> Frame {
        Frame {
            head: Bytes::from(vec![n]),
            body: Bytes::new(),
        }
    }

    #[test]
    fn a_full_queue_wakes_its_senders_once_at_half() {
        let (tx, mut rx) = channel(8);
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        for n in 0..8 {
            assert_eq!(tx.poll_ready(&mut cx), Poll::Ready(true));
            assert!(tx.push(frame(n)));
        }
        assert_eq!(tx.poll_ready(&mut cx), Poll::Pending);
        for n in 0..3 {
            assert_eq!(rx.try_recv().unwrap().head[0], n);
            assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "not per frame");
        }
        assert_eq!(rx.try_recv().unwrap().head[0], 3);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(tx.poll_ready(&mut cx), Poll::Ready(true));
        // A last frame goes in even when full; the queue ends once the senders are gone.
        let last = tx.clone();
        drop(tx);
        assert!(last.push(frame(9)));
        drop(last);
        let rest: Vec<u8> = futures::executor::block_on(rx.by_ref().map(|f| f.head[0]).collect());
        assert_eq!(rest, [4, 5, 6, 7, 9]);
        assert!(matches!(rx.try_recv(), Err(TryRecvError::Closed)));
    }

    #[test]
    fn a_dropped_driver_refuses_frames_and_frees_waiting_senders() {
        let (tx, rx) = channel(1);
        let wakes = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(wakes.clone());
        let mut cx = Context::from_waker(&waker);
        assert!(tx.push(frame(0)));
        assert_eq!(tx.poll_ready(&mut cx), Poll::Pending);
        drop(rx);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(tx.poll_ready(&mut cx), Poll::Ready(false));
        assert!(!tx.push(frame(1)));
    }
}

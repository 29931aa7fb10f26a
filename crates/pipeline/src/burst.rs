//! Handling a live input in bursts ([`Options::burst`](crate::Options::burst)).
//!
//! A camera's packets arrive a few hundred times a second, and waking a thread for each
//! costs more than handling it: on this project's 2-core VM, recording 720p over TCP with
//! one wake-up per packet cost about 0.5 CPU s per minute, most of it in the scheduler
//! (`finish_task_switch`, `epoll_wait`, futex wake-ups between the source and the
//! recorder). Sleeping whenever nothing is ready lets the packets of the next
//! `pause` gather in the socket buffer, to be read and written together: about 20 wake-ups
//! a second, half the CPU. The sleep blocks its thread, so the source gets a thread and a
//! current-thread runtime of its own, and the caller's runtime is never blocked.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};

use crate::source::{self, InputEvent};
use crate::{Endpoint, Error, Options};

/// Runs the source of `input` on a new thread with its own runtime; the receiver
/// completes when the source has ended.
pub(crate) fn spawn_source(
    input: Endpoint,
    options: Options,
    tx: mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
    pause: Duration,
) -> oneshot::Receiver<()> {
    let (done_tx, done_rx) = oneshot::channel();
    let name = input.to_string();
    let thread_tx = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("pipeline-source".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(source::run(input, options, thread_tx, stop, Some(pause))),
                Err(e) => fail(&thread_tx, &name, &e),
            }
            let _ = done_tx.send(());
        });
    if let Err(e) = spawned {
        // `done_tx` went with the closure: the receiver completes at once.
        fail(&tx, "source thread", &e);
    }
    done_rx
}

fn fail(tx: &mpsc::Sender<InputEvent>, input: &str, e: &std::io::Error) {
    let _ = tx.try_send(InputEvent::End(Err(Error::Input {
        input: input.to_owned(),
        reason: format!("cannot start the source thread: {e}"),
    })));
}

/// Awaits `next`. With a `pause`, when `next` is not ready at once this thread first
/// sleeps for `pause` (only on a thread of its own: see the module docs).
pub(crate) async fn after_pause<F: Future>(next: F, pause: Option<Duration>) -> F::Output {
    let mut next = std::pin::pin!(next);
    if let Some(pause) = pause {
        if let Poll::Ready(out) = futures::poll!(next.as_mut()) {
            return out;
        }
        std::thread::sleep(pause);
    }
    next.await
}

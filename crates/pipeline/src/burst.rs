//! Handling a live input in bursts ([`Options::burst`](crate::Options::burst)).
//!
//! A camera's packets arrive a few hundred times a second, and waking a thread for each
//! costs more than handling it: on this project's 2-core VM, recording 720p over TCP with
//! one wake-up per packet cost about 0.5 CPU s per minute, most of it in the scheduler
//! (`finish_task_switch`, `epoll_wait`, futex wake-ups between the source and the
//! recorder). Sleeping whenever nothing is ready lets the packets of the next
//! `pause` gather in the socket buffer, to be read and written together: with 50 ms,
//! about 20 wake-ups a second and half the CPU; with 200 ms (the default since
//! 2026-12-04), about 5 and half of that again (pipeline-cli README). The sleep blocks
//! its thread, so the source gets a thread and a current-thread runtime of its own, and
//! the caller's runtime is never blocked.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use tokio::sync::oneshot;

/// Runs `source` on a thread and current-thread runtime of its own; the receiver
/// completes when it has ended.
pub(crate) fn spawn_on_own_thread(
    source: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<oneshot::Receiver<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (done_tx, done_rx) = oneshot::channel();
    std::thread::Builder::new()
        .name("pipeline-source".into())
        .spawn(move || {
            runtime.block_on(source);
            let _ = done_tx.send(());
        })?;
    Ok(done_rx)
}

/// Awaits `next`; with a `pause`, sleeps that long first whenever it is not ready at once
/// (polled once, then awaited: the future is never dropped half-way).
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

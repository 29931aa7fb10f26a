//! `tcp://HOST:PORT`: live packets from a `tcp-listen://` packet server.

use tokio::sync::{mpsc, watch};

use crate::contract::InputEvent;
use crate::{Error, Options};

/// Connects, plays, and forwards the server's packets until it says goodbye.
pub(crate) async fn run(
    addr: &str,
    options: &Options,
    tx: &mpsc::Sender<InputEvent>,
    stop: watch::Receiver<bool>,
) -> Result<(), Error> {
    crate::remote::run_source(addr, options, tx, stop).await
}

//! `tcp-listen://ADDR:PORT`: a live packet server that network clients play from.

use crate::contract::SinkFactory;
use crate::{Error, Options};

/// Binds the server; each input stream becomes a recording its clients receive.
pub(crate) fn factory(addr: &str, options: &Options) -> Result<Box<dyn SinkFactory>, Error> {
    Ok(Box::new(crate::remote::ListenFactory::bind(addr, options)?))
}

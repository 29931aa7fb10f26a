//! What a connection's writer sends: RTSP answers and interleaved packets.

use bytes::Bytes;

use crate::handler::Reply;

/// What the writer task sends.
pub(crate) enum Out {
    /// An RTSP response.
    Response(Vec<u8>),
    /// An interleaved packet on a channel.
    Data(u8, Bytes),
}

pub(crate) fn bytes_of(response: &Reply) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + response.body().len());
    // Writing into a Vec cannot fail.
    let _ = response.write(&mut out);
    out
}

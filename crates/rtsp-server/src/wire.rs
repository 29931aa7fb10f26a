//! An RTSP answer as the bytes a connection sends.

use crate::handler::Reply;

pub(crate) fn bytes_of(response: &Reply) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + response.body().len());
    // Writing into a Vec cannot fail.
    let _ = response.write(&mut out);
    out
}

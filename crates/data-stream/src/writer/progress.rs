//! What the sending side reports and negotiates: send progress (as LiveKit JS's
//! `onProgress`) and the v2 capability gate.

use std::sync::Arc;

/// Bytes of content queued for the transport, of the total, before compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SendProgress {
    /// Content bytes queued so far (before compression).
    pub sent: u64,
    /// The stream's total length (`None` = unknown).
    pub total: Option<u64>,
}

impl SendProgress {
    /// Fraction done in `[0, 1]`, when the total is known (an empty stream is done).
    pub fn fraction(&self) -> Option<f64> {
        self.total.map(|t| match t {
            0 => 1.0,
            t => (self.sent as f64 / t as f64).min(1.0),
        })
    }
}

/// A progress callback, called on the sending task after each chunk is queued. Keep it
/// short: it runs between chunks.
#[derive(Clone)]
pub struct OnProgress(Arc<dyn Fn(SendProgress) + Send + Sync>);

impl OnProgress {
    /// Wraps a callback.
    pub fn new(f: impl Fn(SendProgress) + Send + Sync + 'static) -> Self {
        OnProgress(Arc::new(f))
    }

    pub(crate) fn call(&self, sent: u64, total: Option<u64>) {
        (self.0)(SendProgress { sent, total });
    }
}

impl std::fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnProgress(..)")
    }
}

/// What every recipient of a connection supports of data streams v2, decided as LiveKit
/// does (client-sdk-js `OutgoingDataStreamManager`: `allRecipientsSupportV2`,
/// `allRecipientsSupportCompression`): single-packet streams when every recipient's client
/// protocol is at least [`V2Support::CLIENT_PROTOCOL_DATA_STREAM_V2`], and raw-deflate
/// compression when moreover every one advertises
/// [`V2Support::CAP_COMPRESSION_DEFLATE_RAW`] (`ClientInfo.capabilities`, or
/// `ParticipantInfo.capabilities` of others). No recipient at all is eligible. Build it
/// with [`V2Support::all`], [`V2Support::of_recipients`], or `default()` (nothing) and
/// fields set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct V2Support {
    /// Single-packet streams (`inline_content`).
    pub single_packet: bool,
    /// Raw-deflate compression (`compression = DEFLATE_RAW`).
    pub deflate_raw: bool,
}

impl V2Support {
    /// `ClientInfo.protocol` / `ParticipantInfo.client_protocol` of data streams v2
    /// (client-sdk-js `src/version.ts`).
    pub const CLIENT_PROTOCOL_DATA_STREAM_V2: i32 = 2;
    /// `ClientInfo.Capability.CAP_COMPRESSION_DEFLATE_RAW` (`livekit_models.proto`).
    pub const CAP_COMPRESSION_DEFLATE_RAW: i32 = 2;

    /// Everything (every recipient is a current LiveKit SDK, or this crate).
    pub fn all() -> Self {
        V2Support {
            single_packet: true,
            deflate_raw: true,
        }
    }

    /// The gate over recipients given as (client protocol, capabilities).
    pub fn of_recipients<'a>(recipients: impl IntoIterator<Item = (i32, &'a [i32])>) -> Self {
        let mut support = V2Support::all();
        for (protocol, capabilities) in recipients {
            if protocol < Self::CLIENT_PROTOCOL_DATA_STREAM_V2 {
                support = V2Support::default();
            }
            if !capabilities.contains(&Self::CAP_COMPRESSION_DEFLATE_RAW) {
                support.deflate_raw = false;
            }
        }
        support
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_needs_every_recipient_on_v2_with_the_capability() {
        assert_eq!(V2Support::of_recipients([]), V2Support::all());
        let v2_cap: &[i32] = &[1, 2];
        let v2_nocap: &[i32] = &[1];
        assert_eq!(
            V2Support::of_recipients([(2, v2_cap), (3, v2_cap)]),
            V2Support::all()
        );
        let inline_only = V2Support {
            single_packet: true,
            deflate_raw: false,
        };
        assert_eq!(
            V2Support::of_recipients([(2, v2_cap), (2, v2_nocap)]),
            inline_only
        );
        // A v1 client with the capability bit still gets v1.
        assert_eq!(
            V2Support::of_recipients([(2, v2_cap), (1, v2_cap)]),
            V2Support::default()
        );
    }
}

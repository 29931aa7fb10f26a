//! A frame cut into RTP payloads once for every session that sends it. str0m's own
//! packetizer runs inside each session: every viewer scanned the same H.264 frame for
//! start codes and copied each of its packets into buffers of its own (the packetizer
//! and those allocations were a third of what one viewer cost, `perf`). Here the frame
//! is cut once, on the first write, and every session hands the same `Arc` payloads to
//! str0m's direct API (`StreamTx::write_rtp`), which only adds the header and SRTP.
//!
//! H.264 and H.265 go through `rtp_media::nal_payloads` (RFC 6184 mode 1, RFC 7798),
//! Opus and G.711 need no cut; VP8, VP9 and AV1 stay with str0m's packetizers (their
//! payload descriptors carry picture state that str0m keeps per stream).

use std::borrow::Cow;
use std::sync::Arc;

use rtp_media::Format;

use crate::annex_b::split_annex_b;

/// The largest RTP payload: str0m's datagram target (1 150 bytes) less the SRTP tag
/// (16), rounded down to the AES block as str0m's own packetizer does (so packets are
/// the size they were before this module).
pub(crate) const MAX_PAYLOAD: usize =
    (str0m::DATAGRAM_MTU_TARGET - SRTP_TAG) / SRTP_BLOCK * SRTP_BLOCK;
const SRTP_TAG: usize = 16;
const SRTP_BLOCK: usize = 16;

/// How a codec's frames are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Annex B access units, NAL units in packets or fragments (`rtp_media::Format`).
    Nal(Format),
    /// One payload per frame (Opus: a packet is at most 1 275 bytes).
    Whole,
    /// Cut anywhere, one byte a sample (G.711): each piece's time moves on by its length.
    Samples,
}

/// One RTP payload of a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Payload {
    pub(crate) data: Arc<[u8]>,
    /// The frame's last packet (video: the marker bit).
    pub(crate) last: bool,
    /// Its RTP time after the frame's (G.711 pieces).
    pub(crate) time_offset: u32,
}

/// A frame's payloads and how they were cut.
#[derive(Debug)]
pub(crate) struct Payloads {
    cut: Cut,
    list: Vec<Payload>,
}

impl Payloads {
    /// The payloads if they were cut `cut`'s way.
    pub(crate) fn get(&self, cut: Cut) -> Option<&[Payload]> {
        (self.cut == cut).then_some(&self.list[..])
    }

    /// `data` (a whole frame) cut `cut`'s way.
    pub(crate) fn new(cut: Cut, data: &Arc<[u8]>) -> Payloads {
        let list = match cut {
            Cut::Nal(format) => nal_units(format, data),
            Cut::Samples if data.len() > MAX_PAYLOAD => {
                let count = data.len().div_ceil(MAX_PAYLOAD);
                data.chunks(MAX_PAYLOAD)
                    .enumerate()
                    .map(|(i, piece)| Payload {
                        data: piece.into(),
                        last: i + 1 == count,
                        time_offset: (i * MAX_PAYLOAD) as u32,
                    })
                    .collect()
            }
            // One payload, the frame's own `Arc`: no copy at all.
            Cut::Whole | Cut::Samples => vec![Payload {
                data: data.clone(),
                last: true,
                time_offset: 0,
            }],
        };
        Payloads { cut, list }
    }

    /// Cut now, not kept (a frame that was cut another way first).
    pub(crate) fn once(cut: Cut, data: &Arc<[u8]>) -> Cow<'static, [Payload]> {
        Cow::Owned(Payloads::new(cut, data).list)
    }
}

/// An Annex B access unit's payloads. Access unit delimiters and filler data are left
/// out (as str0m's packetizer does): a receiver has no use for them. Bytes without any
/// start code are taken as one NAL unit, as str0m's packetizer takes them.
fn nal_units(format: Format, data: &[u8]) -> Vec<Payload> {
    let skip = |unit: &[u8]| match (format, unit.first()) {
        (Format::H265, Some(h)) => matches!((h >> 1) & 0x3f, 35 | 38),
        (_, Some(h)) => matches!(h & 0x1f, 9 | 12),
        (_, None) => true,
    };
    let mut units = split_annex_b(data).peekable();
    let bare = units.peek().is_none();
    let units = units.chain(bare.then_some(data));
    let mut list: Vec<Payload> = Vec::with_capacity(data.len() / MAX_PAYLOAD + 4);
    for unit in units.filter(|u| !skip(u)) {
        for piece in rtp_media::nal_payloads(format, unit, MAX_PAYLOAD) {
            let data = if piece.head().is_empty() {
                Arc::from(piece.body)
            } else {
                // One allocation (an exact-size iterator), filled by two copies: the bytes
                // through a chained iterator were copied one by one (2.5 % of a viewer).
                let mut data: Arc<[u8]> = std::iter::repeat_n(0, piece.len()).collect();
                if let Some(buf) = Arc::get_mut(&mut data) {
                    let (head, body) = buf.split_at_mut(piece.head().len());
                    head.copy_from_slice(piece.head());
                    body.copy_from_slice(piece.body);
                }
                data
            };
            list.push(Payload {
                data,
                last: false,
                time_offset: 0,
            });
        }
    }
    if let Some(last) = list.last_mut() {
        last.last = true;
    }
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annex_b(units: &[&[u8]]) -> Arc<[u8]> {
        let mut out = Vec::new();
        for unit in units {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(unit);
        }
        out.into()
    }

    #[test]
    fn an_h264_frame_in_units_and_fragments_with_the_last_marked() {
        let idr: Vec<u8> = std::iter::once(0x65).chain([7; 3000]).collect();
        let frame = annex_b(&[&[0x09, 0xf0], &[0x67, 1, 2], &[0x68, 3], &idr]);
        let payloads = Payloads::new(Cut::Nal(Format::H264), &frame);
        let list = payloads.get(Cut::Nal(Format::H264)).unwrap();
        // The delimiter left out; SPS and PPS whole; the IDR in three fragments.
        assert_eq!(&*list[0].data, &[0x67, 1, 2]);
        assert_eq!(&*list[1].data, &[0x68, 3]);
        assert_eq!(list.len(), 5);
        assert!(list.iter().all(|p| p.data.len() <= MAX_PAYLOAD));
        assert_eq!(list.iter().filter(|p| p.last).count(), 1);
        assert!(list[4].last);
        assert_eq!(list[2].data[..2], [0x7c, 0x85], "FU-A start of an IDR");
        assert_eq!(list[4].data[1], 0x45, "FU-A end");
        assert!(payloads.get(Cut::Nal(Format::H265)).is_none());
        // A NAL unit without a start code goes as it is; nothing gives nothing.
        let bare: Arc<[u8]> = vec![0x41, 1, 2, 3].into();
        let list = Payloads::new(Cut::Nal(Format::H264), &bare).list;
        assert_eq!(&*list[0].data, &[0x41, 1, 2, 3]);
        assert!(list[0].last);
        assert!(
            Payloads::new(Cut::Nal(Format::H264), &Arc::from(&[][..]))
                .list
                .is_empty()
        );
        assert_eq!(MAX_PAYLOAD, 1120);
    }

    #[test]
    fn audio_is_shared_whole_and_long_g711_moves_its_time_on() {
        let opus: Arc<[u8]> = vec![1; 200].into();
        let list = Payloads::new(Cut::Whole, &opus).list;
        assert!(Arc::ptr_eq(&list[0].data, &opus) && list[0].last);
        let pcm: Arc<[u8]> = vec![2; 2400].into();
        let list = Payloads::new(Cut::Samples, &pcm).list;
        let offsets: Vec<u32> = list.iter().map(|p| p.time_offset).collect();
        assert_eq!(offsets, [0, 1120, 2240]);
        assert_eq!(list.iter().map(|p| p.data.len()).sum::<usize>(), 2400);
        assert!(list[2].last && !list[0].last);
    }
}

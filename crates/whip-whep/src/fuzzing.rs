//! Entry points for the fuzz targets (`fuzz/`): what the clients read from a server that
//! is not private API otherwise, and the cut of frames into RTP payloads. Not a stable
//! API.

/// Parses `buf` as an HTTP response the way a client reads one (`closed`: the server
/// closed the connection after these bytes). Returns whether a whole response was read.
pub fn parse_response(buf: &[u8], closed: bool) -> bool {
    crate::signalling::parse_response(buf, closed).is_ok_and(|r| r.is_some())
}

/// Cuts `data` as a frame of each codec the WHEP server cuts itself (H.264, H.265 from
/// Annex B; G.711; Opus) and checks what a receiver relies on: every payload fits the
/// datagram (but a whole Opus packet), the last one alone is marked, a G.711 frame's
/// pieces cover it in order. Panics when one does not hold.
pub fn cut_frame(data: &[u8]) {
    use crate::payloads::{Cut, MAX_PAYLOAD, Payloads};
    let data: std::sync::Arc<[u8]> = data.into();
    for cut in [
        Cut::Nal(rtp_media::Format::H264),
        Cut::Nal(rtp_media::Format::H265),
        Cut::Samples,
        Cut::Whole,
    ] {
        let payloads = Payloads::new(cut, &data);
        let Some(list) = payloads.get(cut) else {
            panic!("cut one way, kept another");
        };
        let marked = list.iter().filter(|p| p.last).count();
        assert!(list.last().is_none_or(|p| p.last) && marked <= 1, "{cut:?}");
        if cut != Cut::Whole {
            assert!(list.iter().all(|p| p.data.len() <= MAX_PAYLOAD), "{cut:?}");
        }
        if cut == Cut::Samples {
            let joined: Vec<u8> = list.iter().flat_map(|p| p.data.iter().copied()).collect();
            assert_eq!(joined, &data[..]);
            let mut at = 0;
            for p in list {
                assert_eq!(p.time_offset as usize, at);
                at += p.data.len();
            }
        }
    }
}

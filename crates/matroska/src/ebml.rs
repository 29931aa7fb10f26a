//! EBML (RFC 8794) as the writer needs it: element IDs written as their own bytes (the
//! length marker is part of the ID), sizes as variable-size integers (§4), and the few
//! element types Matroska uses (unsigned integer, float, string, binary, master, Void).

/// Element IDs of RFC 9559 (Matroska) and RFC 8794 (EBML) that the writer uses.
pub(crate) mod id {
    pub(crate) const EBML: u32 = 0x1A45_DFA3;
    pub(crate) const EBML_VERSION: u32 = 0x4286;
    pub(crate) const EBML_READ_VERSION: u32 = 0x42F7;
    pub(crate) const EBML_MAX_ID_LENGTH: u32 = 0x42F2;
    pub(crate) const EBML_MAX_SIZE_LENGTH: u32 = 0x42F3;
    pub(crate) const DOC_TYPE: u32 = 0x4282;
    pub(crate) const DOC_TYPE_VERSION: u32 = 0x4287;
    pub(crate) const DOC_TYPE_READ_VERSION: u32 = 0x4285;
    pub(crate) const VOID: u32 = 0xEC;

    pub(crate) const SEGMENT: u32 = 0x1853_8067;
    pub(crate) const SEEK_HEAD: u32 = 0x114D_9B74;
    pub(crate) const SEEK: u32 = 0x4DBB;
    pub(crate) const SEEK_ID: u32 = 0x53AB;
    pub(crate) const SEEK_POSITION: u32 = 0x53AC;

    pub(crate) const INFO: u32 = 0x1549_A966;
    pub(crate) const TIMESTAMP_SCALE: u32 = 0x2A_D7B1;
    pub(crate) const DURATION: u32 = 0x4489;
    pub(crate) const DATE_UTC: u32 = 0x4461;
    pub(crate) const MUXING_APP: u32 = 0x4D80;
    pub(crate) const WRITING_APP: u32 = 0x5741;

    pub(crate) const TRACKS: u32 = 0x1654_AE6B;
    pub(crate) const TRACK_ENTRY: u32 = 0xAE;
    pub(crate) const TRACK_NUMBER: u32 = 0xD7;
    pub(crate) const TRACK_UID: u32 = 0x73C5;
    pub(crate) const TRACK_TYPE: u32 = 0x83;
    pub(crate) const FLAG_LACING: u32 = 0x9C;
    pub(crate) const LANGUAGE: u32 = 0x22_B59C;
    pub(crate) const CODEC_ID: u32 = 0x86;
    pub(crate) const CODEC_PRIVATE: u32 = 0x63A2;
    pub(crate) const CODEC_DELAY: u32 = 0x56AA;
    pub(crate) const SEEK_PRE_ROLL: u32 = 0x56BB;
    pub(crate) const VIDEO: u32 = 0xE0;
    pub(crate) const PIXEL_WIDTH: u32 = 0xB0;
    pub(crate) const PIXEL_HEIGHT: u32 = 0xBA;
    pub(crate) const DISPLAY_WIDTH: u32 = 0x54B0;
    pub(crate) const DISPLAY_HEIGHT: u32 = 0x54BA;
    pub(crate) const AUDIO: u32 = 0xE1;
    pub(crate) const SAMPLING_FREQUENCY: u32 = 0xB5;
    pub(crate) const CHANNELS: u32 = 0x9F;

    pub(crate) const CLUSTER: u32 = 0x1F43_B675;
    pub(crate) const TIMESTAMP: u32 = 0xE7;
    pub(crate) const SIMPLE_BLOCK: u32 = 0xA3;

    pub(crate) const CUES: u32 = 0x1C53_BB6B;
    pub(crate) const CUE_POINT: u32 = 0xBB;
    pub(crate) const CUE_TIME: u32 = 0xB3;
    pub(crate) const CUE_TRACK_POSITIONS: u32 = 0xB7;
    pub(crate) const CUE_TRACK: u32 = 0xF7;
    pub(crate) const CUE_CLUSTER_POSITION: u32 = 0xF1;
    pub(crate) const CUE_RELATIVE_POSITION: u32 = 0xF0;
}

/// The size a reader takes as "unknown" (RFC 8794 §6.2): all value bits set, 8 bytes.
/// A Segment keeps it until the writer finishes, so a killed recording is read to its
/// end.
pub(crate) const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

/// The largest size a variable-size integer of 8 bytes can carry (all ones is "unknown").
pub(crate) const MAX_SIZE: u64 = (1 << 56) - 2;

pub(crate) fn put_id(out: &mut Vec<u8>, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    out.extend_from_slice(&bytes[skip..]);
}

/// `size` in the fewest bytes that hold it (a value of all ones in its length would
/// read as "unknown", so it takes one byte more).
pub(crate) fn put_size(out: &mut Vec<u8>, size: u64) {
    let mut len = 1;
    while len < 8 && size >= (1u64 << (7 * len)) - 1 {
        len += 1;
    }
    put_size_in(out, size, len);
}

/// `size` in exactly `len` bytes (1 to 8; the caller checks it fits).
pub(crate) fn put_size_in(out: &mut Vec<u8>, size: u64, len: usize) {
    let value = size | (1u64 << (7 * len));
    out.extend_from_slice(&value.to_be_bytes()[8 - len..]);
}

/// An unsigned integer element in the fewest bytes (at least one).
pub(crate) fn uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    binary(out, id, &bytes[skip..]);
}

/// An unsigned integer element in 8 bytes, for values patched in place later.
pub(crate) fn uint8(out: &mut Vec<u8>, id: u32, value: u64) {
    binary(out, id, &value.to_be_bytes());
}

pub(crate) fn float(out: &mut Vec<u8>, id: u32, value: f64) {
    binary(out, id, &value.to_be_bytes());
}

pub(crate) fn string(out: &mut Vec<u8>, id: u32, value: &str) {
    binary(out, id, value.as_bytes());
}

/// A binary element, or a master element whose children are already in `body`.
pub(crate) fn binary(out: &mut Vec<u8>, id: u32, body: &[u8]) {
    put_id(out, id);
    put_size(out, body.len() as u64);
    out.extend_from_slice(body);
}

/// A Void element of exactly `len` bytes (at least 2), space kept for a later rewrite.
pub(crate) fn void(out: &mut Vec<u8>, len: usize) {
    put_id(out, id::VOID);
    let (size_len, zeros) = if len <= 128 {
        (1, len.saturating_sub(2))
    } else {
        (8, len - 9)
    };
    put_size_in(out, zeros as u64, size_len);
    out.resize(out.len() + zeros, 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_the_fewest_bytes_and_never_read_as_unknown() {
        let sized = |v: u64| {
            let mut out = Vec::new();
            put_size(&mut out, v);
            out
        };
        assert_eq!(sized(0), [0x80]);
        assert_eq!(sized(126), [0xFE]);
        // 127 in one byte would be 0xFF, "unknown".
        assert_eq!(sized(127), [0x40, 0x7F]);
        assert_eq!(sized(16_382), [0x7F, 0xFE]);
        assert_eq!(sized(16_383), [0x20, 0x3F, 0xFF]);
        assert_eq!(sized(MAX_SIZE).len(), 8);
    }

    #[test]
    fn ids_keep_their_marker_bits() {
        let mut out = Vec::new();
        put_id(&mut out, id::SIMPLE_BLOCK);
        put_id(&mut out, id::TIMESTAMP_SCALE);
        put_id(&mut out, id::CLUSTER);
        assert_eq!(out, [0xA3, 0x2A, 0xD7, 0xB1, 0x1F, 0x43, 0xB6, 0x75]);
    }

    #[test]
    fn voids_fill_exactly_the_space_asked() {
        for len in [2, 3, 100, 128, 129, 130, 400] {
            let mut out = Vec::new();
            void(&mut out, len);
            assert_eq!(out.len(), len, "{len}");
        }
    }

    #[test]
    fn integers_are_big_endian_and_short() {
        let mut out = Vec::new();
        uint(&mut out, id::TRACK_NUMBER, 1);
        uint(&mut out, id::TIMESTAMP, 0);
        uint(&mut out, id::TIMESTAMP_SCALE, 1_000_000);
        assert_eq!(
            out,
            [
                0xD7, 0x81, 1, 0xE7, 0x81, 0, 0x2A, 0xD7, 0xB1, 0x83, 0x0F, 0x42, 0x40
            ]
        );
    }
}

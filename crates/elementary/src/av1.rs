//! AV1 sequence headers ("AV1 Bitstream & Decoding Process Specification" §5.5, the
//! sequence header OBU) as a WebRTC publisher sends them in front of key frames, and the
//! `av1C` record ("AV1 Codec ISO Media File Format Binding" v1.2 §2.3) made from one.

use bytes::Bytes;

use crate::vp::Bits;

/// What a sequence header says of the stream.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Av1SequenceHeader {
    /// `seq_profile` (0 main, 1 high, 2 professional).
    pub profile: u8,
    /// `seq_level_idx[0]`.
    pub level_idx: u8,
    /// `seq_tier[0]`.
    pub high_tier: bool,
    /// 8, 10 or 12.
    pub bit_depth: u8,
    /// `mono_chrome`.
    pub monochrome: bool,
    /// `(subsampling_x, subsampling_y)`: 4:2:0 is both.
    pub subsampling: (bool, bool),
    /// `chroma_sample_position` (0 unknown).
    pub chroma_sample_position: u8,
    /// `max_frame_width_minus_1 + 1`.
    pub width: u32,
    /// `max_frame_height_minus_1 + 1`.
    pub height: u32,
    /// The whole sequence header OBU (header, size field, payload).
    pub obu: Bytes,
}

impl Av1SequenceHeader {
    /// The `AV1CodecConfigurationRecord`: marker and version, profile and level, tier and
    /// colour format, no presentation delay, then the sequence header OBU.
    pub fn record(&self) -> Bytes {
        let mut out = Vec::with_capacity(4 + self.obu.len());
        out.push(0x81);
        out.push(self.profile << 5 | self.level_idx & 0x1f);
        out.push(
            u8::from(self.high_tier) << 7
                | u8::from(self.bit_depth > 8) << 6
                | u8::from(self.bit_depth == 12) << 5
                | u8::from(self.monochrome) << 4
                | u8::from(self.subsampling.0) << 3
                | u8::from(self.subsampling.1) << 2
                | self.chroma_sample_position & 3,
        );
        out.push(0);
        out.extend_from_slice(&self.obu);
        Bytes::from(out)
    }
}

/// The sequence header of a temporal unit of low-overhead OBUs (each with its size
/// field, §5.2), when it has one.
pub fn av1_sequence_header(temporal_unit: &[u8]) -> Option<Av1SequenceHeader> {
    let mut at = 0;
    while at < temporal_unit.len() {
        let header = temporal_unit[at];
        let extension = header & 0b100 != 0;
        if header & 0b10 == 0 {
            return None; // no size field: the OBUs cannot be told apart
        }
        let mut cursor = at + 1 + usize::from(extension);
        let (size, leb) = leb128(temporal_unit.get(cursor..)?)?;
        cursor += leb;
        let end = cursor.checked_add(size)?;
        let payload = temporal_unit.get(cursor..end)?;
        if header >> 3 & 0x0f == 1 {
            let mut parsed = sequence_header(payload)?;
            parsed.obu = Bytes::copy_from_slice(&temporal_unit[at..end]);
            return Some(parsed);
        }
        at = end;
    }
    None
}

/// `leb128()` (§4.10.5): the value and how many bytes it took.
fn leb128(data: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in data.iter().take(8).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((usize::try_from(value).ok()?, i + 1));
        }
    }
    None
}

/// `uvlc()` (§4.10.3).
fn uvlc(r: &mut Bits<'_>) -> Option<u32> {
    let mut zeros = 0;
    while !r.flag()? {
        zeros += 1;
        if zeros >= 32 {
            return Some(u32::MAX);
        }
    }
    Some(r.bits(zeros)? + ((1u32 << zeros) - 1))
}

/// `sequence_header_obu()` (§5.5.1) up to and with `color_config()` (§5.5.2).
fn sequence_header(payload: &[u8]) -> Option<Av1SequenceHeader> {
    let mut r = Bits {
        data: payload,
        at: 0,
    };
    let profile = r.bits(3)? as u8;
    r.bits(1)?; // still_picture
    let reduced = r.flag()?;
    let (level_idx, high_tier);
    let mut decoder_model = false;
    if reduced {
        level_idx = r.bits(5)? as u8;
        high_tier = false;
    } else {
        let mut buffer_delay_length = 0;
        if r.flag()? {
            // timing_info()
            r.bits(32)?;
            r.bits(32)?;
            if r.flag()? {
                uvlc(&mut r)?;
            }
            decoder_model = r.flag()?;
            if decoder_model {
                buffer_delay_length = r.bits(5)? + 1;
                r.bits(32)?; // num_units_in_decoding_tick
                r.bits(10)?; // buffer_removal_time_length_minus_1, frame_presentation_..
            }
        }
        let initial_display_delay = r.flag()?;
        let points = r.bits(5)? + 1;
        let mut first = None;
        for _ in 0..points {
            r.bits(12)?; // operating_point_idc
            let level = r.bits(5)? as u8;
            let tier = level > 7 && r.flag()?;
            if decoder_model && r.flag()? {
                r.bits(buffer_delay_length)?;
                r.bits(buffer_delay_length)?;
                r.bits(1)?;
            }
            if initial_display_delay && r.flag()? {
                r.bits(4)?;
            }
            first.get_or_insert((level, tier));
        }
        (level_idx, high_tier) = first?;
    }
    let width_bits = r.bits(4)? + 1;
    let height_bits = r.bits(4)? + 1;
    let width = r.bits(width_bits)?.checked_add(1)?;
    let height = r.bits(height_bits)?.checked_add(1)?;
    if !reduced && r.flag()? {
        r.bits(7)?; // delta_frame_id_length_minus_2, additional_frame_id_length_minus_1
    }
    r.bits(3)?; // use_128x128_superblock, enable_filter_intra, enable_intra_edge_filter
    if !reduced {
        r.bits(4)?; // interintra, masked compound, warped motion, dual filter
        let order_hint = r.flag()?;
        if order_hint {
            r.bits(2)?; // enable_jnt_comp, enable_ref_frame_mvs
        }
        let screen_content = if r.flag()? { 2 } else { r.bits(1)? };
        if screen_content > 0 && !r.flag()? {
            r.bits(1)?; // seq_force_integer_mv
        }
        if order_hint {
            r.bits(3)?;
        }
    }
    r.bits(3)?; // enable_superres, enable_cdef, enable_restoration
    // color_config()
    let high_bitdepth = r.flag()?;
    let bit_depth = match (high_bitdepth, profile == 2 && high_bitdepth && r.flag()?) {
        (false, _) => 8,
        (true, false) => 10,
        (true, true) => 12,
    };
    let monochrome = profile != 1 && r.flag()?;
    let (mut primaries, mut transfer, mut matrix) = (2, 2, 2);
    if r.flag()? {
        primaries = r.bits(8)?;
        transfer = r.bits(8)?;
        matrix = r.bits(8)?;
    }
    let subsampling;
    let mut chroma_sample_position = 0;
    if monochrome {
        r.bits(1)?; // color_range
        subsampling = (true, true);
    } else if primaries == 1 && transfer == 13 && matrix == 0 {
        subsampling = (false, false); // sRGB: 4:4:4
    } else {
        r.bits(1)?; // color_range
        subsampling = match profile {
            0 => (true, true),
            1 => (false, false),
            _ if bit_depth == 12 => {
                let x = r.flag()?;
                (x, x && r.flag()?)
            }
            _ => (true, false),
        };
        if subsampling == (true, true) {
            chroma_sample_position = r.bits(2)? as u8;
        }
    }
    Some(Av1SequenceHeader {
        profile,
        level_idx,
        high_tier,
        bit_depth,
        monochrome,
        subsampling,
        chroma_sample_position,
        width,
        height,
        obu: Bytes::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bits written MSB first, as the spec reads them.
    fn pack(fields: &[(u32, u32)]) -> Vec<u8> {
        let mut bits = Vec::new();
        for &(n, v) in fields {
            for i in (0..n).rev() {
                bits.push(v >> i & 1 == 1);
            }
        }
        bits.chunks(8)
            .map(|c| {
                c.iter()
                    .enumerate()
                    .fold(0u8, |b, (i, &x)| b | u8::from(x) << (7 - i))
            })
            .collect()
    }

    #[test]
    fn a_webrtc_like_sequence_header_and_its_record() {
        // Main profile, level 8 (4.0), one operating point, 640x360, order hints,
        // 8-bit 4:2:0 BT.709.
        let payload = pack(&[
            (3, 0),  // seq_profile
            (1, 0),  // still_picture
            (1, 0),  // reduced_still_picture_header
            (1, 0),  // timing_info_present_flag
            (1, 0),  // initial_display_delay_present_flag
            (5, 0),  // operating_points_cnt_minus_1
            (12, 0), // operating_point_idc
            (5, 8),  // seq_level_idx
            (1, 0),  // seq_tier (level > 7)
            (4, 9),  // frame_width_bits_minus_1
            (4, 8),  // frame_height_bits_minus_1
            (10, 639),
            (9, 359),
            (1, 0), // frame_id_numbers_present_flag
            (3, 0), // superblock, filter intra, intra edge
            (4, 0), // interintra .. dual filter
            (1, 1), // enable_order_hint
            (2, 0), // jnt_comp, ref_frame_mvs
            (1, 1), // seq_choose_screen_content_tools
            (1, 1), // seq_choose_integer_mv
            (3, 6), // order_hint_bits_minus_1
            (3, 0), // superres, cdef, restoration
            (1, 0), // high_bitdepth
            (1, 0), // mono_chrome
            (1, 1), // color_description_present_flag
            (8, 1),
            (8, 1),
            (8, 1),
            (1, 0), // color_range
            (2, 1), // chroma_sample_position
            (1, 0), // separate_uv_delta_q
            (1, 1), // film_grain_params_present
        ]);
        // A temporal delimiter first (in files; WebRTC leaves it out), then the sequence
        // header OBU (type 1, size field set), then a frame OBU.
        let mut tu = vec![0x12, 0x00, 0x0a, payload.len() as u8];
        tu.extend_from_slice(&payload);
        tu.extend_from_slice(&[0x32, 0x02, 0xaa, 0xbb]);
        let s = av1_sequence_header(&tu).unwrap();
        assert_eq!((s.profile, s.level_idx, s.high_tier), (0, 8, false));
        assert_eq!((s.width, s.height, s.bit_depth), (640, 360, 8));
        assert_eq!((s.subsampling, s.chroma_sample_position), ((true, true), 1));
        assert_eq!(&s.obu[..], &tu[2..4 + payload.len()]);
        let record = s.record();
        assert_eq!(&record[..4], &[0x81, 0x08, 0x0d, 0x00]);
        assert_eq!(&record[4..], &s.obu[..]);
        // No sequence header, a cut one, an OBU without a size field: none.
        assert!(av1_sequence_header(&[0x32, 0x02, 0xaa, 0xbb]).is_none());
        assert!(av1_sequence_header(&tu[..6]).is_none());
        assert!(av1_sequence_header(&[0x08, 0x00]).is_none());
        assert!(av1_sequence_header(&[]).is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = av1_sequence_header(&data);
            // A sequence header OBU around any payload too.
            let mut obu = vec![0x0a, data.len().min(127) as u8];
            obu.extend_from_slice(&data[..data.len().min(127)]);
            let _ = av1_sequence_header(&obu).map(|s| s.record());
            let _ = crate::vp9_key_frame(&data).map(|k| k.record());
            let _ = crate::vp8_key_frame_size(&data);
        }
    }
}

//! Silence in the stream's own format, for mute, a dry queue and the final flush: listeners'
//! decoders keep going (MP3's silent frame comes from `mp3_frames::silent_frame`).
//!
//! - AAC: a raw data block whose channel elements carry no spectral data (`max_sfb` 0,
//!   ISO/IEC 14496-3 §4.4.2.1 and §4.6.2: every coefficient is zero), one element per
//!   channel of the `channel_configuration` (Table 1.19), padded by a fill element to
//!   about 255 bytes, in an ADTS frame like the stream's.
//! - Ogg Opus: silent Opus packets (a CELT-only 20 ms frame whose range-coded silence flag
//!   is set, RFC 6716 §4.3 Table 56: TOC byte, then `FF FE`), mono or stereo.
//! - Ogg Vorbis: silent Vorbis packets (Vorbis I §4.3.1: the mode number of a block, every
//!   channel's floor marked unused, so no residue is read and the block decodes to zeros),
//!   written from the stream's own setup header ([`crate::vorbis`]); a stream whose setup
//!   header cannot be read refuses mute, saying why.
//!
//! Ogg silence goes on pages inserted into the current logical stream, whose later pages
//! are renumbered (sequence and granule position, RFC 3533 §6) so the link stays one
//! continuous logical stream; after a link's end, a dry queue gets a link of silence of
//! its own ([`crate::ogg_relay`]).

use crate::AudioFrame;
use crate::adts::{self, AdtsHeader};

/// Appends bits, most significant first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    used: u32,
}

impl Bits {
    fn put(&mut self, value: u32, width: u32) {
        for i in (0..width).rev() {
            if self.used.is_multiple_of(8) {
                self.out.push(0);
            }
            if (value >> i) & 1 == 1
                && let Some(last) = self.out.last_mut()
            {
                *last |= 0x80 >> (self.used % 8);
            }
            self.used += 1;
        }
    }

    /// An `individual_channel_stream` without spectral data: `global_gain`, then (when
    /// not shared by a common window) `ics_info` with `max_sfb` 0, then no pulse, TNS or
    /// gain control data.
    fn silent_channel_stream(&mut self, with_ics_info: bool) {
        self.put(100, 8); // global_gain: any value, no band uses it
        if with_ics_info {
            self.silent_ics_info();
        }
        self.put(0, 3); // pulse_data_present, tns_data_present, gain_control_data_present
    }

    /// `ics_info`: reserved bit, ONLY_LONG_SEQUENCE, sine window, `max_sfb` 0, no
    /// prediction.
    fn silent_ics_info(&mut self) {
        self.put(0, 1 + 2 + 1);
        self.put(0, 6);
        self.put(0, 1);
    }
}

/// A silent ADTS frame for a stream of `header`'s format (`None` for a channel
/// configuration given in-band, or an object type other than Main, LC or LTP).
pub(crate) fn silent_adts(header: &AdtsHeader) -> Option<AudioFrame> {
    const SCE: u32 = 0;
    const CPE: u32 = 1;
    const LFE: u32 = 3;
    const FIL: u32 = 6;
    const END: u32 = 7;
    const FILL_BYTES: u32 = 240;
    let elements: &[u32] = match header.channel_configuration {
        1 => &[SCE],
        2 => &[CPE],
        3 => &[SCE, CPE],
        4 => &[SCE, CPE, SCE],
        5 => &[SCE, CPE, CPE],
        6 => &[SCE, CPE, CPE, LFE],
        7 => &[SCE, CPE, CPE, CPE, LFE],
        _ => return None,
    };
    if !matches!(header.object_type, 1 | 2 | 4) {
        return None;
    }
    let mut bits = Bits::default();
    let mut tags = [0u32; 4];
    for &element in elements {
        bits.put(element, 3);
        let tag = &mut tags[element as usize];
        bits.put(*tag, 4); // element_instance_tag, counted per element type
        *tag += 1;
        if element == CPE {
            bits.put(1, 1); // common_window: one ics_info for both channels
            bits.silent_ics_info();
            bits.put(0, 2); // ms_mask_present
            bits.silent_channel_stream(false);
            bits.silent_channel_stream(false);
        } else {
            bits.silent_channel_stream(true);
        }
    }
    // A fill element (§4.4.2.7, extension_payload EXT_FILL) makes the frame about as big
    // as a 96 kbit/s one: a final flush of `flush_bytes` then lasts a fraction of a
    // second, and listeners' byte-counted buffers see a steady rate while muted.
    bits.put(FIL, 3);
    bits.put(15, 4); // count 15: an escape count follows, count = 15 + esc - 1
    bits.put(FILL_BYTES - 14, 8);
    bits.put(0, 4); // extension_type EXT_FILL
    bits.put(0, 4); // fill_nibble
    for _ in 1..FILL_BYTES {
        bits.put(0xA5, 8); // fill_byte
    }
    bits.put(END, 3);
    let rate_index = adts::rate_index(header.sample_rate)?;
    let config = [
        (header.object_type << 3) | (rate_index >> 1),
        ((rate_index & 1) << 7) | (header.channel_configuration << 3),
    ];
    let data = adts::frame(&config, &bits.out).ok()?;
    Some(AudioFrame::new(data, 1024, header.sample_rate))
}

/// A silent Opus packet: TOC configuration 31 (CELT-only, fullband, 20 ms), the stereo
/// flag, one frame; then the range-coded silence flag.
pub(crate) fn silent_opus_packet(channels: u8) -> [u8; 3] {
    let toc = (31 << 3) | if channels == 2 { 0x04 } else { 0 };
    [toc, 0xFF, 0xFE]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_aac_frames_parse_as_adts_of_the_stream_format() {
        for channels in 1..=7u8 {
            let header = AdtsHeader {
                object_type: 2,
                sample_rate: 44_100,
                channel_configuration: channels,
                frame_length: 0,
                raw_data_blocks: 1,
                has_crc: false,
            };
            let frame = silent_adts(&header).unwrap();
            let parsed = AdtsHeader::parse(&frame.data).unwrap();
            assert!(parsed.same_format(&header), "{parsed:?}");
            assert_eq!(parsed.frame_length, frame.data.len());
            assert_eq!((frame.samples, frame.sample_rate), (1024, 44_100));
        }
        // Stereo: CPE, tag 0, common window, ics_info, no M/S, two gains, END.
        let stereo = AdtsHeader {
            channel_configuration: 2,
            ..AdtsHeader::parse(&silent_adts(&mono()).unwrap().data).unwrap()
        };
        let raw = &silent_adts(&stereo).unwrap().data[7..];
        assert_eq!(raw[0] >> 5, 1, "a channel pair element");
        let none = AdtsHeader {
            channel_configuration: 0,
            ..stereo
        };
        assert!(
            silent_adts(&none).is_none(),
            "in-band channel configuration"
        );
    }

    fn mono() -> AdtsHeader {
        AdtsHeader {
            object_type: 2,
            sample_rate: 48_000,
            channel_configuration: 1,
            frame_length: 0,
            raw_data_blocks: 1,
            has_crc: false,
        }
    }
}

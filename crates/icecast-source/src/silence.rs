//! Silence in the stream's own format, for mute, a dry queue and the final flush: listeners'
//! decoders keep going (MP3's silent frame comes from `mp3_frames::silent_frame`).
//!
//! - AAC: a raw data block whose channel elements carry no spectral data (`max_sfb` 0,
//!   ISO/IEC 14496-3 §4.4.2.1 and §4.6.2: every coefficient is zero), one element per
//!   channel of the `channel_configuration` (Table 1.19), padded by a fill element to
//!   about 255 bytes, in an ADTS frame like the stream's.
//! - Ogg Opus: silent Opus packets (a CELT-only 20 ms frame whose range-coded silence flag
//!   is set, RFC 6716 §4.3 Table 56: TOC byte, then `FF FE`) on pages inserted into the
//!   current logical stream; the song's later pages are renumbered (sequence and granule
//!   position, RFC 3533 §6) so the link stays one continuous logical stream. Vorbis has no
//!   packet that decodes without the stream's codebooks: Ogg Vorbis streams refuse mute.

use bytes::Bytes;

use crate::AudioFrame;
use crate::adts::{self, AdtsHeader};
use crate::ogg::{OggCodec, OggPage, crc32};

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

/// Samples per silent Opus packet (20 ms at 48 kHz).
const OPUS_SILENCE_SAMPLES: u32 = 960;

/// What the relay knows of the logical stream being sent.
#[derive(Debug, Clone)]
struct Link {
    serial: u32,
    codec: Option<OggCodec>,
    /// Pages inserted so far: added to the sequence numbers of the link's own pages.
    inserted_pages: u32,
    /// Samples inserted so far: added to their granule positions.
    inserted_samples: i64,
    /// Sequence number and granule position of the last page sent.
    sequence: u32,
    granule: i64,
    /// A silent page may follow the last page sent: it ended an audio packet and the link.
    /// is not at its end.
    open_for_audio: bool,
}

/// Passes the pages of an Ogg stream through, and inserts silent Opus pages into the
/// current logical stream on demand (mute). Pages go through unchanged (no copy) until a
/// silent page was inserted into their link.
#[derive(Debug, Default)]
pub(crate) struct OggRelay {
    link: Option<Link>,
}

impl OggRelay {
    /// The page to send for the input page `frame` (renumbered after insertions).
    pub(crate) fn page(&mut self, frame: AudioFrame) -> AudioFrame {
        let Ok(page) = OggPage::parse(&frame.data) else {
            return frame;
        };
        if page.first {
            self.link = Some(Link {
                serial: page.serial,
                codec: OggCodec::identify(page.body()).ok(),
                inserted_pages: 0,
                inserted_samples: 0,
                sequence: page.sequence(),
                granule: page.granule,
                open_for_audio: false,
            });
            return frame;
        }
        let Some(link) = self.link.as_mut().filter(|l| l.serial == page.serial) else {
            self.link = None; // not a link we saw begin: leave it alone
            return frame;
        };
        let granule = if page.granule >= 0 {
            page.granule + link.inserted_samples
        } else {
            -1
        };
        link.sequence = page.sequence().wrapping_add(link.inserted_pages);
        if granule >= 0 {
            link.granule = granule;
        }
        link.open_for_audio = granule > 0 && page.ends_packet() && !page.last;
        if link.inserted_pages == 0 {
            return frame;
        }
        let data = page.rewritten(page.serial, link.sequence, granule).data;
        AudioFrame { data, ..frame }
    }

    /// Whether [`OggRelay::silence`] can give pages for the stream's codec (Opus of one
    /// stream, mono or stereo), or for the current link's when the stream's is not known
    /// (pushed pages); yes while nothing is known yet.
    pub(crate) fn can_mute(&self, codec: Option<OggCodec>) -> bool {
        match codec.or(self.link.as_ref().and_then(|l| l.codec)) {
            None => true,
            Some(OggCodec::Opus {
                channels,
                mapping_family,
            }) => mapping_family == 0 && channels <= 2,
            Some(OggCodec::Vorbis { .. }) => false,
        }
    }

    /// A page holding one silent Opus packet in the current logical stream, or `None`
    /// when none can go now (between the header pages, inside a packet, after the last
    /// page, or not Opus).
    pub(crate) fn silence(&mut self) -> Option<AudioFrame> {
        let link = self.link.as_mut().filter(|l| l.open_for_audio)?;
        let Some(OggCodec::Opus {
            channels,
            mapping_family: 0,
        }) = link.codec
        else {
            return None;
        };
        // TOC: configuration 31 (CELT-only, fullband, 20 ms), stereo flag, one frame.
        let toc = (31 << 3) | if channels == 2 { 0x04 } else { 0 };
        let packet = [toc, 0xFF, 0xFE];
        link.sequence = link.sequence.wrapping_add(1);
        link.granule += i64::from(OPUS_SILENCE_SAMPLES);
        link.inserted_pages += 1;
        link.inserted_samples += i64::from(OPUS_SILENCE_SAMPLES);
        let mut page = b"OggS\0\0".to_vec();
        page.extend(link.granule.to_le_bytes());
        page.extend(link.serial.to_le_bytes());
        page.extend(link.sequence.to_le_bytes());
        page.extend([0; 4]);
        page.extend([1, packet.len() as u8]);
        page.extend(packet);
        let crc = crc32(&page);
        page[22..26].copy_from_slice(&crc.to_le_bytes());
        Some(AudioFrame::new(
            Bytes::from(page),
            OPUS_SILENCE_SAMPLES,
            48_000,
        ))
    }
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

    fn page(flags: u8, granule: i64, sequence: u32, lacing: &[u8]) -> AudioFrame {
        let mut p = b"OggS\0".to_vec();
        p.push(flags);
        p.extend(granule.to_le_bytes());
        p.extend(7u32.to_le_bytes());
        p.extend(sequence.to_le_bytes());
        p.extend([0; 4]);
        p.push(lacing.len() as u8);
        p.extend(lacing);
        let body: usize = lacing.iter().map(|&l| usize::from(l)).sum();
        let mut content = b"OpusHead\x01\x02\x38\x01\x80\xbb\0\0\0\0\0".to_vec();
        content.resize(body, 0);
        p.extend(content);
        let crc = crc32(&p);
        p[22..26].copy_from_slice(&crc.to_le_bytes());
        AudioFrame::new(Bytes::from(p), 0, 48_000)
    }

    #[test]
    fn silent_opus_pages_go_between_packets_and_the_link_is_renumbered_after_them() {
        let mut relay = OggRelay::default();
        let head = page(0x02, 0, 0, &[19]);
        assert_eq!(relay.page(head.clone()), head, "passed through");
        assert!(relay.silence().is_none(), "not between header pages");
        let tags = page(0, 0, 1, &[16]);
        relay.page(tags);
        assert!(relay.silence().is_none(), "not before audio");
        let audio = page(0, 960, 2, &[10]);
        assert_eq!(relay.page(audio.clone()), audio, "nothing inserted yet");
        let silent = relay.silence().unwrap();
        let parsed = OggPage::parse(&silent.data).unwrap();
        assert_eq!((parsed.granule, parsed.sequence()), (1920, 3));
        assert_eq!(parsed.body(), [0xFC, 0xFF, 0xFE], "stereo CELT silence");
        assert_eq!(silent.samples, 960);
        relay.silence().unwrap();
        // The song's next pages follow the inserted ones.
        let split = relay.page(page(0, -1, 3, &[255]));
        let parsed = OggPage::parse(&split.data).unwrap();
        assert_eq!((parsed.granule, parsed.sequence()), (-1, 5));
        assert!(relay.silence().is_none(), "not inside a packet");
        let end = relay.page(page(0x04, 2880, 4, &[20]));
        let parsed = OggPage::parse(&end.data).unwrap();
        assert_eq!((parsed.granule, parsed.sequence()), (2880 + 1920, 6));
        let mut zeroed = end.data.to_vec();
        zeroed[22..26].fill(0);
        assert_eq!(crc32(&zeroed).to_le_bytes(), end.data[22..26], "CRC redone");
        assert!(relay.silence().is_none(), "not after the last page");
    }
}

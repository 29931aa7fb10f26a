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
    /// A silent page may follow the last page sent: it ended an audio packet and the link
    /// is not at its end.
    open_for_audio: bool,
    /// Its last page (EOS) went out.
    ended: bool,
    /// A link of silence made here (a dry queue), with its header pages still to send.
    own: Option<u8>,
}

/// Passes the pages of an Ogg stream through, and inserts silent Opus pages into the
/// current logical stream on demand (mute). Pages go through unchanged (no copy) until a
/// silent page was inserted into their link.
#[derive(Debug, Default)]
pub(crate) struct OggRelay {
    link: Option<Link>,
    /// The codec of the last link that began (a link of silence takes it over).
    last_codec: Option<OggCodec>,
    /// The last page of a link of silence, to go before the next song's first page.
    closing: Option<AudioFrame>,
}

/// A page holding one packet (shorter than 255 bytes).
fn one_packet_page(flags: u8, granule: i64, serial: u32, sequence: u32, packet: &[u8]) -> Bytes {
    let mut page = b"OggS\0".to_vec();
    page.push(flags);
    page.extend(granule.to_le_bytes());
    page.extend(serial.to_le_bytes());
    page.extend(sequence.to_le_bytes());
    page.extend([0; 4]);
    page.extend([1, packet.len() as u8]);
    page.extend(packet);
    let crc = crc32(&page);
    page[22..26].copy_from_slice(&crc.to_le_bytes());
    Bytes::from(page)
}

/// A silent Opus packet: TOC configuration 31 (CELT-only, fullband, 20 ms), the stereo
/// flag, one frame; then the range-coded silence flag.
fn silent_opus_packet(channels: u8) -> [u8; 3] {
    let toc = (31 << 3) | if channels == 2 { 0x04 } else { 0 };
    [toc, 0xFF, 0xFE]
}

impl OggRelay {
    /// The page to send for the input page `frame` (renumbered after insertions).
    pub(crate) fn page(&mut self, frame: AudioFrame) -> AudioFrame {
        let Ok(page) = OggPage::parse(&frame.data) else {
            return frame;
        };
        if page.first {
            if let Some(link) = self.link.as_mut().filter(|l| l.own.is_some() && !l.ended) {
                // A link of silence ends where the next song begins (RFC 3533 §4: a chain's
                // links end before the next begins); its last page carries one more silent
                // packet.
                let channels = link.codec.map_or(2, OggCodec::channels);
                link.granule += i64::from(OPUS_SILENCE_SAMPLES);
                link.sequence = link.sequence.wrapping_add(1);
                let data = one_packet_page(
                    0x04,
                    link.granule,
                    link.serial,
                    link.sequence,
                    &silent_opus_packet(channels),
                );
                self.closing = Some(AudioFrame::new(data, OPUS_SILENCE_SAMPLES, 48_000));
            }
            let codec = OggCodec::identify(page.body()).ok();
            self.last_codec = codec.or(self.last_codec);
            self.link = Some(Link {
                serial: page.serial,
                codec,
                inserted_pages: 0,
                inserted_samples: 0,
                sequence: page.sequence(),
                granule: page.granule,
                open_for_audio: false,
                ended: page.last,
                own: None,
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
        link.ended = page.last;
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

    /// The last page of a link of silence, when a song's first page just ended it: it
    /// goes out before that page.
    pub(crate) fn take_closing(&mut self) -> Option<AudioFrame> {
        self.closing.take()
    }

    /// A page holding one silent Opus packet in the current logical stream, or `None`
    /// when none can go now (between the header pages, inside a packet, or not Opus).
    /// After the last page of a link, `new_link` starts a link of silence (its `OpusHead`
    /// and `OpusTags` pages first), which the next song's first page ends: a radio whose
    /// queue ran dry keeps its listeners.
    pub(crate) fn silence(&mut self, new_link: bool) -> Option<AudioFrame> {
        if !new_link && self.link.as_ref().is_some_and(|l| l.own.is_some()) {
            return None; // a link of silence needs no padding
        }
        if let Some(link) = self.link.as_mut()
            && let Some(headers) = link.own.filter(|n| *n > 0)
        {
            link.own = Some(headers - 1);
            link.sequence = link.sequence.wrapping_add(1);
            let channels = link.codec.map_or(2, OggCodec::channels);
            let (flags, packet) = if headers == 2 {
                // RFC 7845 §5.1: version 1, channels, no pre-skip, 48 kHz, no gain,
                // mapping family 0.
                let mut head = b"OpusHead\x01".to_vec();
                head.push(channels);
                head.extend(0u16.to_le_bytes());
                head.extend(48_000u32.to_le_bytes());
                head.extend([0, 0, 0]);
                (0x02, head)
            } else {
                let vendor = b"icecast-source";
                let mut tags = b"OpusTags".to_vec();
                tags.extend((vendor.len() as u32).to_le_bytes());
                tags.extend(vendor);
                tags.extend(0u32.to_le_bytes());
                link.open_for_audio = true;
                (0, tags)
            };
            let data = one_packet_page(flags, 0, link.serial, link.sequence, &packet);
            return Some(AudioFrame::new(data, 0, 48_000));
        }
        if let Some(link) = self.link.as_mut().filter(|l| l.open_for_audio) {
            let Some(OggCodec::Opus {
                channels,
                mapping_family: 0,
            }) = link.codec
            else {
                return None;
            };
            link.sequence = link.sequence.wrapping_add(1);
            link.granule += i64::from(OPUS_SILENCE_SAMPLES);
            link.inserted_pages += 1;
            link.inserted_samples += i64::from(OPUS_SILENCE_SAMPLES);
            let data = one_packet_page(
                0,
                link.granule,
                link.serial,
                link.sequence,
                &silent_opus_packet(channels),
            );
            return Some(AudioFrame::new(data, OPUS_SILENCE_SAMPLES, 48_000));
        }
        let ended = self.link.as_ref().is_none_or(|l| l.ended);
        let codec = self.last_codec.filter(|c| self.can_mute(Some(*c)));
        let (true, true, Some(codec)) = (new_link, ended, codec) else {
            return None;
        };
        // A serial unlike the last link's and, almost surely, the next song's.
        let serial = self
            .link
            .as_ref()
            .map_or(0x5349_4C00, |l| l.serial ^ 0x8000_0000);
        self.link = Some(Link {
            serial,
            codec: Some(codec),
            inserted_pages: 0,
            inserted_samples: 0,
            sequence: u32::MAX, // the first page is 0
            granule: 0,
            open_for_audio: false,
            ended: false,
            own: Some(2),
        });
        self.silence(new_link)
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
        assert!(relay.silence(true).is_none(), "not between header pages");
        let tags = page(0, 0, 1, &[16]);
        relay.page(tags);
        assert!(relay.silence(true).is_none(), "not before audio");
        let audio = page(0, 960, 2, &[10]);
        assert_eq!(relay.page(audio.clone()), audio, "nothing inserted yet");
        let silent = relay.silence(true).unwrap();
        let parsed = OggPage::parse(&silent.data).unwrap();
        assert_eq!((parsed.granule, parsed.sequence()), (1920, 3));
        assert_eq!(parsed.body(), [0xFC, 0xFF, 0xFE], "stereo CELT silence");
        assert_eq!(silent.samples, 960);
        relay.silence(true).unwrap();
        // The song's next pages follow the inserted ones.
        let split = relay.page(page(0, -1, 3, &[255]));
        let parsed = OggPage::parse(&split.data).unwrap();
        assert_eq!((parsed.granule, parsed.sequence()), (-1, 5));
        assert!(relay.silence(true).is_none(), "not inside a packet");
        let end = relay.page(page(0x04, 2880, 4, &[20]));
        let parsed = OggPage::parse(&end.data).unwrap();
        assert_eq!((parsed.granule, parsed.sequence()), (2880 + 1920, 6));
        let mut zeroed = end.data.to_vec();
        zeroed[22..26].fill(0);
        assert_eq!(crc32(&zeroed).to_le_bytes(), end.data[22..26], "CRC redone");
        assert!(relay.silence(false).is_none(), "not after the last page");

        // A dry queue: a link of silence of its own, ended by the next song's first page.
        let head = OggPage::parse(&relay.silence(true).unwrap().data).unwrap();
        assert!(head.first && head.body().starts_with(b"OpusHead") && head.serial != 7);
        assert_eq!((head.sequence(), head.granule), (0, 0));
        let tags = OggPage::parse(&relay.silence(true).unwrap().data).unwrap();
        assert!(tags.body().starts_with(b"OpusTags") && tags.serial == head.serial);
        let silent = OggPage::parse(&relay.silence(true).unwrap().data).unwrap();
        assert_eq!((silent.sequence(), silent.granule), (2, 960));
        assert!(relay.silence(false).is_none(), "no padding for it");
        assert!(relay.take_closing().is_none());
        let next = page(0x02, 0, 0, &[19]);
        assert_eq!(relay.page(next.clone()), next);
        let closing = OggPage::parse(&relay.take_closing().unwrap().data).unwrap();
        assert!(closing.last && closing.serial == head.serial);
        assert_eq!((closing.sequence(), closing.granule), (3, 1920));
        assert!(
            relay.silence(true).is_none(),
            "the next song's headers go first"
        );
    }
}

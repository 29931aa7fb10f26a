//! The pages of an Ogg stream on their way to the server, with silent pages inserted on
//! demand (mute, a dry queue, the final flush); [`crate::silence`] says what silence is
//! in each codec.
//!
//! - Pages go through unchanged (no copy) until a silent page was inserted into their
//!   logical stream; from then on the link's pages are renumbered (sequence number and
//!   granule position, RFC 3533 §6) so that it stays one continuous logical stream.
//! - A silent page goes only between packets (after a page on which a packet ends), after
//!   the headers (a granule position above 0), and never after a link's last page (EOS).
//! - After a link's last page, a dry queue gets a link of silence of its own: its header
//!   pages first, then silent pages; the next song's first page ends it, after one last
//!   silent page flagged EOS (RFC 3533 §4: a chain's links follow each other).
//! - Vorbis (Vorbis I §4.2.1, §A.2): the identification and setup headers are gathered as
//!   their pages pass and the setup is read ([`crate::vorbis`]); the comment header is
//!   not kept (cover art makes it large). The first bytes of every audio packet that
//!   begins on a page say its block size and, for a long block, the size of the block the
//!   encoder put after it. Silence takes that size (short after a short block): the
//!   window flags of the song's blocks on both sides of the silence then still tell the
//!   truth, which decoders rely on (ffmpeg sizes a long block's overlap by its
//!   previous-window flag, not by the block it follows). Each silent packet adds
//!   `blocksize / 2` samples; the first one after a packet of size `p` ends
//!   `p / 4 + blocksize / 4` samples after it (§4.3.8: the returned samples run from the
//!   middle of one window to the middle of the next), so the song's later pages move by
//!   `n × blocksize / 2`. A page of silence holds enough short packets for 1024 samples.

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::Bytes;

use crate::AudioFrame;
use crate::ogg::{OggCodec, OggPage, paginate};
use crate::silence::silent_opus_packet;
use crate::vorbis::VorbisSetup;

/// Samples per silent Opus packet (20 ms at 48 kHz).
const OPUS_SILENCE_SAMPLES: u32 = 960;
/// Samples a page of silent Vorbis packets holds at least (about 23 ms at 44.1 kHz).
const VORBIS_PAGE_SAMPLES: u32 = 1024;
/// The largest Vorbis identification or setup header gathered (real setup headers are a
/// few kilobytes; this bounds what a stream of pages that never ends a packet costs).
const MAX_HEADER: usize = 1 << 20;

/// A Vorbis stream's headers, as a link of silence sends them again.
#[derive(Debug)]
struct VorbisHeaders {
    identification: Bytes,
    setup_packet: Bytes,
    setup: VorbisSetup,
}

/// The packet before the next silent one, as far as that one depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Previous {
    /// None yet: the link's first audio packet gives no samples.
    Nothing,
    /// A packet of the song: its first bytes (up to two), read with the setup when needed.
    Song { head: [u8; 2], len: u8 },
    /// A silent packet.
    Silent { long: bool },
}

/// What the relay follows of a Vorbis link.
#[derive(Debug)]
struct VorbisLink {
    /// Packets begun so far: the first three are the headers (§4.2.1).
    packets: u64,
    /// The identification or setup header being gathered.
    partial: Vec<u8>,
    identification: Vec<u8>,
    /// The headers once the setup was read; `Err` says why it cannot be.
    headers: Option<Result<Arc<VorbisHeaders>, String>>,
    /// The last page ended inside a packet.
    in_packet: bool,
    previous: Previous,
}

impl VorbisLink {
    fn gathering() -> Self {
        VorbisLink {
            packets: 0,
            partial: Vec::new(),
            identification: Vec::new(),
            headers: None,
            in_packet: false,
            previous: Previous::Nothing,
        }
    }

    fn of_silence(headers: Arc<VorbisHeaders>) -> Self {
        VorbisLink {
            packets: 3,
            headers: Some(Ok(headers)),
            ..Self::gathering()
        }
    }

    /// Follows the packets of one page of the link.
    fn follow(&mut self, page: &OggPage) {
        let body = page.body();
        let lacing = page.lacing();
        if lacing.is_empty() {
            return;
        }
        let (mut at, mut len, mut starts) = (0, 0, !self.in_packet);
        for &value in lacing {
            len += usize::from(value);
            if value < 255 {
                self.piece(body.get(at..at + len).unwrap_or_default(), starts);
                self.end_packet();
                (at, len, starts) = (at + len, 0, true);
            }
        }
        // Lacing values of 255 to the end: the last packet goes on on the next page.
        self.in_packet = len > 0;
        if self.in_packet {
            self.piece(body.get(at..at + len).unwrap_or_default(), starts);
        }
    }

    /// A piece of a packet: all of it, its start, its end, or a middle part.
    fn piece(&mut self, bytes: &[u8], starts: bool) {
        if starts {
            self.packets += 1;
            self.partial.clear();
        }
        match self.packets {
            0 | 2 => {} // a packet begun before the link; the comment header
            1 | 3 => {
                if self.headers.is_some() {
                    return;
                }
                if self.partial.len() + bytes.len() > MAX_HEADER {
                    self.headers = Some(Err(format!(
                        "Vorbis header packet {} over {MAX_HEADER} bytes",
                        self.packets - 1
                    )));
                    return;
                }
                self.partial.extend_from_slice(bytes);
            }
            _ => match &mut self.previous {
                Previous::Song { head, len } if !starts && *len < 2 => {
                    for &byte in bytes.iter().take(2 - usize::from(*len)) {
                        head[usize::from(*len)] = byte;
                        *len += 1;
                    }
                }
                _ if starts && !bytes.is_empty() => {
                    let mut head = [0; 2];
                    let len = bytes.len().min(2);
                    head[..len].copy_from_slice(&bytes[..len]);
                    self.previous = Previous::Song {
                        head,
                        len: len as u8,
                    };
                }
                _ => {}
            },
        }
    }

    /// The end of a packet: a header packet gathered is kept (identification) or read
    /// (setup).
    fn end_packet(&mut self) {
        if self.headers.is_some() {
            return;
        }
        match self.packets {
            1 => self.identification = std::mem::take(&mut self.partial),
            3 => {
                let setup_packet = Bytes::from(std::mem::take(&mut self.partial));
                self.headers = Some(
                    VorbisSetup::read(&self.identification, &setup_packet)
                        .map(|setup| {
                            Arc::new(VorbisHeaders {
                                identification: Bytes::from(std::mem::take(
                                    &mut self.identification,
                                )),
                                setup_packet,
                                setup,
                            })
                        })
                        .map_err(|e| e.to_string()),
                );
            }
            _ => {}
        }
    }

    /// The packets of the next silent page, the samples they add and the advance of the
    /// granule position; `None` while the setup is not read.
    fn silence(&mut self) -> Option<(Vec<Vec<u8>>, u32, i64)> {
        let headers = Arc::clone(self.headers.as_ref()?.as_ref().ok()?);
        let setup = &headers.setup;
        // The size of the block before, and of the one the encoder put after it.
        let (mut previous, next) = match self.previous {
            Previous::Nothing => (None, None),
            Previous::Song { head, len } => match setup.block(&head[..usize::from(len)]) {
                Some(block) => (Some(block.long), block.next_long),
                None => (Some(false), None),
            },
            Previous::Silent { long } => (Some(long), Some(long)),
        };
        let mode = setup.silent_mode(next.unwrap_or(false));
        let long = setup.is_long(mode);
        let half = setup.blocksize(long) / 2;
        // The first packet of a link gives no samples: one more, so the page's granule
        // position is above 0.
        let count = VORBIS_PAGE_SAMPLES.div_ceil(half) + u32::from(previous.is_none());
        let (mut samples, mut advance) = (0, 0i64);
        let mut packets = Vec::with_capacity(count as usize);
        for _ in 0..count {
            packets.push(setup.silent_packet(mode, previous.unwrap_or(long), long));
            if let Some(before) = previous {
                samples += half;
                advance += i64::from(setup.blocksize(before) / 4 + setup.blocksize(long) / 4);
            }
            previous = Some(long);
        }
        self.previous = Previous::Silent { long };
        Some((packets, samples, advance))
    }
}

/// What the relay knows of the logical stream being sent.
#[derive(Debug)]
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
    /// A link of silence made here (a dry queue).
    own: bool,
    /// Its header pages still to send.
    header_pages: VecDeque<Bytes>,
    vorbis: Option<VorbisLink>,
}

impl Link {
    fn rate(&self) -> u32 {
        self.codec.map_or(48_000, OggCodec::granule_rate)
    }

    /// The next silent page (EOS when `last`), its duration the samples it adds; `None`
    /// when the codec has no silent packet here.
    fn silent_page(&mut self, last: bool) -> Option<AudioFrame> {
        let (packets, samples, advance) = match (self.codec?, self.vorbis.as_mut()) {
            (
                OggCodec::Opus {
                    channels,
                    mapping_family: 0,
                },
                _,
            ) => (
                vec![silent_opus_packet(channels).to_vec()],
                OPUS_SILENCE_SAMPLES,
                i64::from(OPUS_SILENCE_SAMPLES),
            ),
            (OggCodec::Vorbis { .. }, Some(vorbis)) => vorbis.silence()?,
            _ => return None,
        };
        // Saturating: a hostile page may carry any granule position.
        self.granule = self.granule.saturating_add(advance);
        let packets: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        let pages = paginate(
            &packets,
            self.serial,
            &mut self.sequence,
            false,
            last,
            self.granule,
        );
        if !self.own {
            self.inserted_pages = self.inserted_pages.wrapping_add(pages.len() as u32);
            self.inserted_samples = self.inserted_samples.saturating_add(i64::from(samples));
        }
        self.ended |= last;
        Some(AudioFrame::new(
            Bytes::from(pages.concat()),
            samples,
            self.rate(),
        ))
    }
}

/// Passes the pages of an Ogg stream through, and inserts silent pages into the current
/// logical stream on demand, or a link of silence after its end.
#[derive(Debug, Default)]
pub(crate) struct OggRelay {
    link: Option<Link>,
    /// The codec of the last link that began (a link of silence takes it over).
    last_codec: Option<OggCodec>,
    /// The headers of the last Vorbis link whose setup was read.
    last_vorbis: Option<Arc<VorbisHeaders>>,
    /// The last pages of a link of silence, to go before the next song's first page.
    closing: Option<AudioFrame>,
}

/// A Vorbis comment header (§5.2) with a vendor string and no comments: a link of
/// silence has no title of its own.
fn vorbis_comment() -> Vec<u8> {
    let vendor = b"icecast-source";
    let mut packet = b"\x03vorbis".to_vec();
    packet.extend((vendor.len() as u32).to_le_bytes());
    packet.extend(vendor);
    packet.extend(0u32.to_le_bytes());
    packet.push(1); // framing bit
    packet
}

impl OggRelay {
    /// The page to send for the input page `frame` (renumbered after insertions).
    pub(crate) fn page(&mut self, frame: AudioFrame) -> AudioFrame {
        let Ok(page) = OggPage::parse(&frame.data) else {
            return frame;
        };
        if page.first {
            if let Some(link) = self.link.as_mut().filter(|l| l.own && !l.ended) {
                // A link of silence ends where the next song begins (RFC 3533 §4: a
                // chain's links end before the next begins): its header pages if they
                // did not all go yet, and a last silent page.
                let mut data: Vec<Bytes> = link.header_pages.drain(..).collect();
                let mut samples = 0;
                if let Some(last) = link.silent_page(true) {
                    samples = last.samples;
                    data.push(last.data);
                }
                self.closing = Some(AudioFrame::new(
                    Bytes::from(data.concat()),
                    samples,
                    link.rate(),
                ));
            }
            let codec = OggCodec::identify(page.body()).ok();
            self.last_codec = codec.or(self.last_codec);
            let mut vorbis =
                matches!(codec, Some(OggCodec::Vorbis { .. })).then(VorbisLink::gathering);
            if let Some(vorbis) = vorbis.as_mut() {
                vorbis.follow(&page);
            }
            self.link = Some(Link {
                serial: page.serial,
                codec,
                inserted_pages: 0,
                inserted_samples: 0,
                sequence: page.sequence(),
                granule: page.granule,
                open_for_audio: false,
                ended: page.last,
                own: false,
                header_pages: VecDeque::new(),
                vorbis,
            });
            return frame;
        }
        let Some(link) = self.link.as_mut().filter(|l| l.serial == page.serial) else {
            self.link = None; // not a link we saw begin: leave it alone
            return frame;
        };
        if let Some(vorbis) = link.vorbis.as_mut() {
            vorbis.follow(&page);
            if let Some(Ok(headers)) = &vorbis.headers {
                self.last_vorbis = Some(Arc::clone(headers));
            }
        }
        let granule = if page.granule >= 0 {
            page.granule.saturating_add(link.inserted_samples)
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

    /// Why [`OggRelay::silence`] cannot give pages for the stream's codec (or for the
    /// current link's when the stream's is not known: pushed pages): `None` when it can,
    /// or may once the headers are read, or while nothing is known yet.
    pub(crate) fn mute_refusal(&self, codec: Option<OggCodec>) -> Option<String> {
        let link = self.link.as_ref();
        match codec.or(link.and_then(|l| l.codec))? {
            OggCodec::Opus {
                channels,
                mapping_family,
            } if mapping_family != 0 || channels > 2 => Some(format!(
                "no silent packet for Opus of {channels} channels \
                 (channel mapping family {mapping_family}; mono and stereo only)"
            )),
            OggCodec::Opus { .. } => None,
            OggCodec::Vorbis { .. } => match link?.vorbis.as_ref()?.headers.as_ref()? {
                Ok(_) => None,
                Err(reason) => Some(reason.clone()),
            },
        }
    }

    /// The last pages of a link of silence, when a song's first page just ended it: they
    /// go out before that page.
    pub(crate) fn take_closing(&mut self) -> Option<AudioFrame> {
        self.closing.take()
    }

    /// A page of silent packets in the current logical stream, or `None` when none can go
    /// now (between the header pages, inside a packet, a Vorbis setup not read, or a codec
    /// without silence). After the last page of a link, `new_link` starts a link of silence
    /// (its header pages first), which the next song's first page ends: a radio whose
    /// queue ran dry keeps its listeners.
    pub(crate) fn silence(&mut self, new_link: bool) -> Option<AudioFrame> {
        if let Some(link) = self.link.as_mut() {
            if link.own {
                if !new_link {
                    return None; // a link of silence needs no padding
                }
                if let Some(page) = link.header_pages.pop_front() {
                    return Some(AudioFrame::new(page, 0, link.rate()));
                }
            }
            if link.open_for_audio && !link.ended {
                return link.silent_page(false);
            }
        }
        let ended = self.link.as_ref().is_none_or(|l| l.ended);
        if !(new_link && ended) {
            return None;
        }
        self.link = Some(self.link_of_silence()?);
        self.silence(new_link)
    }

    /// A link of silence in the last link's codec, its header pages ready: `OpusHead` and
    /// `OpusTags` (RFC 7845 §5), or the last Vorbis link's identification and setup
    /// headers around a comment header of our own.
    fn link_of_silence(&self) -> Option<Link> {
        let codec = self.last_codec?;
        // A serial unlike the last link's and, almost surely, the next song's.
        let serial = self
            .link
            .as_ref()
            .map_or(0x5349_4C00, |l| l.serial ^ 0x8000_0000);
        let mut sequence = u32::MAX; // the first page is 0
        let (header_pages, vorbis) = match codec {
            OggCodec::Opus {
                channels,
                mapping_family: 0,
            } if channels <= 2 => {
                // RFC 7845 §5.1: version 1, channels, no pre-skip, 48 kHz, no gain,
                // mapping family 0.
                let mut head = b"OpusHead\x01".to_vec();
                head.push(channels);
                head.extend(0u16.to_le_bytes());
                head.extend(48_000u32.to_le_bytes());
                head.extend([0, 0, 0]);
                let vendor = b"icecast-source";
                let mut tags = b"OpusTags".to_vec();
                tags.extend((vendor.len() as u32).to_le_bytes());
                tags.extend(vendor);
                tags.extend(0u32.to_le_bytes());
                let mut pages = paginate(&[&head], serial, &mut sequence, true, false, 0);
                pages.extend(paginate(&[&tags], serial, &mut sequence, false, false, 0));
                (pages, None)
            }
            OggCodec::Vorbis { .. } => {
                let headers = Arc::clone(self.last_vorbis.as_ref()?);
                // §A.2: the identification header alone on the first page; the comment
                // and setup headers on the next pages, the first audio packet on a new one.
                let mut pages = paginate(
                    &[&headers.identification],
                    serial,
                    &mut sequence,
                    true,
                    false,
                    0,
                );
                pages.extend(paginate(
                    &[&vorbis_comment(), &headers.setup_packet],
                    serial,
                    &mut sequence,
                    false,
                    false,
                    0,
                ));
                (pages, Some(VorbisLink::of_silence(headers)))
            }
            OggCodec::Opus { .. } => return None,
        };
        Some(Link {
            serial,
            codec: Some(codec),
            inserted_pages: 0,
            inserted_samples: 0,
            sequence,
            granule: 0,
            open_for_audio: true,
            ended: false,
            own: true,
            header_pages: header_pages.into(),
            vorbis,
        })
    }
}

#[cfg(test)]
#[path = "ogg_relay_tests.rs"]
mod tests;

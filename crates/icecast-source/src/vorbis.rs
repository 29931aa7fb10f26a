//! Vorbis I headers read as far as a silent audio packet needs them, and that packet
//! (Vorbis I specification, Xiph.Org: identification header §4.2.2, setup header §4.2.4,
//! codebooks §3.2.1, floor 0 §6.2.1, floor 1 §7.2.2, residues §8.6.1, audio packets
//! §4.3.1–§4.3.2).
//!
//! A Vorbis audio packet cannot be written without the stream's setup header: its mode
//! number has `ilog(modes - 1)` bits, and each channel's floor (0 or 1, through the
//! mapping's submap mux) says how "unused" is written. The setup header is read in full,
//! since those fields come after the codebooks, floors and residues, whose lengths depend
//! on their contents; only what the silent packet needs is kept.
//!
//! A packet whose every floor is "unused" reads no residue (§4.3.2 step 7 and §8.6.2: all
//! vectors "do not decode"), so it decodes to digital silence and adds `blocksize / 2`
//! samples once overlapped with its neighbours.
//!
//! Hostile headers cost at most one pass over their bits: every count is bounded by its
//! field width, every loop reads at least one bit per turn, and runs of fixed-width fields
//! (codebook lengths, lookup values) are skipped by arithmetic; the end of the packet is an
//! error, never a panic. Nothing per codebook entry is stored.

use std::fmt;

/// Why a Vorbis header cannot be read: what, and the byte of the packet where it was seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HeaderError {
    /// Which header and what is wrong.
    pub(crate) what: String,
    /// Byte offset in the header packet.
    pub(crate) byte: usize,
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (byte {})", self.what, self.byte)
    }
}

/// Reads bits least significant first, as Vorbis packs them (§2.1.4).
struct BitReader<'a> {
    data: &'a [u8],
    /// Bits read so far.
    at: u64,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        BitReader { data, at: 0 }
    }

    fn error(&self, what: impl Into<String>) -> HeaderError {
        HeaderError {
            what: what.into(),
            byte: usize::try_from(self.at / 8).unwrap_or(usize::MAX),
        }
    }

    fn left(&self) -> u64 {
        (self.data.len() as u64 * 8).saturating_sub(self.at)
    }

    /// `width` bits (at most 32) as an unsigned number.
    fn read(&mut self, width: u32) -> Result<u32, HeaderError> {
        debug_assert!(width <= 32);
        if u64::from(width) > self.left() {
            return Err(self.error("end of packet"));
        }
        let mut value = 0u64;
        for i in 0..u64::from(width) {
            let bit = self.at + i;
            let byte = self.data[(bit / 8) as usize];
            value |= u64::from((byte >> (bit % 8)) & 1) << i;
        }
        self.at += u64::from(width);
        Ok(value as u32)
    }

    fn flag(&mut self) -> Result<bool, HeaderError> {
        self.read(1).map(|b| b == 1)
    }

    fn skip(&mut self, bits: u64) -> Result<(), HeaderError> {
        if bits > self.left() {
            return Err(self.error("end of packet"));
        }
        self.at += bits;
        Ok(())
    }

    /// An 8-bit index that must be below `count` (a codebook, floor, residue or mapping).
    fn index(&mut self, count: usize, what: &str) -> Result<usize, HeaderError> {
        let index = self.read(8)? as usize;
        if index >= count {
            return Err(self.error(format!("{what} {index} of {count}")));
        }
        Ok(index)
    }
}

/// Writes bits least significant first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    used: u32,
}

impl BitWriter {
    fn put(&mut self, value: u32, width: u32) {
        for i in 0..width {
            if self.used.is_multiple_of(8) {
                self.out.push(0);
            }
            if value.checked_shr(i).unwrap_or(0) & 1 == 1
                && let Some(last) = self.out.last_mut()
            {
                *last |= 1 << (self.used % 8);
            }
            self.used += 1;
        }
    }
}

/// §9.2.1: the position of the highest set bit (`ilog(0) = 0`, `ilog(4) = 3`).
fn ilog(value: u32) -> u32 {
    32 - value.leading_zeros()
}

/// §9.2.3: the greatest `r` with `r^dimensions <= entries` (`None` for 0 dimensions, where
/// every `r` fits).
fn lookup1_values(entries: u32, dimensions: u32) -> Option<u32> {
    if dimensions == 0 {
        return None;
    }
    let fits = |r: u32| {
        let mut product = 1u64;
        for _ in 0..dimensions {
            product *= u64::from(r);
            if product > u64::from(entries) {
                return false;
            }
            if product <= 1 {
                // 0 and 1 stay where they are: no need to go on up to 65535 times.
                break;
            }
        }
        true
    };
    // Binary search over 0..=entries (entries < 2^24): about 25 tests of at most 25 turns.
    let (mut low, mut high) = (0u32, entries);
    while low < high {
        let mid = low + (high - low).div_ceil(2);
        if fits(mid) {
            low = mid;
        } else {
            high = mid - 1;
        }
    }
    Some(low)
}

/// How a channel's floor writes "unused" in an audio packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChannelFloor {
    /// Floor 0 (§6.2.2): an amplitude of 0 in `amplitude_bits` bits.
    Zero {
        /// `floor0_amplitude_bits`.
        amplitude_bits: u8,
    },
    /// Floor 1 (§7.2.3): the `nonzero` bit clear.
    One,
}

/// One mode (§4.2.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mode {
    /// The long block size (`blocksize_1`) rather than the short one.
    pub(crate) long: bool,
    /// Index of its mapping.
    pub(crate) mapping: u8,
}

/// What an audio packet's first bits say (§4.3.1 steps 1–4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    /// A long block.
    pub(crate) long: bool,
    /// For a long block, its `previous_window_flag`: the size of the block before it.
    pub(crate) previous_long: Option<bool>,
    /// For a long block, its `next_window_flag`: the size of the block the encoder put
    /// after it (a short block's window does not depend on its neighbours).
    pub(crate) next_long: Option<bool>,
}

/// What a silent packet needs from a Vorbis stream's identification and setup headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VorbisSetup {
    /// `audio_channels`.
    pub(crate) channels: u8,
    /// `blocksize_0` and `blocksize_1` (64 to 8192 samples).
    pub(crate) blocksizes: [u32; 2],
    pub(crate) modes: Vec<Mode>,
    /// Per mapping, each channel's floor (through the submap mux).
    pub(crate) mappings: Vec<Vec<ChannelFloor>>,
}

/// The identification header's fields that the setup header and audio packets depend on
/// (§4.2.2): channels and block sizes.
fn identification(packet: &[u8]) -> Result<(u8, [u32; 2]), HeaderError> {
    let error = |what: &str, byte| HeaderError {
        what: format!("Vorbis identification header: {what}"),
        byte,
    };
    if packet.len() < 30 || !packet.starts_with(b"\x01vorbis") {
        return Err(error("not one (30 bytes from 01 'vorbis')", 0));
    }
    if packet[7..11] != [0; 4] {
        return Err(error("vorbis_version is not 0", 7));
    }
    let channels = packet[11];
    if channels == 0 {
        return Err(error("0 channels", 11));
    }
    let (short, long) = (u32::from(packet[28] & 0x0F), u32::from(packet[28] >> 4));
    if !(6..=13).contains(&short) || !(6..=13).contains(&long) || short > long {
        return Err(error(
            &format!("block sizes 2^{short} and 2^{long} (64 to 8192, short <= long)"),
            28,
        ));
    }
    if packet[29] & 1 == 0 {
        return Err(error("framing bit not set", 29));
    }
    Ok((channels, [1 << short, 1 << long]))
}

/// Skips one codebook (§3.2.1), checking its structure.
fn skip_codebook(bits: &mut BitReader) -> Result<(), HeaderError> {
    if bits.read(24)? != 0x56_4342 {
        return Err(bits.error("no codebook sync pattern (BCV)"));
    }
    let dimensions = bits.read(16)?;
    let entries = bits.read(24)?;
    let ordered = bits.flag()?;
    if !ordered {
        if bits.flag()? {
            // Sparse: a flag per entry, then a 5-bit length for the used ones.
            for _ in 0..entries {
                if bits.flag()? {
                    bits.skip(5)?;
                }
            }
        } else {
            bits.skip(u64::from(entries) * 5)?;
        }
    } else {
        bits.skip(5)?; // the first length
        let mut entry = 0u32;
        while entry < entries {
            // At least one bit per turn: ilog of a positive number.
            let number = bits.read(ilog(entries - entry))?;
            entry = entry.saturating_add(number);
            if entry > entries {
                return Err(bits.error("ordered codebook lengths past its entry count"));
            }
        }
    }
    match bits.read(4)? {
        0 => {}
        lookup @ (1 | 2) => {
            bits.skip(32 + 32)?; // minimum and delta values (float32)
            let value_bits = bits.read(4)? + 1;
            bits.skip(1)?; // sequence_p
            let values = if lookup == 1 {
                lookup1_values(entries, dimensions)
                    .ok_or_else(|| bits.error("codebook of lookup type 1 with 0 dimensions"))?
                    .into()
            } else {
                u64::from(entries) * u64::from(dimensions)
            };
            bits.skip(values * u64::from(value_bits))?;
        }
        other => return Err(bits.error(format!("codebook lookup type {other}"))),
    }
    Ok(())
}

/// Reads one floor (§6.2.1, §7.2.2): how it writes "unused".
fn read_floor(bits: &mut BitReader, codebooks: usize) -> Result<ChannelFloor, HeaderError> {
    match bits.read(16)? {
        0 => {
            bits.skip(8 + 16 + 16)?; // order, rate, bark map size
            let amplitude_bits = bits.read(6)? as u8;
            bits.skip(8)?; // amplitude offset
            let books = bits.read(4)? + 1;
            for _ in 0..books {
                bits.index(codebooks, "floor 0 codebook")?;
            }
            Ok(ChannelFloor::Zero { amplitude_bits })
        }
        1 => {
            let partitions = bits.read(5)?;
            let mut classes = [0u8; 31];
            let mut class_count = 0;
            for class in classes.iter_mut().take(partitions as usize) {
                *class = bits.read(4)? as u8;
                class_count = class_count.max(usize::from(*class) + 1);
            }
            let mut dimensions = [0u32; 16];
            for dimension in dimensions.iter_mut().take(class_count) {
                *dimension = bits.read(3)? + 1;
                let subclasses = bits.read(2)?;
                if subclasses > 0 {
                    bits.index(codebooks, "floor 1 master codebook")?;
                }
                for _ in 0..(1 << subclasses) {
                    // Stored plus one: 0 means "no codebook".
                    let book = bits.read(8)? as usize;
                    if book > codebooks {
                        return Err(bits.error(format!(
                            "floor 1 subclass codebook {} of {codebooks}",
                            book - 1
                        )));
                    }
                }
            }
            bits.skip(2)?; // multiplier
            let range_bits = bits.read(4)?;
            for &class in classes.iter().take(partitions as usize) {
                let values = dimensions[usize::from(class)];
                bits.skip(u64::from(values) * u64::from(range_bits))?;
            }
            Ok(ChannelFloor::One)
        }
        other => Err(bits.error(format!("floor type {other}"))),
    }
}

/// Skips one residue (§8.6.1), checking its codebook numbers.
fn skip_residue(bits: &mut BitReader, codebooks: usize) -> Result<(), HeaderError> {
    let kind = bits.read(16)?;
    if kind > 2 {
        return Err(bits.error(format!("residue type {kind}")));
    }
    bits.skip(24 + 24 + 24)?; // begin, end, partition size
    let classifications = bits.read(6)? + 1;
    bits.index(codebooks, "residue classbook")?;
    let mut cascades = [0u32; 64];
    for cascade in cascades.iter_mut().take(classifications as usize) {
        let low = bits.read(3)?;
        let high = if bits.flag()? { bits.read(5)? } else { 0 };
        *cascade = high * 8 + low;
    }
    for cascade in cascades.iter().take(classifications as usize) {
        for _ in 0..cascade.count_ones() {
            bits.index(codebooks, "residue codebook")?;
        }
    }
    Ok(())
}

/// Reads one mapping (§4.2.4.4): the floor each channel uses.
fn read_mapping(
    bits: &mut BitReader,
    channels: u8,
    floors: &[ChannelFloor],
    residues: usize,
) -> Result<Vec<ChannelFloor>, HeaderError> {
    let kind = bits.read(16)?;
    if kind != 0 {
        return Err(bits.error(format!("mapping type {kind}")));
    }
    let submaps = if bits.flag()? { bits.read(4)? + 1 } else { 1 };
    if bits.flag()? {
        let steps = bits.read(8)? + 1;
        let width = ilog(u32::from(channels) - 1);
        for _ in 0..steps {
            let magnitude = bits.read(width)?;
            let angle = bits.read(width)?;
            if magnitude == angle || magnitude >= channels.into() || angle >= channels.into() {
                return Err(bits.error(format!(
                    "coupling of channels {magnitude} and {angle} of {channels}"
                )));
            }
        }
    }
    if bits.read(2)? != 0 {
        return Err(bits.error("mapping reserved bits not 0"));
    }
    let mut mux = vec![0usize; usize::from(channels)];
    if submaps > 1 {
        for submap in &mut mux {
            *submap = bits.read(4)? as usize;
            if *submap >= submaps as usize {
                return Err(bits.error(format!("channel mux {submap} of {submaps} submaps")));
            }
        }
    }
    let mut submap_floors = Vec::with_capacity(submaps as usize);
    for _ in 0..submaps {
        bits.skip(8)?; // time configuration placeholder
        submap_floors.push(floors[bits.index(floors.len(), "mapping floor")?]);
        bits.index(residues, "mapping residue")?;
    }
    Ok(mux.iter().map(|&submap| submap_floors[submap]).collect())
}

impl VorbisSetup {
    /// Reads a stream's identification header (§4.2.2) and setup header (§4.2.4).
    pub(crate) fn read(identification: &[u8], setup: &[u8]) -> Result<VorbisSetup, HeaderError> {
        let (channels, blocksizes) = self::identification(identification)?;
        let Some(body) = setup.strip_prefix(b"\x05vorbis") else {
            return Err(HeaderError {
                what: "not a Vorbis setup header (05 'vorbis')".into(),
                byte: 0,
            });
        };
        let mut bits = BitReader::new(body);
        Self::read_setup(&mut bits, channels, blocksizes).map_err(|mut e| {
            e.what = format!("Vorbis setup header: {}", e.what);
            e.byte += 7;
            e
        })
    }

    fn read_setup(
        bits: &mut BitReader,
        channels: u8,
        blocksizes: [u32; 2],
    ) -> Result<VorbisSetup, HeaderError> {
        let codebooks = bits.read(8)? as usize + 1;
        for n in 0..codebooks {
            skip_codebook(bits).map_err(|mut e| {
                e.what = format!("codebook {n} of {codebooks}: {}", e.what);
                e
            })?;
        }
        // Time domain transforms: placeholders, each 0 (§4.2.4.2).
        for _ in 0..=bits.read(6)? {
            if bits.read(16)? != 0 {
                return Err(bits.error("time domain transform type not 0"));
            }
        }
        let floor_count = bits.read(6)? + 1;
        let mut floors = Vec::with_capacity(floor_count as usize);
        for _ in 0..floor_count {
            floors.push(read_floor(bits, codebooks)?);
        }
        let residues = bits.read(6)? as usize + 1;
        for _ in 0..residues {
            skip_residue(bits, codebooks)?;
        }
        let mapping_count = bits.read(6)? + 1;
        let mut mappings = Vec::with_capacity(mapping_count as usize);
        for _ in 0..mapping_count {
            mappings.push(read_mapping(bits, channels, &floors, residues)?);
        }
        let mode_count = bits.read(6)? + 1;
        let mut modes = Vec::with_capacity(mode_count as usize);
        for _ in 0..mode_count {
            let long = bits.flag()?;
            let window = bits.read(16)?;
            let transform = bits.read(16)?;
            if window != 0 || transform != 0 {
                return Err(bits.error(format!(
                    "mode window type {window}, transform type {transform} (both 0 in Vorbis I)"
                )));
            }
            let mapping = bits.index(mappings.len(), "mode mapping")? as u8;
            modes.push(Mode { long, mapping });
        }
        if !bits.flag()? {
            return Err(bits.error("framing bit not set"));
        }
        Ok(VorbisSetup {
            channels,
            blocksizes,
            modes,
            mappings,
        })
    }

    /// Bits of an audio packet's mode number.
    fn mode_bits(&self) -> u32 {
        ilog(self.modes.len().saturating_sub(1) as u32)
    }

    /// Samples in a block (`blocksize_1` when `long`).
    pub(crate) fn blocksize(&self, long: bool) -> u32 {
        self.blocksizes[usize::from(long)]
    }

    /// Reads the first bits of an audio packet (its first two bytes are enough); `None`
    /// for a header packet, a mode the stream does not have, or too few bits.
    pub(crate) fn block(&self, head: &[u8]) -> Option<Block> {
        let mut bits = BitReader::new(head);
        if bits.flag().ok()? {
            return None; // a header packet (type bit set)
        }
        let mode = self.modes.get(bits.read(self.mode_bits()).ok()? as usize)?;
        let (previous_long, next_long) = if mode.long {
            (Some(bits.flag().ok()?), Some(bits.flag().ok()?))
        } else {
            (None, None)
        };
        Some(Block {
            long: mode.long,
            previous_long,
            next_long,
        })
    }

    /// The mode a silent block uses: one of size `long` if the stream has one, else the
    /// first mode.
    pub(crate) fn silent_mode(&self, long: bool) -> usize {
        self.modes.iter().position(|m| m.long == long).unwrap_or(0)
    }

    /// Whether `mode` has long blocks.
    pub(crate) fn is_long(&self, mode: usize) -> bool {
        self.modes.get(mode).is_some_and(|m| m.long)
    }

    /// A silent audio packet in `mode` (§4.3.1): packet type 0, the mode number, for a
    /// long block the window flags (the sizes of the blocks before and after it), then
    /// every channel's floor "unused", so no residue follows; zero bits to the byte.
    pub(crate) fn silent_packet(
        &self,
        mode: usize,
        previous_long: bool,
        next_long: bool,
    ) -> Vec<u8> {
        let mut bits = BitWriter::default();
        bits.put(0, 1);
        bits.put(mode as u32, self.mode_bits());
        if self.is_long(mode) {
            bits.put(u32::from(previous_long), 1);
            bits.put(u32::from(next_long), 1);
        }
        let floors = self
            .modes
            .get(mode)
            .and_then(|m| self.mappings.get(usize::from(m.mapping)));
        for floor in floors.into_iter().flatten() {
            match *floor {
                ChannelFloor::Zero { amplitude_bits } => bits.put(0, amplitude_bits.into()),
                ChannelFloor::One => bits.put(0, 1),
            }
        }
        bits.out
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn bits_are_read_and_written_least_significant_first() {
        // §2.1.4's example: 12 (4 bits), -1 (3 bits), 17 (7 bits), 6969 (13 bits).
        let mut w = BitWriter::default();
        w.put(12, 4);
        w.put(0b111, 3);
        w.put(17, 7);
        w.put(6969, 13);
        assert_eq!(w.out, [0b1111_1100, 0b0100_1000, 0b1100_1110, 0b0000_0110]);
        let mut r = BitReader::new(&w.out);
        assert_eq!(r.read(4), Ok(12));
        assert_eq!(r.read(3), Ok(7));
        assert_eq!(r.read(7), Ok(17));
        assert_eq!(r.read(13), Ok(6969));
        assert_eq!(r.read(5), Ok(0), "the zero bits to the byte");
        assert_eq!(r.read(1).unwrap_err().what, "end of packet");
        let mut r = BitReader::new(&[0xFF; 4]);
        assert_eq!(r.read(32), Ok(u32::MAX));
    }

    #[test]
    fn ilog_and_lookup1_values_follow_the_spec() {
        assert_eq!(
            [0, 1, 2, 3, 4, 7, 8].map(ilog),
            [0, 1, 2, 2, 3, 3, 4],
            "§9.2.1"
        );
        assert_eq!(lookup1_values(81, 4), Some(3));
        assert_eq!(lookup1_values(80, 4), Some(2));
        assert_eq!(lookup1_values(1, 2), Some(1));
        assert_eq!(lookup1_values(0, 2), Some(0));
        assert_eq!(lookup1_values(1 << 23, 1), Some(1 << 23));
        assert_eq!(lookup1_values(0xFF_FFFF, 65535), Some(1));
        assert_eq!(lookup1_values(10, 0), None);
    }

    /// The packets of the first logical stream of an Ogg file, read by the `ogg` crate
    /// (written by others): data and, for the last packet of a page, its granule.
    pub(crate) fn ogg_packets(file: &[u8]) -> Vec<(Vec<u8>, Option<u64>, bool)> {
        let mut reader = ogg::PacketReader::new(std::io::Cursor::new(file));
        let mut packets = Vec::new();
        while let Ok(Some(packet)) = reader.read_packet() {
            let granule = packet.last_in_page().then(|| packet.absgp_page());
            let last = packet.last_in_stream();
            packets.push((packet.data, granule, last));
        }
        packets
    }

    /// Reads a real stream's headers, then every audio packet's mode: the window flags
    /// agree with the blocks around them, and the block sizes add up to the granule
    /// positions libvorbis wrote (§4.3.8; the last page may cut the end short).
    pub(crate) fn check_real_stream(name: &str, file: &[u8]) -> VorbisSetup {
        let packets = ogg_packets(file);
        let setup = VorbisSetup::read(&packets[0].0, &packets[2].0)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(packets[1].0.starts_with(b"\x03vorbis"), "{name}");
        let (mut previous, mut announced, mut position) = (None::<Block>, None, 0u64);
        for (n, (data, granule, last)) in packets.iter().enumerate().skip(3) {
            let block = setup
                .block(data)
                .unwrap_or_else(|| panic!("{name}: packet {n} has no mode"));
            if let Some(before) = previous {
                position += u64::from(setup.blocksize(before.long) / 4);
                position += u64::from(setup.blocksize(block.long) / 4);
                if let Some(long) = block.previous_long {
                    assert_eq!(long, before.long, "{name}: packet {n}'s previous window");
                }
            }
            if let Some(long) = announced {
                assert_eq!(long, block.long, "{name}: packet {n} as announced");
            }
            announced = block.next_long;
            previous = Some(block);
            match granule {
                Some(granule) if *last => assert!(position >= *granule, "{name}: end"),
                Some(granule) => assert_eq!(position, *granule, "{name}: packet {n}"),
                None => {}
            }
        }
        // libvorbis: a short and a long mode (one mode where both sizes are the same, as
        // at low rates), floor 1 everywhere.
        let two = setup.blocksizes[0] < setup.blocksizes[1];
        let expected: &[bool] = if two { &[false, true] } else { &[false] };
        let longs: Vec<bool> = setup.modes.iter().map(|m| m.long).collect();
        assert_eq!(longs, expected, "{name}: {setup:?}");
        assert_eq!(setup.silent_mode(false), 0);
        assert_eq!(setup.silent_mode(true), usize::from(two));
        for floors in &setup.mappings {
            assert_eq!(floors.len(), usize::from(setup.channels));
            assert!(floors.iter().all(|f| *f == ChannelFloor::One), "{name}");
        }
        // A silent packet reads back as its mode, with the window flags asked for.
        for mode in 0..setup.modes.len() {
            for (previous_long, next_long) in [(true, true), (false, true), (true, false)] {
                let packet = setup.silent_packet(mode, previous_long, next_long);
                let block = setup.block(&packet).unwrap();
                assert_eq!(block.long, setup.is_long(mode));
                if block.long {
                    assert_eq!(
                        (block.previous_long, block.next_long),
                        (Some(previous_long), Some(next_long))
                    );
                }
                // Type bit, mode bits, a long block's window flags, a bit per channel.
                let bits = 1
                    + setup.mode_bits() as usize
                    + 2 * usize::from(block.long)
                    + usize::from(setup.channels);
                assert_eq!(packet.len(), bits.div_ceil(8), "{name}: {packet:02x?}");
            }
        }
        setup
    }

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(test_support::fixture(name)).unwrap()
    }

    #[test]
    fn setup_headers_of_libvorbis_fixtures_give_modes_and_floors() {
        let mono = check_real_stream("mono", &fixture("vorbis-22050-mono-q0.ogg"));
        assert_eq!((mono.channels, mono.blocksizes), (1, [1024, 1024]));
        assert_eq!(
            mono.silent_packet(0, false, false),
            [0x00],
            "type bit, floor bit"
        );
        let surround = check_real_stream("5.1", &fixture("vorbis-48000-5.1-q4.ogg"));
        assert_eq!((surround.channels, surround.blocksizes), (6, [256, 2048]));
        assert_eq!(
            surround.silent_packet(0, false, false),
            [0x00],
            "8 bits: type, mode, 6 floors"
        );
        assert_eq!(surround.silent_packet(1, true, true), [0x0E, 0x00]);
    }

    #[test]
    fn setup_headers_of_ffmpeg_libvorbis_in_every_layout_and_quality_are_read() {
        test_support::require_peer!("ffmpeg");
        let dir = test_support::temp_dir();
        let mut read = 0;
        for channels in [1, 2, 6] {
            for rate in [44_100, 48_000, 8_000] {
                for quality in ["-1", "2", "6", "10"] {
                    let name = format!("{channels}ch-{rate}-q{quality}.ogg");
                    let path = dir.path().join(&name);
                    let out = std::process::Command::new("ffmpeg")
                        .args(["-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i"])
                        .arg(format!(
                            "sine=frequency=440:duration=0.4:sample_rate={rate}"
                        ))
                        .args([
                            "-ac",
                            &channels.to_string(),
                            "-c:a",
                            "libvorbis",
                            "-q:a",
                            quality,
                        ])
                        .arg(&path)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let setup = check_real_stream(&name, &std::fs::read(&path).unwrap());
                    assert_eq!(setup.channels, channels);
                    read += 1;
                }
            }
        }
        assert_eq!(read, 36);
    }

    /// A setup header written bit by bit: one codebook, floors 0 and 1, one residue, one
    /// mapping of two submaps (channel 0 on floor 0, channel 1 on floor 1) with coupling,
    /// three modes (long, short, long).
    fn synthetic() -> (Vec<u8>, Vec<u8>) {
        let mut id = b"\x01vorbis\0\0\0\0\x02".to_vec();
        id.extend(44_100u32.to_le_bytes());
        id.extend([0; 12]);
        id.extend([0xB8, 0x01]); // blocksizes 2^8 and 2^11, framing
        let mut w = BitWriter::default();
        for (value, width) in [
            (0, 8),          // one codebook
            (0x56_4342, 24), // sync
            (1, 16),         // dimensions
            (2, 24),         // entries
            (0, 1),          // not ordered
            (0, 1),          // not sparse
            (0, 5),          // length 1
            (0, 5),          // length 1
            (0, 4),          // no lookup
            (0, 6),          // one time domain transform
            (0, 16),         // of type 0
            (1, 6),          // two floors
            (0, 16),         // floor 0
            (16, 8),         // order
            (22_050, 16),    // rate
            (256, 16),       // bark map size
            (7, 6),          // amplitude bits
            (40, 8),         // amplitude offset
            (0, 4),          // one book
            (0, 8),          // book 0
            (1, 16),         // floor 1
            (1, 5),          // one partition
            (0, 4),          // of class 0
            (0, 3),          // class 0: dimension 1
            (0, 2),          // no subclasses
            (0, 8),          // subclass book: none
            (1, 2),          // multiplier 2
            (8, 4),          // range bits
            (100, 8),        // one X
            (0, 6),          // one residue
            (2, 16),         // of type 2
            (0, 24),         // begin
            (128, 24),       // end
            (31, 24),        // partition size 32
            (0, 6),          // one classification
            (0, 8),          // classbook 0
            (1, 3),          // cascade low bits: book 0 only
            (0, 1),          // no high bits
            (0, 8),          // book 0
            (0, 6),          // one mapping
            (0, 16),         // of type 0
            (1, 1),          // submaps follow
            (1, 4),          // two submaps
            (1, 1),          // coupling follows
            (0, 8),          // one step
            (0, 1),          // magnitude channel 0
            (1, 1),          // angle channel 1
            (0, 2),          // reserved
            (0, 4),          // channel 0 on submap 0
            (1, 4),          // channel 1 on submap 1
            (0, 8),          // submap 0: time
            (0, 8),          // floor 0
            (0, 8),          // residue 0
            (0, 8),          // submap 1: time
            (1, 8),          // floor 1
            (0, 8),          // residue 0
            (2, 6),          // three modes
            (1, 1),          // long
            (0, 32),         // window and transform types
            (0, 8),          // mapping 0
            (0, 1),          // short
            (0, 32),
            (0, 8),
            (1, 1), // long
            (0, 32),
            (0, 8),
            (1, 1), // framing
        ] {
            w.put(value, width);
        }
        let mut setup = b"\x05vorbis".to_vec();
        setup.extend(w.out);
        (id, setup)
    }

    #[test]
    fn floor_0_writes_its_amplitude_bits_and_the_mux_picks_each_channels_floor() {
        let (id, setup) = synthetic();
        let read = VorbisSetup::read(&id, &setup).unwrap();
        assert_eq!(read.blocksizes, [256, 2048]);
        assert_eq!(
            read.mappings,
            [vec![
                ChannelFloor::Zero { amplitude_bits: 7 },
                ChannelFloor::One
            ]]
        );
        assert_eq!(read.silent_mode(true), 0);
        assert_eq!(read.silent_mode(false), 1);
        // Type 0, mode 1 in two bits, 7 zero bits of amplitude, floor 1's nonzero bit.
        assert_eq!(read.silent_packet(1, true, true), [0b0000_0010, 0]);
        // Mode 0, previous window long, next short: 13 bits.
        assert_eq!(read.silent_packet(0, true, false), [0b0000_1000, 0]);
        let block = read.block(&[0b0001_1000]).unwrap();
        assert_eq!(
            (block.long, block.previous_long, block.next_long),
            (true, Some(true), Some(true))
        );
        assert_eq!(read.block(&[0b0000_0001]), None, "a header packet");
        assert_eq!(read.block(&[0b0000_0110]), None, "mode 3 of 3");
        assert_eq!(read.block(&[0b0000_1000]).map(|b| b.long), Some(true));
    }

    #[test]
    fn cut_or_damaged_headers_are_errors_never_panics() {
        let (id, setup) = synthetic();
        let real = ogg_packets(&fixture("vorbis-22050-mono-q0.ogg"));
        for (id, setup) in [(&id, &setup), (&real[0].0, &real[2].0)] {
            for len in 0..setup.len() {
                let e = VorbisSetup::read(id, &setup[..len]).unwrap_err();
                assert!(e.byte <= len, "{e}");
            }
            for len in 0..id.len() {
                assert!(VorbisSetup::read(&id[..len], setup).is_err());
            }
            // Every bit flipped, one at a time: an error or a setup, never a panic.
            let mut damaged = setup.clone();
            for bit in 0..setup.len() * 8 {
                damaged[bit / 8] ^= 1 << (bit % 8);
                if let Ok(read) = VorbisSetup::read(id, &damaged) {
                    for mode in 0..read.modes.len() {
                        let _ = read.block(&read.silent_packet(mode, true, true));
                    }
                }
                damaged[bit / 8] ^= 1 << (bit % 8);
            }
        }
        let e = VorbisSetup::read(&id, &setup[..setup.len() - 1]).unwrap_err();
        assert_eq!(
            e.what, "Vorbis setup header: end of packet",
            "the framing bit"
        );
        let e = VorbisSetup::read(&id, &setup[..12]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("Vorbis setup header: codebook 0 of 1: end of packet"),
            "{e}"
        );
        // Hostile sizes: 2^24 - 1 entries of 65535 dimensions, their lengths in one run
        // (ordered), and a lookup table of 2^40 values: skipped by arithmetic, then the
        // end of the packet.
        let mut w = BitWriter::default();
        for (value, width) in [
            (0, 8),
            (0x56_4342, 24),
            (0xFFFF, 16),
            (0xFF_FFFF, 24),
            (1, 1),
            (0, 5),
            (0xFF_FFFF, 24),
            (2, 4),
            (0, 32),
            (0, 32),
            (15, 4),
            (0, 1),
        ] {
            w.put(value, width);
        }
        let mut hostile = b"\x05vorbis".to_vec();
        hostile.extend(w.out);
        hostile.extend([0; 64]);
        let e = VorbisSetup::read(&id, &hostile).unwrap_err();
        assert_eq!(
            e.what,
            "Vorbis setup header: codebook 0 of 1: end of packet"
        );
        let mut bad_sync = setup.clone();
        bad_sync[8] ^= 0x01;
        assert!(
            VorbisSetup::read(&id, &bad_sync)
                .unwrap_err()
                .what
                .contains("sync pattern")
        );
        let mut no_framing = id.clone();
        no_framing[29] = 0;
        assert!(
            VorbisSetup::read(&no_framing, &setup)
                .unwrap_err()
                .what
                .contains("framing")
        );
    }
}

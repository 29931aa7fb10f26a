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
#[path = "vorbis_tests.rs"]
pub(crate) mod tests;

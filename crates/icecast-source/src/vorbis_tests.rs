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
    let setup =
        VorbisSetup::read(&packets[0].0, &packets[2].0).unwrap_or_else(|e| panic!("{name}: {e}"));
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

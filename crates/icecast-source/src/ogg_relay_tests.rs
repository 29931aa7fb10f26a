use super::*;
use crate::ogg::crc32;
use crate::vorbis::tests::{check_real_stream, ogg_packets};

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

fn fixture(name: &str) -> Bytes {
    Bytes::from(std::fs::read(test_support::fixture(name)).unwrap())
}

/// A song's pages through a relay, `count` silent pages after its page `at`: the
/// bytes sent, and the samples of silence.
fn muted(file: &Bytes, at: usize, count: usize) -> (Vec<u8>, u32) {
    let frames = crate::ogg::song_frames("song", file.clone(), 7).unwrap();
    let mut relay = OggRelay::default();
    let (mut out, mut inserted) = (Vec::new(), 0);
    for (n, frame) in frames.into_iter().enumerate() {
        out.extend_from_slice(&relay.page(frame).data);
        if n < 2 {
            assert!(
                relay.silence(true).is_none(),
                "none between the header pages"
            );
        }
        if n == at {
            for _ in 0..count {
                let silence = relay.silence(true).expect("silence between audio pages");
                inserted += silence.samples;
                out.extend_from_slice(&silence.data);
            }
        }
    }
    assert!(relay.silence(false).is_none(), "none after the last page");
    (out, inserted)
}

const FIXTURES: [&str; 2] = ["vorbis-22050-mono-q0.ogg", "vorbis-48000-5.1-q4.ogg"];

#[test]
fn silent_vorbis_packets_keep_the_links_granules_and_window_flags_true() {
    for name in FIXTURES {
        let song = fixture(name);
        let (out, inserted) = muted(&song, 3, 10);
        // Window flags agree with the blocks around them, block sizes add up to the
        // (renumbered) granule positions.
        let setup = check_real_stream(name, &out);
        let before = ogg_packets(&song);
        let after = ogg_packets(&out);
        let silent =
            |p: &Vec<u8>| p.len() <= 2 && p[0] & 1 == 0 && p.iter().all(|b| *b & !0x1E == 0);
        let heard: Vec<&Vec<u8>> = after.iter().map(|p| &p.0).filter(|p| !silent(p)).collect();
        let song_packets: Vec<&Vec<u8>> = before.iter().map(|p| &p.0).collect();
        assert_eq!(heard, song_packets, "{name}: the song's packets, in order");
        // Each silent packet adds half its block.
        let added: u32 = after
            .iter()
            .filter(|p| silent(&p.0))
            .map(|p| setup.blocksize(setup.block(&p.0).unwrap().long) / 2)
            .sum();
        assert_eq!(inserted, added, "{name}");
        assert!(
            inserted >= 10 * 1024,
            "{name}: pages of 1024 samples at least"
        );
        let last = |p: &[(Vec<u8>, Option<u64>, bool)]| p.last().unwrap().1.unwrap();
        assert_eq!(last(&after), last(&before) + u64::from(inserted), "{name}");
        // After every audio page but the last: short and long blocks on either side.
        let pages = crate::ogg::OggPages::new(song.clone()).count();
        for at in 2..pages - 1 {
            check_real_stream(
                &format!("{name} muted after page {at}"),
                &muted(&song, at, 3).0,
            );
        }
    }
}

#[test]
fn ffmpeg_decodes_a_muted_vorbis_song_with_digital_silence_in_it() {
    test_support::require_peer!("ffmpeg");
    let dir = test_support::temp_dir();
    for name in FIXTURES {
        let song = fixture(name);
        let (out, inserted) = muted(&song, 3, 10);
        let path = dir.path().join(name);
        std::fs::write(&path, &out).unwrap();
        let decoded = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i"])
            .arg(&path)
            .args(["-f", "s16le", "-ac", "1", "-"])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&decoded.stderr), "", "{name}");
        let samples: Vec<i16> = decoded
            .stdout
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect();
        let original = ogg_packets(&song).last().unwrap().1.unwrap() as usize;
        assert_eq!(samples.len(), original + inserted as usize, "{name}");
        // The longest run of zeros is the silence (a sine crosses zero in one sample).
        let (mut run, mut longest) = (0, 0);
        for s in &samples {
            run = if *s == 0 { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        println!(
            "{name}: {} samples, {inserted} inserted, {longest} zeros",
            samples.len()
        );
        // The song's windows overlap the silence by up to a quarter block on each side.
        assert!(
            longest + 1024 >= inserted as usize,
            "{name}: {longest} of {inserted}"
        );
        assert!(
            longest <= inserted as usize + 2048,
            "{name}: {longest} of {inserted}"
        );
    }
}

#[test]
fn a_dry_vorbis_queue_gets_a_link_of_silence_with_the_songs_headers() {
    let song = fixture("vorbis-48000-5.1-q4.ogg");
    let mut relay = OggRelay::default();
    let mut links: Vec<Vec<u8>> = vec![Vec::new()];
    for frame in crate::ogg::song_frames("a", song.clone(), 7).unwrap() {
        links[0].extend_from_slice(&relay.page(frame).data);
    }
    assert!(relay.silence(false).is_none(), "no padding after the end");
    let mut silence = Vec::new();
    let mut samples = 0;
    for _ in 0..20 {
        let frame = relay.silence(true).unwrap();
        samples += frame.samples;
        silence.extend_from_slice(&frame.data);
    }
    assert!(
        relay.silence(false).is_none(),
        "a link of silence needs no padding"
    );
    let mut next = Vec::new();
    for (n, frame) in crate::ogg::song_frames("b", song.clone(), 8)
        .unwrap()
        .into_iter()
        .enumerate()
    {
        next.extend_from_slice(&relay.page(frame).data);
        if n == 0 {
            let closing = relay.take_closing().expect("the link of silence ends");
            silence.extend_from_slice(&closing.data);
            samples += closing.samples;
        }
    }
    links.push(silence);
    links.push(next);
    let song_packets = ogg_packets(&song);
    let own = ogg_packets(&links[1]);
    assert_eq!(
        own[0].0, song_packets[0].0,
        "the song's identification header"
    );
    assert!(own[1].0.starts_with(b"\x03vorbis\x0e\0\0\0icecast-source"));
    assert_eq!(own[2].0, song_packets[2].0, "the song's setup header");
    assert!(own.last().unwrap().2, "ended (EOS)");
    let setup = check_real_stream("link of silence", &links[1]);
    assert!(
        own[3..]
            .iter()
            .all(|p| p.0 == setup.silent_packet(0, false, false))
    );
    assert_eq!(own.last().unwrap().1, Some(u64::from(samples)));
    let pages: Vec<OggPage> = crate::ogg::OggPages::new(Bytes::from(links[1].clone()))
        .map(Result::unwrap)
        .collect();
    assert!(pages[0].first && pages.iter().skip(1).all(|p| !p.first));
    assert_eq!(
        pages.iter().map(OggPage::sequence).collect::<Vec<_>>(),
        (0..pages.len() as u32).collect::<Vec<_>>()
    );
    assert_ne!(pages[0].serial, 7);
    assert_eq!(
        ogg_packets(&links[2]).len(),
        song_packets.len(),
        "the next song whole"
    );

    if test_support::peers_present(module_path!(), &["ffmpeg"]) {
        let dir = test_support::temp_dir();
        let path = dir.path().join("chain.ogg");
        std::fs::write(&path, links.concat()).unwrap();
        let errors = test_support::ffprobe::decode_errors(&path);
        // ffmpeg 5.1's muxer says this of every chained Vorbis file (`cat a.ogg b.ogg`).
        let other: Vec<&str> = errors
            .lines()
            .filter(|l| !l.contains("non monotonically increasing dts"))
            .collect();
        assert!(other.is_empty(), "{errors}");
    }
}

#[test]
fn an_unreadable_vorbis_setup_header_refuses_mute_and_says_why() {
    let mut song = fixture("vorbis-22050-mono-q0.ogg").to_vec();
    // The codebook sync pattern right after "\x05vorbis" and the codebook count.
    let at = song.windows(7).position(|w| w == b"\x05vorbis").unwrap() + 8;
    song[at] = b'X';
    let mut relay = OggRelay::default();
    let mut pages = crate::ogg::OggPages::new(Bytes::from(song)).map(Result::unwrap);
    relay.page(AudioFrame::new(pages.next().unwrap().data, 0, 22_050));
    assert!(
        relay.mute_refusal(None).is_none(),
        "the setup header is still to come"
    );
    relay.page(AudioFrame::new(pages.next().unwrap().data, 0, 22_050));
    let reason = relay.mute_refusal(None).unwrap();
    assert!(
        reason.starts_with("Vorbis setup header: codebook 0 of"),
        "{reason}"
    );
    assert!(reason.contains("sync pattern"), "{reason}");
    assert!(relay.silence(true).is_none());
}

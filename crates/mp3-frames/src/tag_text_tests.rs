//! Tags built byte by byte from the specs (id3.org ID3v2.2/2.3.0/2.4.0, ID3v1, APEv2).

use super::*;

fn syncsafe4(n: usize) -> [u8; 4] {
    [
        (n >> 21) as u8 & 0x7F,
        (n >> 14) as u8 & 0x7F,
        (n >> 7) as u8 & 0x7F,
        n as u8 & 0x7F,
    ]
}

/// An ID3v2 tag of `major` with `flags` around `body`.
fn id3(major: u8, flags: u8, body: &[u8]) -> Vec<u8> {
    let mut tag = vec![b'I', b'D', b'3', major, 0, flags];
    tag.extend(syncsafe4(body.len()));
    tag.extend(body);
    tag
}

/// A v2.3 frame: 4-byte id, 32-bit size, two flag bytes.
fn frame23(id: &[u8; 4], format: u8, data: &[u8]) -> Vec<u8> {
    let mut f = id.to_vec();
    f.extend((data.len() as u32).to_be_bytes());
    f.extend([0, format]);
    f.extend(data);
    f
}

/// A v2.4 frame: 4-byte id, syncsafe size.
fn frame24(id: &[u8; 4], format: u8, data: &[u8]) -> Vec<u8> {
    let mut f = id.to_vec();
    f.extend(syncsafe4(data.len()));
    f.extend([0, format]);
    f.extend(data);
    f
}

fn utf16_bom_le(s: &str) -> Vec<u8> {
    let mut v = vec![1, 0xFF, 0xFE];
    for u in s.encode_utf16() {
        v.extend(u.to_le_bytes());
    }
    v
}

#[test]
fn id3v23_utf16_with_bom_and_padding() {
    let mut body = frame23(b"TPE1", 0, &utf16_bom_le("Ärtist ♫"));
    // Big-endian BOM for the title, a terminating NUL, and an unrelated frame before it.
    body.extend(frame23(b"TALB", 0, b"\0Album"));
    let mut title = vec![1, 0xFE, 0xFF];
    for u in "Títle – Zwei".encode_utf16() {
        title.extend(u.to_be_bytes());
    }
    title.extend([0, 0]);
    body.extend(frame23(b"TIT2", 0, &title));
    body.extend([0; 64]); // padding
    let text = TagText::parse(
        TagKind::Id3v2 {
            major: 3,
            footer: false,
        },
        &id3(3, 0, &body),
    );
    assert_eq!(text.artist.as_deref(), Some("Ärtist ♫"));
    assert_eq!(text.title.as_deref(), Some("Títle – Zwei"));
    assert_eq!(
        text.stream_title().as_deref(),
        Some("Ärtist ♫ – Títle – Zwei")
    );
}

#[test]
fn id3v24_utf8_utf16be_multiple_values_and_extended_header() {
    // Extended header: syncsafe size 6 including itself, 1 flag byte, no flags set.
    let mut body = vec![0, 0, 0, 6, 1, 0];
    body.extend(frame24(b"TPE1", 0, b"\x03S\xC3\xA4ngerin\0Band"));
    let mut title = vec![2];
    for u in "Lied ♪".encode_utf16() {
        title.extend(u.to_be_bytes());
    }
    body.extend(frame24(b"TIT2", 0, &title));
    let text = TagText::parse(
        TagKind::Id3v2 {
            major: 4,
            footer: false,
        },
        &id3(4, 0x40, &body),
    );
    assert_eq!(text.artist.as_deref(), Some("Sängerin / Band"));
    assert_eq!(text.title.as_deref(), Some("Lied ♪"));
}

#[test]
fn id3v24_frame_unsync_and_data_length_but_no_double_unsync() {
    // "ÿ" in Latin-1 is 0xFF: unsynchronised as FF 00 inside the frame (flag 0x02), with a
    // data length indicator (0x01). The tag flag 0x80 is set too; v2.4 undoes it per frame
    // only, once.
    let mut data = syncsafe4(4).to_vec();
    data.extend([0, b'a', 0xFF, 0x00, b'b']);
    let body = frame24(b"TIT2", 0x03, &data);
    let text = TagText::parse(
        TagKind::Id3v2 {
            major: 4,
            footer: false,
        },
        &id3(4, 0x80, &body),
    );
    assert_eq!(text.title.as_deref(), Some("aÿb"));
}

#[test]
fn id3v23_tag_unsync_extended_header_and_skipped_frames() {
    // v2.3 extended header: size 6 not counting its 4 size bytes.
    let mut body = vec![0, 0, 0, 6, 0, 0, 0, 0, 0, 0];
    body.extend(frame23(b"TPE1", 0x80, b"\0compressed")); // skipped
    body.extend(frame23(b"TPE1", 0x20, b"\x07\0Grouped")); // grouping byte first
    body.extend(frame23(b"TIT2", 0, &[0, b'x', 0xFF, b'y']));
    // Tag-level unsynchronisation (v2.3 §5): a 00 after every FF of the built tag; the
    // frame sizes count the bytes before it.
    let unsynced: Vec<u8> = body
        .iter()
        .flat_map(|&b| if b == 0xFF { vec![0xFF, 0] } else { vec![b] })
        .collect();
    let text = TagText::parse(
        TagKind::Id3v2 {
            major: 3,
            footer: false,
        },
        &id3(3, 0xC0, &unsynced),
    );
    assert_eq!(text.artist.as_deref(), Some("Grouped"));
    assert_eq!(text.title.as_deref(), Some("xÿy"));
}

#[test]
fn id3v22_three_letter_frames_latin1() {
    let mut body = b"TT2\0\0\x07\0Sommer".to_vec();
    body.extend(b"TP1\0\0\x05\0M\xFCll");
    let text = TagText::parse(
        TagKind::Id3v2 {
            major: 2,
            footer: false,
        },
        &id3(2, 0, &body),
    );
    assert_eq!(text.stream_title().as_deref(), Some("Müll – Sommer"));
}

#[test]
fn id3v1_fields_and_ape_items() {
    let mut v1 = b"TAG".to_vec();
    let mut field = |s: &[u8]| {
        let mut f = s.to_vec();
        f.resize(30, 0);
        v1.extend(f);
    };
    field(b"Caf\xE9 Song");
    field(b"Artist  ");
    field(b"Album");
    v1.extend(b"2024");
    v1.extend([0; 30]);
    v1.push(12);
    assert_eq!(v1.len(), 128);
    let text = TagText::parse(TagKind::Id3v1, &v1);
    assert_eq!(text.stream_title().as_deref(), Some("Artist – Café Song"));

    let mut items = Vec::new();
    for (key, value, flags) in [
        (&b"Cover Art (Front)"[..], &b"\xFF\xD8binary"[..], 2u32),
        (b"TITLE", "Ünïcode".as_bytes(), 0),
        (b"Artist", b"APE Band", 0),
    ] {
        items.extend((value.len() as u32).to_le_bytes());
        items.extend(flags.to_le_bytes());
        items.extend(key);
        items.push(0);
        items.extend(value);
    }
    let mut footer = b"APETAGEX".to_vec();
    footer.extend(2000u32.to_le_bytes());
    footer.extend((items.len() as u32 + 32).to_le_bytes());
    footer.extend(3u32.to_le_bytes());
    footer.extend(0u32.to_le_bytes());
    footer.extend([0; 8]);
    let mut ape = items;
    ape.extend(footer);
    let text = TagText::parse(TagKind::Ape { header: false }, &ape);
    assert_eq!(text.stream_title().as_deref(), Some("APE Band – Ünïcode"));
}

#[test]
fn scan_prefers_id3v2_and_fills_from_id3v1() {
    let header = crate::FrameHeader::from_u32(0xFFFB_9064).unwrap();
    let frame = crate::silent_frame(&header).unwrap();
    let mut file = id3(4, 0, &frame24(b"TIT2", 0, b"\x03Long title from ID3v2"));
    file.extend(frame.repeat(3));
    let mut v1 = b"TAGShort".to_vec();
    v1.resize(33, 0);
    v1.extend(b"V1 Artist");
    v1.resize(128, 0);
    file.extend(v1);
    let text = TagText::scan(&file);
    assert_eq!(
        text.stream_title().as_deref(),
        Some("V1 Artist – Long title from ID3v2")
    );
    assert_eq!(TagText::scan(&frame.repeat(3)), TagText::default());
}

#[test]
fn garbage_never_panics() {
    for len in 0..64 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
        for kind in [
            TagKind::Id3v2 {
                major: 3,
                footer: false,
            },
            TagKind::Id3v1,
            TagKind::Ape { header: true },
        ] {
            let _ = TagText::parse(kind, &junk);
        }
        let mut tag = id3(3, 0x40, &junk);
        tag.truncate(10 + len / 2);
        let _ = TagText::parse(
            TagKind::Id3v2 {
                major: 3,
                footer: false,
            },
            &tag,
        );
    }
    // A frame claiming more bytes than the tag has; an APE footer claiming huge sizes.
    let body = frame23(b"TIT2", 0, b"\0abc");
    let mut tag = id3(3, 0, &body);
    tag[17] = 0x7F;
    assert_eq!(
        TagText::parse(
            TagKind::Id3v2 {
                major: 3,
                footer: false
            },
            &tag
        )
        .title,
        None
    );
    let mut ape = b"APETAGEX".to_vec();
    ape.extend([0xFF; 24]);
    assert_eq!(
        TagText::parse(TagKind::Ape { header: false }, &ape),
        TagText::default()
    );
}

//! Tag locations: ID3v2 (id3.org ID3v2.4.0 structure §3, v2.2/2.3 alike), ID3v1 (128-byte
//! `TAG` block, plus the 227-byte `TAG+` extension) and APEv2 (`APETAGEX` header/footer,
//! wiki.hydrogenaud.io "APE Tags Header"). Only where a tag is and how long; the contents
//! are left to tag libraries.

/// Which kind of tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TagKind {
    /// ID3v2.`major` (2, 3 or 4); `footer` when a v2.4 footer follows.
    Id3v2 {
        /// Major version (2, 3 or 4).
        major: u8,
        /// A 10-byte footer is present (v2.4 flag 0x10).
        footer: bool,
    },
    /// ID3v1 (or v1.1), 128 bytes.
    Id3v1,
    /// Enhanced ID3v1 `TAG+` block (227 bytes, before an ID3v1 tag).
    Id3v1Extended,
    /// APEv2 (or APEv1) tag; `header` when it starts with its 32-byte header.
    Ape {
        /// The tag has a header (not only a footer).
        header: bool,
    },
}

impl TagKind {
    /// Short name: `"ID3v2.3"`, `"ID3v1"`, `"ID3v1+"`, `"APE"`.
    pub fn name(self) -> String {
        match self {
            TagKind::Id3v2 { major, .. } => format!("ID3v2.{major}"),
            TagKind::Id3v1 => "ID3v1".into(),
            TagKind::Id3v1Extended => "ID3v1+".into(),
            TagKind::Ape { .. } => "APE".into(),
        }
    }
}

/// A tag found in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tag {
    /// Kind of tag.
    pub kind: TagKind,
    /// Byte offset of its first byte.
    pub offset: u64,
    /// Length in bytes (header, body and footer).
    pub len: u64,
}

/// What the bytes at a position say about a tag starting there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TagProbe {
    /// Not a tag start.
    No,
    /// Could be one; need this many bytes to tell.
    NeedMore(usize),
    /// A tag of this kind and declared length starts here.
    Starts(TagKind, u64),
    /// An APE footer without header that ends `len` bytes after the tag start, which lies
    /// `back` bytes before this position.
    ApeFooter {
        /// Bytes of the tag before this footer.
        back: u64,
        /// Whole tag length.
        len: u64,
        /// The tag also has a header.
        header: bool,
    },
}

/// Looks for a tag starting at `buf[0]`. `eof` says no bytes follow `buf`.
pub(crate) fn probe(buf: &[u8], eof: bool) -> TagProbe {
    let need = |n: usize| {
        if eof {
            TagProbe::No
        } else {
            TagProbe::NeedMore(n)
        }
    };
    let Some(&first) = buf.first() else {
        return need(1);
    };
    match first {
        b'I' => id3v2(buf).unwrap_or_else(|| need(10)),
        b'T' => id3v1(buf, eof).unwrap_or_else(|| need(128)),
        b'A' => ape(buf).unwrap_or_else(|| need(32)),
        _ => TagProbe::No,
    }
}

/// `None` = need more bytes.
fn id3v2(buf: &[u8]) -> Option<TagProbe> {
    let prefix = buf.len().min(3);
    if buf[..prefix] != b"ID3"[..prefix] {
        return Some(TagProbe::No);
    }
    let h = buf.get(..10)?;
    let (major, minor, flags) = (h[3], h[4], h[5]);
    let size = &h[6..10];
    // Undefined flag bits must be clear (v2.2: 2 flags, v2.3: 3, v2.4: 4): fewer false
    // "ID3" in junk.
    let undefined_flags = match major {
        2 => 0x3F,
        3 => 0x1F,
        _ => 0x0F,
    };
    if !(2..=4).contains(&major)
        || minor == 0xFF
        || flags & undefined_flags != 0
        || size.iter().any(|b| b & 0x80 != 0)
    {
        return Some(TagProbe::No);
    }
    // Syncsafe: 4 × 7 bits. The extended header is inside this size (never add it twice).
    let body = size.iter().fold(0u64, |acc, &b| (acc << 7) | u64::from(b));
    let footer = major == 4 && flags & 0x10 != 0;
    let len = 10 + body + if footer { 10 } else { 0 };
    Some(TagProbe::Starts(TagKind::Id3v2 { major, footer }, len))
}

fn id3v1(buf: &[u8], eof: bool) -> Option<TagProbe> {
    let prefix = buf.len().min(4);
    if buf[..prefix.min(3)] != b"TAG"[..prefix.min(3)] {
        return Some(TagProbe::No);
    }
    if buf.len() >= 4 && buf[3] == b'+' {
        // TAG+ is 227 bytes and must be followed by an ID3v1 tag.
        if buf.len() < 227 + 3 {
            return if eof { Some(TagProbe::No) } else { None };
        }
        return Some(if &buf[227..230] == b"TAG" {
            TagProbe::Starts(TagKind::Id3v1Extended, 227)
        } else {
            TagProbe::No
        });
    }
    if buf.len() < 128 {
        return if eof { Some(TagProbe::No) } else { None };
    }
    Some(TagProbe::Starts(TagKind::Id3v1, 128))
}

fn ape(buf: &[u8]) -> Option<TagProbe> {
    let prefix = buf.len().min(8);
    if buf[..prefix] != b"APETAGEX"[..prefix] {
        return Some(TagProbe::No);
    }
    let h = buf.get(..32)?;
    let word = |at: usize| u32::from_le_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
    let (version, size, flags) = (word(8), u64::from(word(12)), word(20));
    // `size` counts items + footer, not the header.
    if !(version == 1000 || version == 2000) || size < 32 {
        return Some(TagProbe::No);
    }
    let has_header = flags & 0x8000_0000 != 0;
    let is_header = flags & 0x2000_0000 != 0;
    Some(if is_header {
        TagProbe::Starts(TagKind::Ape { header: true }, 32 + size)
    } else {
        let back = size - 32 + if has_header { 32 } else { 0 };
        TagProbe::ApeFooter {
            back,
            len: back + 32,
            header: has_header,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id3v2_sizes_are_syncsafe_with_footer() {
        let mut h = *b"ID3\x04\x00\x10\x00\x00\x02\x01";
        assert_eq!(
            probe(&h, true),
            TagProbe::Starts(
                TagKind::Id3v2 {
                    major: 4,
                    footer: true
                },
                10 + 257 + 10
            )
        );
        h[5] = 0;
        h[3] = 3;
        assert_eq!(
            probe(&h, true),
            TagProbe::Starts(
                TagKind::Id3v2 {
                    major: 3,
                    footer: false
                },
                10 + 257
            )
        );
        h[3] = 2; // ID3v2.2: same header layout, no footer; 0x10 is undefined there
        h[5] = 0x10;
        assert_eq!(probe(&h, true), TagProbe::No);
        h[5] = 0x40; // compression
        assert_eq!(
            probe(&h, true),
            TagProbe::Starts(
                TagKind::Id3v2 {
                    major: 2,
                    footer: false
                },
                10 + 257
            )
        );
        h[9] = 0x80; // not syncsafe
        assert_eq!(probe(&h, true), TagProbe::No);
        assert_eq!(probe(b"ID", false), TagProbe::NeedMore(10));
        assert_eq!(probe(b"ID", true), TagProbe::No);
    }

    #[test]
    fn ape_header_and_footer() {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(b"APETAGEX");
        h[8..12].copy_from_slice(&2000u32.to_le_bytes());
        h[12..16].copy_from_slice(&50u32.to_le_bytes());
        h[20..24].copy_from_slice(&0xA000_0000u32.to_le_bytes());
        assert_eq!(
            probe(&h, true),
            TagProbe::Starts(TagKind::Ape { header: true }, 82)
        );
        h[20..24].copy_from_slice(&0x8000_0000u32.to_le_bytes());
        assert_eq!(
            probe(&h, true),
            TagProbe::ApeFooter {
                back: 50,
                len: 82,
                header: true
            }
        );
        h[20..24].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(
            probe(&h, true),
            TagProbe::ApeFooter {
                back: 18,
                len: 50,
                header: false
            }
        );
    }

    #[test]
    fn id3v1_needs_128_bytes() {
        let mut t = vec![0u8; 128];
        t[..3].copy_from_slice(b"TAG");
        assert_eq!(probe(&t, true), TagProbe::Starts(TagKind::Id3v1, 128));
        assert_eq!(probe(&t[..100], true), TagProbe::No);
        assert_eq!(probe(&t[..100], false), TagProbe::NeedMore(128));
    }
}

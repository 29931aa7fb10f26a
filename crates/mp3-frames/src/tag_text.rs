//! The text of tags: artist and title, for a stream title such as `Artist – Title`.
//!
//! - ID3v2 (id3.org "ID3 tag version 2" for v2.2, "ID3v2.3.0" and "ID3v2.4.0 structure /
//!   frames"): text frames `TIT2`/`TPE1` (v2.2 `TT2`/`TP1`) in ISO-8859-1, UTF-16 with
//!   BOM, UTF-16BE and UTF-8 (encodings 0–3, §4.2 of v2.4 frames). Tag-level
//!   unsynchronisation is undone for v2.2/2.3 (§5 of v2.3); v2.4 marks it per frame (frame
//!   flag `0x02`, never applied twice: lofty-rs#678). Extended headers are skipped by their
//!   own size (v2.3 counts it without its 4 size bytes, v2.4 with them: taglib#1081).
//!   Compressed and encrypted frames are skipped.
//! - ID3v1: the 128-byte `TAG` block, 30-byte ISO-8859-1 fields.
//! - APEv2 (wiki.hydrogenaud.io "APEv2 specification"): items `Title`/`Artist` (keys
//!   case-insensitive), UTF-8 values, read from the footer's size and item count.
//!
//! Sans-I/O and total: any bytes give a [`TagText`] (maybe empty), never a panic.

use crate::{Event, Events, TagKind};

/// Artist and title read from tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TagText {
    /// The artist (`TPE1`, ID3v1 artist, APE `Artist`).
    pub artist: Option<String>,
    /// The title (`TIT2`, ID3v1 title, APE `Title`).
    pub title: Option<String>,
}

impl TagText {
    /// The text of the tag `bytes` (the whole tag, as located by [`Events`]) of `kind`.
    pub fn parse(kind: TagKind, bytes: &[u8]) -> TagText {
        match kind {
            TagKind::Id3v2 { .. } => id3v2(bytes),
            TagKind::Id3v1 => id3v1(bytes),
            TagKind::Ape { .. } => ape(bytes),
            TagKind::Id3v1Extended => TagText::default(),
        }
    }

    /// The text of every tag in `data` (an MP3 file or its head and tail): ID3v2 first,
    /// then APE, then ID3v1 for what is still missing (ID3v1 truncates to 30 bytes).
    pub fn scan(data: &[u8]) -> TagText {
        let mut found = Vec::new();
        for event in Events::new(data) {
            if let Event::Tag(tag) = event {
                let start = usize::try_from(tag.offset).unwrap_or(usize::MAX);
                let end = usize::try_from(tag.offset.saturating_add(tag.len)).unwrap_or(usize::MAX);
                if let Some(bytes) = data.get(start..end.min(data.len())) {
                    found.push((tag.kind, TagText::parse(tag.kind, bytes)));
                }
            }
        }
        let rank = |kind: &TagKind| match kind {
            TagKind::Id3v2 { .. } => 0,
            TagKind::Ape { .. } => 1,
            _ => 2,
        };
        found.sort_by_key(|(kind, _)| rank(kind));
        found
            .into_iter()
            .fold(TagText::default(), |acc, (_, text)| acc.or(text))
    }

    /// Fills what `self` lacks from `other`.
    pub fn or(self, other: TagText) -> TagText {
        TagText {
            artist: self.artist.or(other.artist),
            title: self.title.or(other.title),
        }
    }

    /// `Artist – Title` (an en dash, as players show it), or whichever of the two is known.
    pub fn stream_title(&self) -> Option<String> {
        match (&self.artist, &self.title) {
            (Some(artist), Some(title)) => Some(format!("{artist} – {title}")),
            (None, Some(one)) | (Some(one), None) => Some(one.clone()),
            (None, None) => None,
        }
    }

    fn set(&mut self, field: Field, text: String) {
        let text = text.trim().to_owned();
        if text.is_empty() {
            return;
        }
        let slot = match field {
            Field::Artist => &mut self.artist,
            Field::Title => &mut self.title,
        };
        slot.get_or_insert(text);
    }
}

#[derive(Clone, Copy)]
enum Field {
    Artist,
    Title,
}

fn syncsafe(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 7) | usize::from(b & 0x7F))
}

fn big_endian(bytes: &[u8]) -> usize {
    bytes
        .iter()
        .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
}

/// Undoes unsynchronisation: `FF 00` → `FF` (ID3v2.3 §5, v2.4 structure §6.1).
fn resync(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut after_ff = false;
    for &b in data {
        if !(after_ff && b == 0) {
            out.push(b);
        }
        after_ff = b == 0xFF;
    }
    out
}

fn id3v2(tag: &[u8]) -> TagText {
    let mut text = TagText::default();
    let Some(header) = tag.get(..10).filter(|h| h.starts_with(b"ID3")) else {
        return text;
    };
    let (major, flags) = (header[3], header[5]);
    let end = (10 + syncsafe(&header[6..10])).min(tag.len());
    let body = &tag[10..end];
    // v2.2 and v2.3 unsynchronise the whole tag; v2.4 marks it on each frame.
    let body = if flags & 0x80 != 0 && major < 4 {
        resync(body)
    } else {
        body.to_vec()
    };
    if major == 2 && flags & 0x40 != 0 {
        return text; // v2.2 "compression": no scheme was ever defined
    }
    let mut at = 0;
    if major >= 3 && flags & 0x40 != 0 {
        let Some(size) = body.get(..4) else {
            return text;
        };
        at = if major == 3 {
            4 + big_endian(size)
        } else {
            syncsafe(size)
        };
    }
    let (id_len, head_len) = if major == 2 { (3, 6) } else { (4, 10) };
    while let Some(head) = body.get(at..at + head_len) {
        if head[0] == 0 {
            break; // padding
        }
        let (id, size, format) = match major {
            2 => (&head[..3], big_endian(&head[3..6]), 0),
            3 => (&head[..4], big_endian(&head[4..8]), head[9]),
            _ => (&head[..4], syncsafe(&head[4..8]), head[9]),
        };
        let start = at + head_len;
        let Some(end) = start.checked_add(size).filter(|e| *e <= body.len()) else {
            break;
        };
        at = end;
        let field = match &id[..id_len] {
            b"TIT2" | b"TT2" => Field::Title,
            b"TPE1" | b"TP1" => Field::Artist,
            _ => continue,
        };
        if let Some(data) = frame_data(major, format, &body[start..end]) {
            text.set(field, text_frame(&data));
        }
    }
    text
}

/// A frame's data after its format flags: `None` for compressed or encrypted frames.
fn frame_data(major: u8, format: u8, data: &[u8]) -> Option<Vec<u8>> {
    let mut data = data;
    match major {
        3 => {
            // v2.3 §3.3.1: compression 0x80, encryption 0x40, grouping 0x20 (+1 byte).
            if format & 0xC0 != 0 {
                return None;
            }
            if format & 0x20 != 0 {
                data = data.get(1..)?;
            }
            Some(data.to_vec())
        }
        4 => {
            // v2.4 §4.1.2: grouping 0x40 (+1), compression 0x08, encryption 0x04,
            // unsynchronisation 0x02, data length indicator 0x01 (+4).
            if format & 0x0C != 0 {
                return None;
            }
            if format & 0x40 != 0 {
                data = data.get(1..)?;
            }
            if format & 0x01 != 0 {
                data = data.get(4..)?;
            }
            Some(if format & 0x02 != 0 {
                resync(data)
            } else {
                data.to_vec()
            })
        }
        _ => Some(data.to_vec()),
    }
}

/// A text frame: encoding byte, then one or more strings separated by the encoding's
/// NUL (several values, v2.4 §4.2, are joined with " / ").
fn text_frame(data: &[u8]) -> String {
    let Some((&encoding, text)) = data.split_first() else {
        return String::new();
    };
    let decoded = match encoding {
        0 => latin1(text),
        1 => utf16(text, None),
        2 => utf16(text, Some(false)),
        3 => String::from_utf8_lossy(text).into_owned(),
        _ => return String::new(),
    };
    decoded
        .split('\0')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" / ")
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// UTF-16: each string starts with its BOM when `little` is `None` (encoding 1);
/// big-endian without BOM for encoding 2.
fn utf16(bytes: &[u8], little: Option<bool>) -> String {
    let mut units = Vec::with_capacity(bytes.len() / 2);
    let mut little_endian = little.unwrap_or(false);
    for pair in bytes.chunks_exact(2) {
        match (pair[0], pair[1]) {
            (0xFF, 0xFE) if little.is_none() => little_endian = true,
            (0xFE, 0xFF) if little.is_none() => little_endian = false,
            (a, b) => units.push(if little_endian {
                u16::from_le_bytes([a, b])
            } else {
                u16::from_be_bytes([a, b])
            }),
        }
    }
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

fn id3v1(tag: &[u8]) -> TagText {
    let mut text = TagText::default();
    let Some(tag) = tag.get(..128).filter(|t| t.starts_with(b"TAG")) else {
        return text;
    };
    let field = |range: std::ops::Range<usize>| {
        let bytes = &tag[range];
        let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
        latin1(&bytes[..end])
    };
    text.set(Field::Title, field(3..33));
    text.set(Field::Artist, field(33..63));
    text
}

fn ape(tag: &[u8]) -> TagText {
    let mut text = TagText::default();
    let Some(footer_at) = tag.len().checked_sub(32) else {
        return text;
    };
    let footer = &tag[footer_at..];
    if !footer.starts_with(b"APETAGEX") {
        return text;
    }
    let le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    // The size counts the items and the footer, not the header.
    let (size, count) = (le(&footer[12..16]), le(&footer[16..20]));
    let Some(mut at) = tag.len().checked_sub(size) else {
        return text;
    };
    for _ in 0..count {
        let Some(head) = tag.get(at..at + 8) else {
            break;
        };
        let (len, flags) = (le(&head[..4]), le(&head[4..8]));
        let key_start = at + 8;
        let Some(key_len) = tag
            .get(key_start..footer_at)
            .and_then(|rest| rest.iter().position(|&b| b == 0))
        else {
            break;
        };
        let value_start = key_start + key_len + 1;
        let Some(value) = value_start
            .checked_add(len)
            .and_then(|end| tag.get(value_start..end.min(footer_at)))
        else {
            break;
        };
        at = value_start + value.len();
        // Item type in bits 1-2: 0 is UTF-8 text.
        if (flags >> 1) & 3 != 0 {
            continue;
        }
        let key = String::from_utf8_lossy(&tag[key_start..key_start + key_len]).to_lowercase();
        let field = match key.as_str() {
            "title" => Field::Title,
            "artist" => Field::Artist,
            _ => continue,
        };
        text.set(field, String::from_utf8_lossy(value).replace('\0', " / "));
    }
    text
}

#[cfg(test)]
#[path = "tag_text_tests.rs"]
mod tests;

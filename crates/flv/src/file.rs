//! The FLV file container (video file format specification v10.1, annex E.2 and E.3)
//! around the tag payloads, without I/O: the 9-byte file header, then for each tag an
//! 11-byte tag header (type, payload size, timestamp in milliseconds with its extension
//! byte, stream id 0), the payload, and the 4-byte size of the tag just ended
//! (`PreviousTagSize`; the first, 0, follows the file header).
//!
//! Reading: [`FileHeader::parse`] on the first 9 bytes, then [`TagHead::parse`] on each
//! 11-byte tag header (after the 4-byte `PreviousTagSize` before it), whose `size`
//! payload bytes follow. Writing: [`FileHeader::to_bytes`] (with `PreviousTagSize0`) and
//! [`TagHead::to_bytes`] before each payload, [`previous_tag_size`] after it.
//!
//! ```
//! use flv::file::{FileHeader, TagHead, TagKind};
//!
//! let header = FileHeader { audio: true, video: true };
//! let mut file = header.to_bytes().to_vec();
//! let payload = [0xAF, 1, 0x21, 0x10];
//! let head = TagHead { kind: TagKind::Audio, size: 4, timestamp: 0x0123_4567 };
//! file.extend(head.to_bytes()?);
//! file.extend(payload);
//! file.extend(flv::file::previous_tag_size(payload.len()));
//!
//! let (read, offset) = FileHeader::parse(&file)?;
//! assert_eq!((read, offset), (header, 9));
//! let tag = TagHead::parse(&file[offset + 4..])?;
//! assert_eq!(tag, head);
//! # Ok::<(), flv::Error>(())
//! ```

use crate::Error;

/// Bytes of a tag header.
pub const TAG_HEAD: usize = 11;

/// What a tag carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    /// Audio (type 8): [`crate::audio`] reads the payload.
    Audio,
    /// Video (type 9): [`crate::video`] reads the payload.
    Video,
    /// Script data (type 18: `onMetaData`, AMF0).
    Script,
    /// Any other type (an encrypted tag's filter bit set, a type of a later version).
    Other(u8),
}

impl TagKind {
    fn code(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
            TagKind::Script => 18,
            TagKind::Other(code) => code,
        }
    }
}

/// The file header: which kinds of tags the file says it has (players do not trust it;
/// neither should a reader, beyond a hint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileHeader {
    /// `TypeFlagsAudio`.
    pub audio: bool,
    /// `TypeFlagsVideo`.
    pub video: bool,
}

impl FileHeader {
    /// Reads the header at the start of `data`; returns it and where the first
    /// `PreviousTagSize` lies (its `DataOffset`, 9 in every version-1 file).
    pub fn parse(data: &[u8]) -> Result<(FileHeader, usize), Error> {
        if data.len() < 9 {
            return Err(Error::Truncated {
                what: "FLV file header",
                needed: 9,
                len: data.len(),
            });
        }
        if &data[..3] != b"FLV" {
            return Err(Error::NotFlv);
        }
        let offset = u32::from_be_bytes([data[5], data[6], data[7], data[8]]) as usize;
        if offset < 9 {
            return Err(Error::NotFlv);
        }
        let flags = data[4];
        let header = FileHeader {
            audio: flags & 0x04 != 0,
            video: flags & 0x01 != 0,
        };
        Ok((header, offset))
    }

    /// The header of a version-1 file and the first `PreviousTagSize` (0): 13 bytes.
    pub fn to_bytes(self) -> [u8; 13] {
        let flags = (u8::from(self.audio) << 2) | u8::from(self.video);
        [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
    }
}

/// A tag header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TagHead {
    /// The tag type.
    pub kind: TagKind,
    /// Payload bytes after the header (at most 2^24 − 1).
    pub size: u32,
    /// Milliseconds (the 24-bit field and its extension byte as the upper 8 bits).
    pub timestamp: u32,
}

impl TagHead {
    /// Reads the 11-byte tag header at the start of `data`.
    pub fn parse(data: &[u8]) -> Result<TagHead, Error> {
        if data.len() < TAG_HEAD {
            return Err(Error::Truncated {
                what: "FLV tag header",
                needed: TAG_HEAD,
                len: data.len(),
            });
        }
        let kind = match data[0] & 0x1F {
            8 if data[0] & 0x20 == 0 => TagKind::Audio,
            9 if data[0] & 0x20 == 0 => TagKind::Video,
            18 if data[0] & 0x20 == 0 => TagKind::Script,
            _ => TagKind::Other(data[0]),
        };
        let size = u32::from_be_bytes([0, data[1], data[2], data[3]]);
        let timestamp = u32::from_be_bytes([data[7], data[4], data[5], data[6]]);
        Ok(TagHead {
            kind,
            size,
            timestamp,
        })
    }

    /// The 11 bytes of this header (stream id 0); a size over 24 bits is
    /// [`Error::TagTooLarge`].
    pub fn to_bytes(self) -> Result<[u8; TAG_HEAD], Error> {
        if self.size >= 1 << 24 {
            return Err(Error::TagTooLarge(self.size as usize));
        }
        let [_, s0, s1, s2] = self.size.to_be_bytes();
        let [t3, t0, t1, t2] = self.timestamp.to_be_bytes();
        Ok([self.kind.code(), s0, s1, s2, t0, t1, t2, t3, 0, 0, 0])
    }
}

/// The `PreviousTagSize` after a tag of `payload` bytes (its header included).
pub fn previous_tag_size(payload: usize) -> [u8; 4] {
    ((TAG_HEAD + payload) as u32).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_heads_round_trip_with_the_timestamp_extension() {
        for kind in [TagKind::Audio, TagKind::Video, TagKind::Script] {
            for (size, timestamp) in [(0, 0), (1, 40), ((1 << 24) - 1, u32::MAX), (7, 0x0100_0000)]
            {
                let head = TagHead {
                    kind,
                    size,
                    timestamp,
                };
                let bytes = head.to_bytes().unwrap();
                assert_eq!(TagHead::parse(&bytes).unwrap(), head);
            }
        }
        // ffmpeg's first video tag of a file: type 9, 47 bytes, time 0.
        let head = TagHead::parse(&[9, 0, 0, 47, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(
            (head.kind, head.size, head.timestamp),
            (TagKind::Video, 47, 0)
        );
        // The extension byte is the top of the time: 0x12 then 0x345678.
        let head = TagHead::parse(&[8, 0, 0, 1, 0x34, 0x56, 0x78, 0x12, 0, 0, 0]).unwrap();
        assert_eq!(head.timestamp, 0x1234_5678);
        // Encrypted (the filter bit): not audio.
        let head = TagHead::parse(&[0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!(head.kind, TagKind::Other(0x28));
        assert!(matches!(
            TagHead::parse(&[9, 0, 0]),
            Err(Error::Truncated { needed: 11, .. })
        ));
        let large = TagHead {
            kind: TagKind::Video,
            size: 1 << 24,
            timestamp: 0,
        };
        assert_eq!(large.to_bytes(), Err(Error::TagTooLarge(1 << 24)));
    }

    #[test]
    fn file_headers() {
        let header = FileHeader {
            audio: true,
            video: false,
        };
        let bytes = header.to_bytes();
        assert_eq!(&bytes[..], b"FLV\x01\x04\0\0\0\x09\0\0\0\0");
        assert_eq!(FileHeader::parse(&bytes).unwrap(), (header, 9));
        assert_eq!(
            FileHeader::parse(b"FLX\x01\x05\0\0\0\x09"),
            Err(Error::NotFlv)
        );
        assert_eq!(
            FileHeader::parse(b"FLV\x01\x05\0\0\0\x02"),
            Err(Error::NotFlv)
        );
        assert!(FileHeader::parse(b"FLV").is_err());
        assert_eq!(previous_tag_size(47), [0, 0, 0, 58]);
    }
}

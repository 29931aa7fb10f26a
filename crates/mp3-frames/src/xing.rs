//! Info tags in the first frame: Xing/Info (Xing's VBR header, written by LAME in every
//! file), the LAME extension (LAME "Mp3 Info Tag rev 1" spec: encoder delay and padding
//! for gapless playback) and Fraunhofer's VBRI header (fixed at 32 bytes after the header).
//!
//! The Xing/Info tag starts right after the side information; LAME does not count the CRC
//! there, so both places are tried on protected frames (pdeljanov/Symphonia#516).

use nom::IResult;
use nom::bytes::complete::take;
use nom::number::complete::{be_u8, be_u16, be_u24, be_u32};

use crate::header::FrameHeader;

/// The metadata frame at the start of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InfoTag {
    /// `Xing` (VBR) or `Info` (CBR) tag, maybe with the LAME extension.
    Xing(XingInfo),
    /// Fraunhofer VBRI tag.
    Vbri(Vbri),
}

impl InfoTag {
    /// Audio frames in the stream, the info frame excluded.
    pub fn frames(&self) -> Option<u32> {
        match self {
            InfoTag::Xing(x) => x.frames,
            InfoTag::Vbri(v) => Some(v.frames),
        }
    }

    /// Stream length in bytes (as the encoder wrote it).
    pub fn bytes(&self) -> Option<u32> {
        match self {
            InfoTag::Xing(x) => x.bytes,
            InfoTag::Vbri(v) => Some(v.bytes),
        }
    }

    /// The LAME extension, if any.
    pub fn lame(&self) -> Option<&LameTag> {
        match self {
            InfoTag::Xing(x) => x.lame.as_ref(),
            InfoTag::Vbri(_) => None,
        }
    }

    /// `"Xing"`, `"Info"` or `"VBRI"`.
    pub fn name(&self) -> &'static str {
        match self {
            InfoTag::Xing(x) if x.cbr => "Info",
            InfoTag::Xing(_) => "Xing",
            InfoTag::Vbri(_) => "VBRI",
        }
    }
}

/// A Xing or Info tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct XingInfo {
    /// Written as `Info` (LAME's mark for CBR) rather than `Xing`.
    pub cbr: bool,
    /// Audio frames (the info frame excluded).
    pub frames: Option<u32>,
    /// Stream bytes (the info frame included).
    pub bytes: Option<u32>,
    /// Seek table: 100 entries, position in 1/256 of the bytes at each percent of time.
    pub toc: Option<Box<[u8; 100]>>,
    /// Quality indicator (0 best – 100 worst).
    pub quality: Option<u32>,
    /// The LAME extension that follows.
    pub lame: Option<LameTag>,
}

/// The LAME extension of a Xing/Info tag (also written by FFmpeg as `Lavf`/`Lavc`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LameTag {
    /// Encoder string, e.g. `LAME3.100` or `Lavf`.
    pub encoder: String,
    /// Tag revision (high nibble).
    pub revision: u8,
    /// VBR method (low nibble): 1 CBR, 2 ABR, 3–6 VBR, ...
    pub vbr_method: u8,
    /// Lowpass filter frequency in Hz.
    pub lowpass_hz: u32,
    /// Encoder delay in samples at the start.
    pub delay: u16,
    /// Padding samples at the end.
    pub padding: u16,
    /// ABR target or minimal bitrate in kbit/s (255 = 255 or more).
    pub bitrate_kbps: u8,
    /// Music length in bytes as the encoder saw it.
    pub music_length: u32,
    /// CRC-16 of the music data.
    pub music_crc: u16,
}

/// A Fraunhofer VBRI tag.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Vbri {
    /// Version (1).
    pub version: u16,
    /// Encoder delay.
    pub delay: u16,
    /// Quality.
    pub quality: u16,
    /// Stream bytes.
    pub bytes: u32,
    /// Audio frames.
    pub frames: u32,
    /// Seek table: bytes per entry (already multiplied by the scale factor).
    pub toc: Vec<u32>,
    /// Frames per table entry.
    pub frames_per_entry: u16,
}

/// Looks for an info tag in a whole first frame.
pub(crate) fn parse(header: FrameHeader, frame: &[u8]) -> Option<InfoTag> {
    let side = 4 + header.side_info_len();
    let spots: &[usize] = if header.crc() {
        &[side, side + 2]
    } else {
        &[side]
    };
    for &at in spots {
        if let Some(body) = frame.get(at..)
            && let Ok((_, x)) = xing(body)
        {
            return Some(InfoTag::Xing(x));
        }
    }
    frame
        .get(36..)
        .and_then(|b| vbri(b).ok())
        .map(|(_, v)| InfoTag::Vbri(v))
}

fn xing(input: &[u8]) -> IResult<&[u8], XingInfo> {
    let (input, magic) = take(4usize)(input)?;
    let cbr = match magic {
        b"Xing" => false,
        b"Info" => true,
        _ => {
            return Err(nom::Err::Error(nom::error::Error::new(
                input,
                nom::error::ErrorKind::Tag,
            )));
        }
    };
    let (input, flags) = be_u32(input)?;
    let (input, frames) = opt_u32(input, flags & 1 != 0)?;
    let (input, bytes) = opt_u32(input, flags & 2 != 0)?;
    let (input, toc) = if flags & 4 != 0 {
        let (rest, t) = take(100usize)(input)?;
        let mut toc = Box::new([0u8; 100]);
        toc.copy_from_slice(t);
        (rest, Some(toc))
    } else {
        (input, None)
    };
    let (input, quality) = if flags & 8 != 0 {
        let (rest, q) = be_u32(input)?;
        (rest, Some(q))
    } else {
        (input, None)
    };
    let lame = lame(input).ok().map(|(_, l)| l);
    Ok((
        input,
        XingInfo {
            cbr,
            frames,
            bytes,
            toc,
            quality,
            lame,
        },
    ))
}

fn opt_u32(input: &[u8], present: bool) -> IResult<&[u8], Option<u32>> {
    if present {
        let (rest, v) = be_u32(input)?;
        Ok((rest, Some(v)))
    } else {
        Ok((input, None))
    }
}

fn fail(input: &[u8]) -> nom::Err<nom::error::Error<&[u8]>> {
    nom::Err::Error(nom::error::Error::new(input, nom::error::ErrorKind::Eof))
}

fn lame(input: &[u8]) -> IResult<&[u8], LameTag> {
    let (input, encoder) = take(9usize)(input)?;
    if !(encoder.starts_with(b"LAME")
        || encoder.starts_with(b"Lavf")
        || encoder.starts_with(b"Lavc"))
    {
        return Err(fail(input));
    }
    let encoder = String::from_utf8_lossy(encoder)
        .trim_end_matches(['\0', ' '])
        .to_string();
    let (input, rev_method) = be_u8(input)?;
    let (input, lowpass) = be_u8(input)?;
    // Peak (4), radio and audiophile replay gain (2 + 2), encoding flags (1).
    let (input, _) = take(9usize)(input)?;
    let (input, bitrate_kbps) = be_u8(input)?;
    let (input, delay_padding) = be_u24(input)?;
    // Misc (1), MP3 gain (1), preset and surround (2).
    let (input, _) = take(4usize)(input)?;
    let (input, music_length) = be_u32(input)?;
    let (input, music_crc) = be_u16(input)?;
    let (input, _tag_crc) = be_u16(input)?;
    Ok((
        input,
        LameTag {
            encoder,
            revision: rev_method >> 4,
            vbr_method: rev_method & 15,
            lowpass_hz: u32::from(lowpass) * 100,
            delay: (delay_padding >> 12) as u16,
            padding: (delay_padding & 0xFFF) as u16,
            bitrate_kbps,
            music_length,
            music_crc,
        },
    ))
}

fn vbri(input: &[u8]) -> IResult<&[u8], Vbri> {
    let (input, _) = nom::bytes::complete::tag(&b"VBRI"[..])(input)?;
    let (input, version) = be_u16(input)?;
    let (input, delay) = be_u16(input)?;
    let (input, quality) = be_u16(input)?;
    let (input, bytes) = be_u32(input)?;
    let (input, frames) = be_u32(input)?;
    let (input, entries) = be_u16(input)?;
    let (input, scale) = be_u16(input)?;
    let (input, entry_len) = be_u16(input)?;
    let (mut input, frames_per_entry) = be_u16(input)?;
    if !(1..=4).contains(&entry_len) {
        return Err(fail(input));
    }
    let mut toc = Vec::with_capacity(usize::from(entries).min(input.len()));
    for _ in 0..entries {
        let (rest, raw) = take(usize::from(entry_len))(input)?;
        input = rest;
        let v = raw.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b));
        toc.push(v.saturating_mul(u32::from(scale)));
    }
    Ok((
        input,
        Vbri {
            version,
            delay,
            quality,
            bytes,
            frames,
            toc,
            frames_per_entry,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vbri_at_36() {
        let h = FrameHeader::from_u32(0xFFFB_9064).unwrap();
        let mut f = vec![0u8; 417];
        f[..4].copy_from_slice(&h.to_bytes());
        let mut v = b"VBRI\x00\x01\x05\x7A\x00\x4B".to_vec();
        v.extend(1000u32.to_be_bytes());
        v.extend(50u32.to_be_bytes());
        v.extend([0, 2, 0, 1, 0, 2, 0, 25, 0, 10, 0, 20]);
        f[36..36 + v.len()].copy_from_slice(&v);
        let InfoTag::Vbri(vbri) = parse(h, &f).unwrap() else {
            panic!("not VBRI")
        };
        assert_eq!(
            (vbri.frames, vbri.bytes, vbri.delay, vbri.toc.clone()),
            (50, 1000, 0x57A, vec![10, 20])
        );
    }
}

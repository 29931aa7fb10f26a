//! QuickTime `.mov` sound sample descriptions made readable for an ISO BMFF parser.
//!
//! ffmpeg, Apple devices and many cameras write `mp4a` (and `Opus`) entries in `.mov` as
//! QuickTime sound descriptions version 1 (16 more bytes after the ISO fields) or 2 (36
//! more, the sample rate as a float), with the `esds` inside a `wave` box (QuickTime File
//! Format, "Sound Sample Description (Version 1/2)", "siDecompressionParam Atom").
//! shiguredo_mp4 reads ISO's version 0 only, so every `.mov` with AAC audio failed
//! (`[mp4a] InsufficientBuffer`). Here such entries become version 0 with the `wave`
//! box's `esds`/`dOps` as direct children, and a `free` box at the end of `moov` takes
//! up the bytes saved, so every offset in the file stays where it was.

/// Sample entries rewritten when they carry QuickTime's version 1 or 2.
const AUDIO_ENTRIES: [&[u8; 4]; 2] = [b"mp4a", b"Opus"];

/// Boxes whose body is a list of boxes, down to `stsd`.
const CONTAINERS: [&[u8; 4]; 5] = [b"moov", b"trak", b"mdia", b"minf", b"stbl"];

/// The `moov` box (header included) with QuickTime sound descriptions rewritten, the same
/// length as before; `None` when there is none (or the box cannot be walked: the parser
/// then reports what is wrong with it).
pub(super) fn normalize_moov(moov: &[u8]) -> Option<Vec<u8>> {
    let mut changed = false;
    let mut out = rewrite(moov, &mut changed)?;
    if !changed {
        return None;
    }
    let saved = moov.len().checked_sub(out.len())?;
    if saved < 8 {
        return None;
    }
    // The `free` box that keeps the length (and every offset after `moov`).
    out.extend_from_slice(&(saved as u32).to_be_bytes());
    out.extend_from_slice(b"free");
    out.resize(moov.len(), 0);
    let size = header_len(moov)?;
    put_size(&mut out, size, moov.len());
    Some(out)
}

/// One box rewritten (its children when it is a container, its entries when `stsd`).
fn rewrite(b: &[u8], changed: &mut bool) -> Option<Vec<u8>> {
    let head = header_len(b)?;
    let kind: &[u8; 4] = b.get(4..8)?.try_into().ok()?;
    let body = b.get(head..)?;
    let new_body = if CONTAINERS.contains(&kind) {
        let mut out = Vec::with_capacity(body.len());
        for child in boxes(body)? {
            out.extend_from_slice(&rewrite(child, changed)?);
        }
        out
    } else if kind == b"stsd" {
        // Full box header and entry count, then the entries.
        let (fixed, entries) = (body.get(..8)?, body.get(8..)?);
        let mut out = fixed.to_vec();
        for entry in boxes(entries)? {
            match sound_v0(entry) {
                Some(v0) => {
                    *changed = true;
                    out.extend_from_slice(&v0);
                }
                None => out.extend_from_slice(entry),
            }
        }
        out
    } else {
        return Some(b.to_vec());
    };
    let mut out = b[..head].to_vec();
    out.extend_from_slice(&new_body);
    let len = out.len();
    put_size(&mut out, head, len);
    Some(out)
}

/// A version 1 or 2 QuickTime sound entry as an ISO version 0 one; `None` for anything
/// else (left as it is).
fn sound_v0(entry: &[u8]) -> Option<Vec<u8>> {
    let kind: &[u8; 4] = entry.get(4..8)?.try_into().ok()?;
    if !AUDIO_ENTRIES.contains(&kind) || header_len(entry)? != 8 {
        return None;
    }
    // After the 8-byte header: 6 reserved, data reference index (2), version (2),
    // revision (2), vendor (4), channels (2), sample size (2), compression id (2),
    // packet size (2), sample rate (16.16).
    let fields = entry.get(8..36)?;
    let version = u16::from_be_bytes([fields[8], fields[9]]);
    let (extra, channels, rate) = match version {
        1 => (
            16,
            u16::from_be_bytes([fields[16], fields[17]]),
            fields[24..28].to_vec(),
        ),
        2 => {
            let v2 = entry.get(36..72)?;
            let rate = f64::from_be_bytes(v2[4..12].try_into().ok()?);
            let channels = u32::from_be_bytes(v2[12..16].try_into().ok()?);
            let fixed = if (1.0..65536.0).contains(&rate) {
                (rate as u32) << 16
            } else {
                0
            };
            (
                36,
                u16::try_from(channels).ok()?,
                fixed.to_be_bytes().to_vec(),
            )
        }
        _ => return None,
    };
    let mut out = entry[..16].to_vec(); // header, reserved, data reference index
    out.extend_from_slice(&[0; 8]); // version 0, revision, vendor
    out.extend_from_slice(&channels.to_be_bytes());
    out.extend_from_slice(&16u16.to_be_bytes());
    out.extend_from_slice(&[0; 4]); // pre_defined, reserved
    out.extend_from_slice(&rate);
    for child in boxes(entry.get(36 + extra..)?)? {
        if child.get(4..8)? == b"wave" {
            // Its codec configuration, without `frma`, the inner entry and the terminator.
            for inner in boxes(child.get(8..)?)? {
                if matches!(inner.get(4..8)?, b"esds" | b"dOps") {
                    out.extend_from_slice(inner);
                }
            }
        } else {
            out.extend_from_slice(child);
        }
    }
    let len = out.len();
    put_size(&mut out, 8, len);
    Some(out)
}

/// The boxes of a body, each with its header; a zero-size terminator (QuickTime ends
/// `wave` with one) and trailing bytes shorter than a header end the list.
fn boxes(mut body: &[u8]) -> Option<Vec<&[u8]>> {
    let mut list = Vec::new();
    while body.len() >= 8 {
        let size = match u32::from_be_bytes(body[..4].try_into().ok()?) {
            0 => break,
            1 => usize::try_from(u64::from_be_bytes(body.get(8..16)?.try_into().ok()?)).ok()?,
            n => n as usize,
        };
        if size < 8 || size > body.len() {
            return None;
        }
        list.push(&body[..size]);
        body = &body[size..];
    }
    Some(list)
}

/// 8, or 16 for a box with a 64-bit size.
fn header_len(b: &[u8]) -> Option<usize> {
    match u32::from_be_bytes(b.get(..4)?.try_into().ok()?) {
        1 => Some(16),
        _ => Some(8),
    }
}

fn put_size(out: &mut [u8], header: usize, len: usize) {
    if header == 16 {
        out[8..16].copy_from_slice(&(len as u64).to_be_bytes());
    } else {
        out[..4].copy_from_slice(&(len as u32).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((8 + body.len()) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn nest(kinds: &[&[u8; 4]], inner: Vec<u8>) -> Vec<u8> {
        kinds.iter().rev().fold(inner, |b, k| boxed(k, &b))
    }

    /// A version 1 `mp4a` as ffmpeg writes it in `.mov`: 1 channel, 44.1 kHz.
    fn mov_mp4a(esds: &[u8]) -> Vec<u8> {
        let mut body = vec![0, 0, 0, 0, 0, 0, 0, 1]; // reserved, data reference 1
        body.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // version 1
        body.extend_from_slice(&[0, 1, 0, 16, 0xFF, 0xFE, 0, 0, 0xAC, 0x44, 0, 0]);
        body.extend_from_slice(&[0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let mut wave = boxed(b"frma", b"mp4a");
        wave.extend(boxed(b"mp4a", &[0; 4]));
        wave.extend_from_slice(esds);
        wave.extend_from_slice(&[0, 0, 0, 8, 0, 0, 0, 0]); // terminator
        body.extend(boxed(b"wave", &wave));
        boxed(b"mp4a", &body)
    }

    fn moov_with(entry: Vec<u8>) -> Vec<u8> {
        let mut stsd = vec![0, 0, 0, 0, 0, 0, 0, 1];
        stsd.extend(entry);
        let mut moov = nest(
            &[b"moov", b"trak", b"mdia", b"minf", b"stbl"],
            boxed(b"stsd", &stsd),
        );
        let mvhd = boxed(b"mvhd", &[7; 20]);
        moov.splice(8..8, mvhd);
        let len = moov.len();
        put_size(&mut moov, 8, len);
        moov
    }

    #[test]
    fn a_version_1_entry_becomes_version_0_with_its_esds_and_the_length_is_kept() {
        let esds = boxed(b"esds", &[0, 0, 0, 0, 3, 25, 0, 1, 0]);
        let moov = moov_with(mov_mp4a(&esds));
        let out = normalize_moov(&moov).expect("rewritten");
        assert_eq!(out.len(), moov.len());
        let expected = {
            let mut e = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
            e.extend_from_slice(&[0, 1, 0, 16, 0, 0, 0, 0, 0xAC, 0x44, 0, 0]);
            e.extend_from_slice(&esds);
            boxed(b"mp4a", &e)
        };
        let at = out.windows(4).position(|w| w == b"mp4a").unwrap() - 4;
        assert_eq!(&out[at..at + expected.len()], &expected[..]);
        // The tree is still whole: moov's children end with the padding `free` box.
        let children = boxes(&out[8..]).unwrap();
        assert_eq!(children.last().map(|c| &c[4..8]), Some(&b"free"[..]));
        assert_eq!(
            children.iter().map(|c| c.len()).sum::<usize>(),
            out.len() - 8
        );
    }

    #[test]
    fn iso_entries_and_other_boxes_are_left_alone() {
        let mut v0 = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        v0.extend_from_slice(&[0, 2, 0, 16, 0, 0, 0, 0, 0xBB, 0x80, 0, 0]);
        v0.extend(boxed(b"esds", &[0; 12]));
        assert_eq!(normalize_moov(&moov_with(boxed(b"mp4a", &v0))), None);
        assert_eq!(normalize_moov(&moov_with(boxed(b"avc1", &[0; 90]))), None);
    }

    #[test]
    fn broken_boxes_are_left_to_the_parser() {
        let moov = moov_with(mov_mp4a(&boxed(b"esds", &[0; 9])));
        for cut in [0, 3, 9, 40, moov.len() - 30] {
            let mut broken = moov.clone();
            broken.truncate(cut);
            let _ = normalize_moov(&broken); // no panic
        }
        let mut lying = moov.clone();
        lying[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(normalize_moov(&lying), None);
    }
}

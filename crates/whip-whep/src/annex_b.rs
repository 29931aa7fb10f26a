//! Annex B byte strings (H.264, H.265): NAL units after start codes.

/// The NAL units of an Annex B byte string (start codes removed; the zero bytes before
/// a start code are not part of the unit before it). Looks for the start codes' `01`
/// bytes with `memchr` (a few per frame) instead of testing every byte: the WHEP server
/// cuts every H.264 frame it sends this way.
pub fn split_annex_b(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut next = start_code(data, 0).map(|(_, after)| after);
    std::iter::from_fn(move || {
        loop {
            let start = next?;
            let end = match start_code(data, start) {
                Some((code, after)) => {
                    next = Some(after);
                    let mut end = code;
                    while end > start && data[end - 1] == 0 {
                        end -= 1;
                    }
                    end
                }
                None => {
                    next = None;
                    data.len()
                }
            };
            if start < end {
                return Some(&data[start..end]);
            }
        }
    })
}

/// The first start code (`00 00 01`) at or after `from`: where it begins and the index
/// after it.
fn start_code(data: &[u8], from: usize) -> Option<(usize, usize)> {
    let mut at = from;
    loop {
        let one = at + memchr::memchr(1, data.get(at..)?)?;
        if one >= from + 2 && data[one - 1] == 0 && data[one - 2] == 0 {
            return Some((one - 2, one + 1));
        }
        at = one + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_between_start_codes() {
        let au = [
            0, 0, 0, 1, 0x67, 1, 2, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 9, 9,
        ];
        let nals: Vec<&[u8]> = split_annex_b(&au).collect();
        assert_eq!(nals, [&[0x67, 1, 2][..], &[0x68, 3], &[0x65, 9, 9]]);
        assert_eq!(split_annex_b(&[1, 2, 3]).count(), 0);
        // Junk before the first start code, a 01 inside a unit, empty units, trailing
        // zeros before a start code, a start code at the very end.
        let au = [
            7, 1, 0, 0, 1, 0x41, 1, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0x06, 5, 0, 0, 0, 0, 1, 0x01, 0, 0,
            1,
        ];
        let nals: Vec<&[u8]> = split_annex_b(&au).collect();
        assert_eq!(nals, [&[0x41, 1, 0, 1][..], &[0x06, 5], &[0x01]]);
        assert_eq!(split_annex_b(&[0, 0, 1]).count(), 0);
        assert_eq!(split_annex_b(&[]).count(), 0);
    }
}

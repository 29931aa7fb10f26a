//! Fragment indexes: `sidx` (ISO/IEC 14496-12 §8.16.3, one reference per fragment) and
//! `mfra`/`tfra`/`mfro` (§8.8.9–8.8.11, random access into a single fragmented file).

use crate::boxes::BoxWriter;
use crate::{Error, Result};

/// What a `sidx` says about the fragment that follows it.
pub(crate) struct SidxEntry {
    pub reference_id: u32,
    pub timescale: u32,
    pub earliest_presentation_time: u64,
    /// Bytes of the referenced `moof` + `mdat`.
    pub referenced_size: u64,
    /// Duration of the reference track in the fragment, in `timescale`.
    pub duration: u64,
    pub starts_with_sap: bool,
}

/// A version-1 `sidx` with one reference (the fragment right after it).
pub(crate) fn sidx(e: &SidxEntry) -> Result<Vec<u8>> {
    let size = u32::try_from(e.referenced_size)
        .ok()
        .filter(|&v| v < 1 << 31);
    let size = size.ok_or(Error::NotRepresentable {
        what: "sidx referenced_size",
        value: u128::from(e.referenced_size),
    })?;
    let duration = u32::try_from(e.duration).map_err(|_| Error::NotRepresentable {
        what: "sidx subsegment_duration",
        value: u128::from(e.duration),
    })?;
    let mut w = BoxWriter::with_capacity(52);
    let m = w.begin_full(b"sidx", 1, 0);
    w.u32(e.reference_id);
    w.u32(e.timescale);
    w.u64(e.earliest_presentation_time);
    w.u64(0); // first_offset: the fragment follows at once
    w.u16(0);
    w.u16(1); // reference_count
    w.u32(size); // reference_type 0 (media)
    w.u32(duration);
    w.u32(if e.starts_with_sap { 0x9000_0000 } else { 0 }); // starts_with_SAP, SAP type 1
    w.end(m)?;
    Ok(w.into_vec())
}

/// `mfra` with one `tfra` per track from its (decode time, moof offset, traf number)
/// entries, then `mfro` holding the `mfra` size.
pub(crate) fn mfra(per_track: &[&[(u64, u64, u8)]]) -> Result<Vec<u8>> {
    let mut w = BoxWriter::new();
    let mfra = w.begin(b"mfra");
    for (i, entries) in per_track.iter().enumerate() {
        let m = w.begin_full(b"tfra", 1, 0);
        w.u32(i as u32 + 1);
        w.u32(0); // 1-byte traf, trun and sample numbers
        w.u32(entries.len() as u32);
        for &(time, offset, traf) in entries.iter() {
            w.u64(time);
            w.u64(offset);
            w.u8(traf);
            w.u8(1);
            w.u8(1);
        }
        w.end(m)?;
    }
    let m = w.begin_full(b"mfro", 0, 0);
    w.u32(w.len() as u32 + 4);
    w.end(m)?;
    w.end(mfra)?;
    Ok(w.into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sidx_golden_bytes() {
        let b = sidx(&SidxEntry {
            reference_id: 1,
            timescale: 90000,
            earliest_presentation_time: 6000,
            referenced_size: 1000,
            duration: 90000,
            starts_with_sap: true,
        })
        .unwrap();
        assert_eq!(b.len(), 52);
        assert_eq!(&b[4..12], b"sidx\x01\0\0\0");
        assert_eq!(
            &b[40..52],
            &[0, 0, 3, 0xe8, 0, 1, 0x5f, 0x90, 0x90, 0, 0, 0]
        );
        let too_big = SidxEntry {
            reference_id: 1,
            timescale: 1,
            earliest_presentation_time: 0,
            referenced_size: 1 << 31,
            duration: 0,
            starts_with_sap: false,
        };
        assert!(matches!(
            sidx(&too_big),
            Err(Error::NotRepresentable { .. })
        ));
    }

    #[test]
    fn mfro_holds_the_mfra_size() {
        let entries = [(0u64, 100u64, 1u8), (90000, 5000, 1)];
        let b = mfra(&[&entries[..], &[]]).unwrap();
        assert_eq!(
            u32::from_be_bytes(b[b.len() - 4..].try_into().unwrap()) as usize,
            b.len()
        );
        assert_eq!(
            u32::from_be_bytes(b[..4].try_into().unwrap()) as usize,
            b.len()
        );
    }
}

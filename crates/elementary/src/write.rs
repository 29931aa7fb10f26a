//! Length-prefixed samples (as MP4 and the contract carry them, ISO/IEC 14496-15
//! §5.3.2) back to an Annex B byte stream, with the parameter sets in front of every
//! key frame so a player can start there.
//!
//! The output is a list of pieces for a vectored write: start codes are static, NAL units
//! are slices of the sample (no copies). A 4-byte start code goes before parameter sets
//! and the first NAL unit of an access unit, a 3-byte one before the others (as x264 and
//! ffmpeg's `h264_mp4toannexb` write them).

use bytes::Bytes;

use crate::annexb::VideoCodec;
use crate::records::ParameterSets;
use crate::{Error, Result};

const LONG: Bytes = Bytes::from_static(&[0, 0, 0, 1]);
const SHORT: Bytes = Bytes::from_static(&[0, 0, 1]);

/// The NAL units of a length-prefixed sample (`length_size` of 1, 2 or 4 bytes).
pub fn nal_units(sample: &Bytes, length_size: usize) -> Result<Vec<Bytes>> {
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(Error::InvalidRecord(format!(
            "NAL length size {length_size}"
        )));
    }
    let mut nals = Vec::new();
    let mut at = 0;
    while at < sample.len() {
        let len = sample
            .get(at..at + length_size)
            .map(|b| b.iter().fold(0usize, |v, &x| (v << 8) | usize::from(x)))
            .ok_or(Error::CutSample { offset: at })?;
        let start = at + length_size;
        let end = start.checked_add(len).filter(|&e| e <= sample.len());
        let end = end.ok_or(Error::CutSample { offset: at })?;
        nals.push(sample.slice(start..end));
        at = end;
    }
    Ok(nals)
}

/// Writes access units as Annex B, repeating the parameter sets before key frames.
#[derive(Debug, Clone)]
pub struct AnnexBWriter {
    codec: VideoCodec,
    sets: ParameterSets,
    length_size: usize,
}

impl AnnexBWriter {
    /// A writer for a track whose decoder configuration record is `record`.
    pub fn new(codec: VideoCodec, record: &Bytes) -> Result<Self> {
        let (sets, length_size) = crate::records::parameter_sets(codec, record)?;
        Ok(AnnexBWriter {
            codec,
            sets,
            length_size,
        })
    }

    /// The configuration changed: the next key frame gets the new parameter sets.
    pub fn set_record(&mut self, record: &Bytes) -> Result<()> {
        *self = AnnexBWriter::new(self.codec, record)?;
        Ok(())
    }

    /// The pieces of one length-prefixed sample as Annex B. Before a key frame come the
    /// record's parameter sets, unless the sample carries its own.
    pub fn access_unit(&self, sample: &Bytes, key: bool) -> Result<Vec<Bytes>> {
        let nals = nal_units(sample, self.length_size)?;
        let mut out = Vec::with_capacity(2 * (nals.len() + 3));
        let carries_sets = nals.iter().any(|n| self.codec.is_parameter_set(n));
        let mut first = true;
        let mut put = |out: &mut Vec<Bytes>, nal: &Bytes, long: bool| {
            out.push(if first || long { LONG } else { SHORT });
            out.push(nal.clone());
            first = false;
        };
        // Parameter sets go after an access unit delimiter, before anything else.
        let insert_at = usize::from(nals.first().is_some_and(|n| is_delimiter(self.codec, n)));
        for (i, nal) in nals.iter().enumerate() {
            if key && !carries_sets && i == insert_at {
                for set in self.sets.all() {
                    put(&mut out, set, true);
                }
            }
            put(&mut out, nal, self.codec.is_parameter_set(nal));
        }
        Ok(out)
    }
}

fn is_delimiter(codec: VideoCodec, nal: &[u8]) -> bool {
    matches!(
        (codec, codec.nal_type(nal)),
        (VideoCodec::H264, Some(9)) | (VideoCodec::H265, Some(35))
    )
}

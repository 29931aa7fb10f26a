//! The Xing/Info frame of a Layer III stream being written: the frame count, the byte
//! count and the seek table that players read to show the duration of a VBR file and to
//! seek in it (without one they estimate from the first frame's bitrate: a 4 s VBR file
//! showed 3.8 s in ffprobe). LAME and ffmpeg's muxer write it first and fill it in at the
//! end; so does [`InfoFrameWriter`], in bounded memory whatever the length.
//!
//! The frame is a silent frame of the stream's version, sample rate and channel mode, of
//! the smallest bitrate that holds the tag, without CRC; `Info` when every audio frame has
//! the same bitrate (LAME's mark for CBR), else `Xing`. No LAME extension is written (the
//! encoder's delay and padding are the encoder's to state).

use crate::header::{FrameHeader, Layer};

/// Seek table entries kept: every `stride`-th frame's offset, the stride doubled (and
/// every other entry dropped) when full. 100 entries are needed, so this is plenty.
const MAX_OFFSETS: usize = 4096;

/// The tag after the side information: magic, flags, frames, bytes, 100-entry table.
const TAG_LEN: usize = 4 + 4 + 4 + 4 + 100;

/// Counts the frames of a stream as they are written and makes its Xing/Info frame.
#[derive(Debug, Clone, Default)]
pub struct InfoFrameWriter {
    /// The info frame's header, from the first frame.
    header: Option<FrameHeader>,
    /// The first frame's bitrate index, and whether every frame since had it.
    first_bitrate: u32,
    cbr: bool,
    frames: u32,
    /// Audio bytes so far (the info frame not included).
    bytes: u64,
    /// Audio bytes before frame `i * stride`, for each `i`.
    offsets: Vec<u64>,
    stride: u32,
}

impl InfoFrameWriter {
    /// A writer that has seen no frame.
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts one audio frame (header first). The first frame decides the info frame's
    /// format; a stream that does not start with a Layer III frame gets none.
    pub fn push(&mut self, frame: &[u8]) {
        let Ok((_, header)) = FrameHeader::parse(frame) else {
            return;
        };
        let bitrate = header.to_u32() >> 12 & 15;
        if self.frames == 0 && self.bytes == 0 {
            self.header = info_header(header);
            self.first_bitrate = bitrate;
            self.cbr = true;
            self.stride = 1;
        }
        self.cbr &= bitrate == self.first_bitrate;
        if self.frames.is_multiple_of(self.stride) {
            if self.offsets.len() == MAX_OFFSETS {
                let kept: Vec<u64> = self.offsets.iter().step_by(2).copied().collect();
                self.offsets = kept;
                self.stride = self.stride.saturating_mul(2);
            }
            if self.frames.is_multiple_of(self.stride) {
                self.offsets.push(self.bytes);
            }
        }
        self.frames = self.frames.saturating_add(1);
        self.bytes = self.bytes.saturating_add(frame.len() as u64);
    }

    /// The Xing/Info frame for the frames pushed so far; its length depends only on the
    /// first frame, so [`InfoFrameWriter::placeholder`] can take its place until the end.
    /// `None` before a Layer III frame was pushed.
    pub fn info_frame(&self) -> Option<Vec<u8>> {
        let mut frame = self.placeholder()?;
        let header = self.header?;
        let len = frame.len();
        let total = self.bytes.saturating_add(len as u64);
        let mut tag = Vec::with_capacity(TAG_LEN);
        tag.extend_from_slice(if self.cbr { b"Info" } else { b"Xing" });
        tag.extend_from_slice(&7u32.to_be_bytes()); // frames, bytes, table
        tag.extend_from_slice(&self.frames.to_be_bytes());
        tag.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
        for percent in 0..100u64 {
            let frame_index = percent * u64::from(self.frames) / 100;
            let entry = (frame_index / u64::from(self.stride.max(1))) as usize;
            let offset = self.offsets.get(entry).copied().unwrap_or(self.bytes);
            let at = (offset + len as u64) * 256 / total.max(1);
            tag.push(at.min(255) as u8);
        }
        let start = 4 + header.side_info_len();
        frame[start..start + TAG_LEN].copy_from_slice(&tag);
        Some(frame)
    }

    /// The info frame to write first: its length, a `Xing` tag that states nothing (no
    /// counts, no table), so a file cut before the end (a killed recording) is read by
    /// scanning or estimating, not as the one frame the counts would say at the start.
    pub fn placeholder(&self) -> Option<Vec<u8>> {
        let header = self.header?;
        let mut frame = vec![0u8; header.frame_len()? as usize];
        frame[..4].copy_from_slice(&header.to_bytes());
        let start = 4 + header.side_info_len();
        frame[start..start + 4].copy_from_slice(b"Xing");
        Some(frame)
    }
}

/// The info frame's header: `first`'s version, sample rate and channel mode at the
/// smallest bitrate whose frame holds the tag; no CRC, no padding.
fn info_header(first: FrameHeader) -> Option<FrameHeader> {
    if first.layer() != Layer::Layer3 {
        return None;
    }
    let base = first
        .with_crc(false)
        .with_padding(false)
        .with_mode_extension(0);
    (1..15u32).find_map(|index| {
        let header = FrameHeader::from_u32(base.to_u32() & !0xF000 | index << 12).ok()?;
        let need = 4 + header.side_info_len() + TAG_LEN;
        (header.frame_len()? as usize >= need).then_some(header)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{InfoTag, StreamSummary, silent_frame};

    fn frame(word: u32) -> Vec<u8> {
        silent_frame(&FrameHeader::from_u32(word).unwrap()).unwrap()
    }

    /// A stream of `n` frames alternating two bitrates (or one), the info frame first.
    fn stream(words: &[u32], n: usize) -> (Vec<u8>, InfoFrameWriter) {
        let mut writer = InfoFrameWriter::new();
        let frames: Vec<Vec<u8>> = (0..n).map(|i| frame(words[i % words.len()])).collect();
        for f in &frames {
            writer.push(f);
        }
        let mut out = writer.info_frame().unwrap();
        for f in &frames {
            out.extend_from_slice(f);
        }
        (out, writer)
    }

    #[test]
    fn a_vbr_stream_gets_a_xing_frame_that_our_reader_takes() {
        // 128 and 192 kbit/s, 44.1 kHz joint stereo.
        let (bytes, _) = stream(&[0xFFFB_9064, 0xFFFB_B064], 1000);
        let summary = StreamSummary::scan(&bytes).unwrap();
        let Some(InfoTag::Xing(x)) = summary.info.clone() else {
            panic!("{:?}", summary.info);
        };
        assert!(!x.cbr);
        assert_eq!(x.frames, Some(1000));
        assert_eq!(x.bytes, Some(bytes.len() as u32));
        let toc = x.toc.unwrap();
        let info_len = bytes.len() - 500 * (417 + 626);
        assert_eq!(
            usize::from(toc[0]),
            info_len * 256 / bytes.len(),
            "the first frame"
        );
        assert!(toc.windows(2).all(|w| w[0] <= w[1]), "{toc:?}");
        assert!(
            (126..=129).contains(&toc[50]),
            "half the time is half the bytes: {}",
            toc[50]
        );
        assert_eq!(
            summary.frames, 1000,
            "the info frame is not counted as audio"
        );
    }

    #[test]
    fn a_cbr_stream_gets_an_info_frame_and_mono_mpeg2_fits_too() {
        let (_, w) = stream(&[0xFFFB_9064], 10);
        assert_eq!(&w.info_frame().unwrap()[36..40], b"Info");
        // MPEG-2 Layer III, 22.05 kHz mono, 32 kbit/s: side information of 9 bytes.
        let (bytes, w) = stream(&[0xFFF3_40C4], 10);
        let info = w.info_frame().unwrap();
        assert_eq!(&info[13..17], b"Info");
        let summary = StreamSummary::scan(&bytes).unwrap();
        assert_eq!(summary.info.and_then(|i| i.frames()), Some(10));
    }

    #[test]
    fn the_length_does_not_change_and_memory_stays_bounded() {
        let mut w = InfoFrameWriter::new();
        let f = frame(0xFFFB_9064);
        w.push(&f);
        let len = w.info_frame().unwrap().len();
        for _ in 0..100_000 {
            w.push(&f);
        }
        assert_eq!(w.info_frame().unwrap().len(), len);
        assert!(w.offsets.len() <= MAX_OFFSETS);
        let toc = w.info_frame().unwrap()[36 + 16..36 + 116].to_vec();
        assert!((126..=129).contains(&toc[50]), "{}", toc[50]);
    }

    #[test]
    fn the_placeholder_states_no_counts() {
        let (_, w) = stream(&[0xFFFB_9064], 3);
        let placeholder = w.placeholder().unwrap();
        assert_eq!(placeholder.len(), w.info_frame().unwrap().len());
        let mut bytes = placeholder;
        bytes.extend(frame(0xFFFB_9064).repeat(3));
        let summary = StreamSummary::scan(&bytes).unwrap();
        assert_eq!(summary.info.and_then(|i| i.frames()), None);
        assert_eq!(summary.frames, 3);
    }

    #[test]
    fn no_frame_or_not_layer_three_gives_no_info_frame() {
        let mut w = InfoFrameWriter::new();
        assert!(w.info_frame().is_none());
        w.push(b"junk");
        assert!(w.info_frame().is_none());
        // MPEG-1 Layer II, 192 kbit/s, 48 kHz stereo.
        w.push(&frame(0xFFFD_A404));
        assert!(w.info_frame().is_none());
    }
}

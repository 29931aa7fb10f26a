//! Past 4 GiB: a sparse file (zero payloads are seeked over, not written) shows the
//! 64-bit `mdat` header and `co64` read correctly by ffprobe and shiguredo_mp4.
#![allow(clippy::unwrap_used)]

mod common;

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

use bmff_writer::{Bytes, Mp4Options, Mp4Writer, Sample};
use test_support::ffprobe::{self, num};

const SAMPLE: usize = 16 << 20;

/// A file where writes of the one shared zero payload become holes.
struct Sparse {
    file: File,
    zero: *const u8,
    end: u64,
}

impl Write for Sparse {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = if buf.as_ptr() == self.zero && buf.len() == SAMPLE {
            self.file.seek(SeekFrom::Current(SAMPLE as i64))?;
            SAMPLE
        } else {
            self.file.write(buf)?
        };
        self.end = self.end.max(self.file.stream_position()?);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        if self.file.metadata()?.len() < self.end {
            self.file.set_len(self.end)?;
        }
        self.file.flush()
    }
}

impl Seek for Sparse {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.file.seek(pos)
    }
}

#[test]
fn co64_and_largesize_mdat_past_4_gib() {
    test_support::require_peer!("ffprobe");
    let (config, real) = common::fixture_track("h264.mp4", 0);
    let dir = test_support::temp_dir();
    let path = dir.path().join("large.mp4");
    let zero = Bytes::from(vec![0u8; SAMPLE]);
    let sparse = Sparse {
        file: File::create(&path).unwrap(),
        zero: zero.as_ptr(),
        end: 0,
    };
    let mut w = Mp4Writer::new(sparse, vec![config], Mp4Options::default()).unwrap();
    // 270 x 16 MiB = 4.2 GiB of holes, then the fixture's real frames past 4 GiB.
    let step = real[1].dts - real[0].dts;
    let holes = 270;
    for i in 0..holes {
        w.push(Sample::new(0, i * step, true, zero.clone()))
            .unwrap();
    }
    for s in &real {
        let mut moved = s.clone();
        moved.dts += holes * step;
        w.push(moved).unwrap();
    }
    let sparse = w.finish().unwrap();
    drop(sparse);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 1 << 32, "file is {len} bytes");

    // mdat has a 64-bit largesize header right after ftyp + the free placeholder's place.
    let mut f = File::open(&path).unwrap();
    let mut head = [0u8; 64];
    f.read_exact(&mut head).unwrap();
    let ftyp = u32::from_be_bytes(head[..4].try_into().unwrap()) as usize;
    assert_eq!(&head[ftyp..ftyp + 8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
    let mdat = u64::from_be_bytes(head[ftyp + 8..ftyp + 16].try_into().unwrap());
    assert_eq!(
        ftyp as u64 + mdat,
        len - moov_size(&path, ftyp as u64 + mdat)
    );

    let probe = ffprobe::probe(&path);
    assert_eq!(num(&probe["format"]["size"]) as u64, len);
    assert_eq!(
        num(&probe["streams"][0]["nb_frames"]) as usize,
        holes as usize + real.len()
    );
    // ffprobe reads packets through their data, so only the ends are read: the first
    // hole sample right after the 16-byte mdat header, then (seeking to 9 s, where the
    // holes end) the real frames at their exact 64-bit offsets, with their bytes.
    let entries = [
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pos,size,flags",
        "-show_packets",
    ];
    let first = ffprobe::probe_with(
        &path,
        &[&entries[..], &["-read_intervals", "%+#1"]].concat(),
    );
    assert_eq!(num(&first["packets"][0]["pos"]) as u64, ftyp as u64 + 16);
    let tail = ffprobe::probe_with(&path, &[&entries[..], &["-read_intervals", "9%"]].concat());
    let tail = tail["packets"].as_array().unwrap();
    assert_eq!(tail.len(), real.len());
    let mut pos = ftyp as u64 + 16 + holes as u64 * SAMPLE as u64;
    let mut expected = Vec::new();
    for (p, s) in tail.iter().zip(&real) {
        assert!(pos > 1 << 32);
        assert_eq!(num(&p["pos"]) as u64, pos);
        assert_eq!(num(&p["size"]) as usize, s.data.len());
        assert_eq!(p["flags"].as_str().unwrap().starts_with('K'), s.sync);
        let mut buf = vec![0u8; s.data.len()];
        f.seek(SeekFrom::Start(pos)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert!(buf == s.data[..], "payload at {pos}");
        expected.push(pos);
        pos += s.data.len() as u64;
    }

    // shiguredo_mp4 reads the same 64-bit offsets from co64.
    let mut d = shiguredo_mp4::demux::Mp4FileDemuxer::new();
    let mut offsets = Vec::new();
    loop {
        let r = match d.next_sample() {
            Ok(Some(s)) => {
                offsets.push(s.data_offset);
                continue;
            }
            Ok(None) => break,
            Err(shiguredo_mp4::demux::DemuxError::InputRequired(r)) => r,
            Err(e) => panic!("{e}"),
        };
        let size = r
            .size
            .unwrap_or((len - r.position) as usize)
            .min((len - r.position) as usize);
        let mut buf = vec![0u8; size];
        f.seek(SeekFrom::Start(r.position)).unwrap();
        f.read_exact(&mut buf).unwrap();
        d.handle_input(shiguredo_mp4::demux::Input {
            position: r.position,
            data: &buf,
        });
    }
    assert_eq!(offsets.len(), holes as usize + real.len());
    assert_eq!(offsets[0], ftyp as u64 + 16);
    assert_eq!(offsets[holes as usize..], expected[..]);
}

/// Size of the last top-level box (moov), read from the file's tail by walking the boxes.
fn moov_size(path: &std::path::Path, moov_at: u64) -> u64 {
    let mut f = File::open(path).unwrap();
    let mut h = [0u8; 8];
    f.seek(SeekFrom::Start(moov_at)).unwrap();
    f.read_exact(&mut h).unwrap();
    assert_eq!(&h[4..], b"moov");
    let size = u64::from(u32::from_be_bytes(h[..4].try_into().unwrap()));
    let mut moov = vec![0u8; size as usize];
    f.seek(SeekFrom::Start(moov_at)).unwrap();
    f.read_exact(&mut moov).unwrap();
    assert!(moov.windows(4).any(|w| w == b"co64"), "co64 chunk offsets");
    assert!(!moov.windows(4).any(|w| w == b"stco"));
    size
}

//! One hour of 30 fps video (16 KiB samples, key frame every 60) plus 48 kHz AAC
//! (1024-sample frames, 400 B) muxed into a null sink: our plain and fragmented writers
//! against shiguredo_mp4's `Mp4FileMuxer` (payload written by the caller, then
//! `append_sample`), all fed samples interleaved one by one in decode order.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::num::NonZeroU32;

use bmff_writer::{
    Bytes, Codec, FragmentOptions, FragmentedWriter, Mp4Options, Mp4Writer, ParameterSets, Sample,
    TrackConfig,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// Discards bytes, keeping only the position (the muxer's cost alone).
#[derive(Default)]
struct NullSink {
    pos: u64,
    end: u64,
}

impl Write for NullSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pos += buf.len() as u64;
        self.end = self.end.max(self.pos);
        Ok(buf.len())
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let n: usize = bufs.iter().map(|b| b.len()).sum();
        self.pos += n as u64;
        self.end = self.end.max(self.pos);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for NullSink {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.pos = match pos {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.end.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

/// Copies every byte into a 64 MiB ring (positions wrap), so payload writes cost a memcpy
/// as with a real buffer, without holding the 1.8 GB output.
struct RingSink {
    ring: Vec<u8>,
    pos: u64,
    end: u64,
}

impl RingSink {
    fn new() -> Self {
        // Pre-touched, so page faults are not measured.
        Self {
            ring: vec![1u8; 64 << 20],
            pos: 0,
            end: 0,
        }
    }
}

impl Write for RingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let at = (self.pos % self.ring.len() as u64) as usize;
            let n = (self.ring.len() - at).min(buf.len() - done);
            self.ring[at..at + n].copy_from_slice(&buf[done..done + n]);
            done += n;
            self.pos += n as u64;
        }
        self.end = self.end.max(self.pos);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Seek for RingSink {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.pos = match pos {
            SeekFrom::Start(p) => p,
            SeekFrom::End(d) => self.end.saturating_add_signed(d),
            SeekFrom::Current(d) => self.pos.saturating_add_signed(d),
        };
        Ok(self.pos)
    }
}

/// libx264 High profile SPS/PPS (320x240), so the sample entries are real.
const SPS: &[u8] = &[
    0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41, 0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10,
    0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x42, 0x99, 0x60,
];
const PPS: &[u8] = &[0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0];

fn tracks() -> Vec<TrackConfig> {
    let avc = Codec::Avc(ParameterSets::Nal {
        vps: vec![],
        sps: vec![Bytes::from_static(SPS)],
        pps: vec![Bytes::from_static(PPS)],
    });
    let aac = Codec::Aac {
        audio_specific_config: Bytes::from_static(&[0x11, 0x90]),
    };
    vec![
        TrackConfig::video(avc, 90000, 320, 240),
        TrackConfig::audio(aac, 48000, 2),
    ]
}

/// The hour's samples in decode order; payloads share one buffer (no copy per sample).
fn hour() -> Vec<Sample> {
    let video = Bytes::from(vec![0x11u8; 16 << 10]);
    let audio = Bytes::from(vec![0x22u8; 400]);
    let mut out = Vec::with_capacity(276_750);
    let (mut v, mut a) = (0i64, 0i64);
    while v < 30 * 3600 {
        out.push(Sample::new(0, v * 3000, v % 60 == 0, video.clone()));
        v += 1;
        while a * 1024 * 90000 < v * 3000 * 48000 && a < 168_750 {
            out.push(Sample::new(1, a * 1024, true, audio.clone()));
            a += 1;
        }
    }
    out
}

/// shiguredo_mp4's sample entries for the same tracks, read back from a tiny file of ours.
fn peer_entries() -> Vec<shiguredo_mp4::boxes::SampleEntry> {
    let mut w = Mp4Writer::new(
        std::io::Cursor::new(Vec::new()),
        tracks(),
        Mp4Options::default(),
    )
    .unwrap();
    w.push(Sample::new(
        0,
        0,
        true,
        Bytes::from_static(&[0, 0, 0, 1, 0x65]),
    ))
    .unwrap();
    w.push(Sample::new(1, 0, true, Bytes::from_static(&[0x21])))
        .unwrap();
    let file = w.finish().unwrap().into_inner();
    let mut d = shiguredo_mp4::demux::Mp4FileDemuxer::new();
    d.handle_input(shiguredo_mp4::demux::Input {
        position: 0,
        data: &file,
    });
    let mut entries = Vec::new();
    while let Some(s) = d.next_sample().unwrap() {
        entries.push(s.sample_entry.unwrap().clone());
    }
    entries
}

trait Sink: Write + Seek + Sized {
    fn make() -> Self;
    fn position(&self) -> u64;
    fn end(&self) -> u64;
}

impl Sink for NullSink {
    fn make() -> Self {
        Self::default()
    }
    fn position(&self) -> u64 {
        self.pos
    }
    fn end(&self) -> u64 {
        self.end
    }
}

impl Sink for RingSink {
    fn make() -> Self {
        Self::new()
    }
    fn position(&self) -> u64 {
        self.pos
    }
    fn end(&self) -> u64 {
        self.end
    }
}

fn group<S: Sink>(
    c: &mut Criterion,
    name: &str,
    samples: &[Sample],
    entries: &[shiguredo_mp4::boxes::SampleEntry],
) {
    let bytes: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::ElementsAndBytes {
        elements: samples.len() as u64,
        bytes,
    });
    group.sample_size(10);

    group.bench_function("ours-mp4", |b| {
        b.iter(|| {
            let mut w = Mp4Writer::new(S::make(), tracks(), Mp4Options::default()).unwrap();
            for s in samples {
                w.push(s.clone()).unwrap();
            }
            black_box(w.finish().unwrap().end())
        })
    });

    group.bench_function("ours-fragmented", |b| {
        b.iter(|| {
            let mut w =
                FragmentedWriter::new(S::make(), tracks(), FragmentOptions::default()).unwrap();
            for s in samples {
                w.push(s.clone()).unwrap();
            }
            black_box(w.finish().unwrap().end())
        })
    });

    group.bench_function("peer-shiguredo_mp4", |b| {
        use shiguredo_mp4::TrackKind;
        use shiguredo_mp4::mux::{Mp4FileMuxer, Sample as PeerSample};
        let timescales = [
            NonZeroU32::new(90000).unwrap(),
            NonZeroU32::new(48000).unwrap(),
        ];
        b.iter(|| {
            let mut sink = S::make();
            let mut m = Mp4FileMuxer::new().unwrap();
            sink.write_all(m.initial_boxes_bytes()).unwrap();
            let mut first = [true, true];
            for s in samples {
                let offset = sink.position();
                sink.write_all(&s.data).unwrap();
                m.append_sample(&PeerSample {
                    track_kind: if s.track == 0 {
                        TrackKind::Video
                    } else {
                        TrackKind::Audio
                    },
                    sample_entry: std::mem::take(&mut first[s.track])
                        .then(|| entries[s.track].clone()),
                    keyframe: s.sync,
                    timescale: timescales[s.track],
                    duration: if s.track == 0 { 3000 } else { 1024 },
                    composition_time_offset: None,
                    data_offset: offset,
                    data_size: s.data.len(),
                })
                .unwrap();
            }
            let finalized = m.finalize().unwrap();
            for (offset, bytes) in finalized.offset_and_bytes_pairs() {
                sink.seek(SeekFrom::Start(offset)).unwrap();
                sink.write_all(bytes).unwrap();
            }
            black_box(sink.end())
        })
    });
    group.finish();
}

fn mux(c: &mut Criterion) {
    let samples = hour();
    let entries = peer_entries();
    // The muxers' own cost: the sink only counts bytes.
    group::<NullSink>(c, "mux-1h-av", &samples, &entries);
    // Every payload byte copied into memory, as into a real buffer.
    group::<RingSink>(c, "mux-1h-av-to-memory", &samples, &entries);
}

criterion_group!(benches, mux);
criterion_main!(benches);

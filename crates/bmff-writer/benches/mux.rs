//! One hour of 30 fps video (16 KiB samples, key frame every 60) plus 48 kHz AAC
//! (1024-sample frames, 400 B) muxed into a null sink: our plain and fragmented writers
//! against shiguredo_mp4's `Mp4FileMuxer` (payload written by the caller, then
//! `append_sample`), all fed samples interleaved one by one in decode order; into memory
//! also `ceiling-memcpy`, the same payload bytes copied into the same sink with nothing
//! else done. Rows are measured interleaved, round by round (see `group`).
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::io::{IoSlice, Seek, SeekFrom, Write};
use std::num::NonZeroU32;

use bmff_writer::{
    Bytes, Codec, FragmentOptions, FragmentedWriter, Mp4Options, Mp4Writer, ParameterSets, Sample,
    TrackConfig,
};
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

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
///
/// The ring is allocated and touched once per thread and reused by every iteration, so
/// page faults are not measured. Each copy is followed by `black_box` of the ring:
/// without it the compiler may drop copies into a buffer that is never read, which it
/// did for the closures that call `write_all` directly (the peer's payload copies
/// vanished, and the peer looked 30 % faster than ours; see the README).
struct RingSink {
    ring: Vec<u8>,
    pos: u64,
    end: u64,
}

thread_local! {
    static RING: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

impl RingSink {
    fn new() -> Self {
        let mut ring = RING.take();
        if ring.is_empty() {
            ring = vec![1u8; 64 << 20];
        }
        Self {
            ring,
            pos: 0,
            end: 0,
        }
    }

    fn copy(&mut self, buf: &[u8]) {
        let mut done = 0;
        while done < buf.len() {
            let at = (self.pos % self.ring.len() as u64) as usize;
            let n = (self.ring.len() - at).min(buf.len() - done);
            self.ring[at..at + n].copy_from_slice(&buf[done..done + n]);
            black_box(&mut self.ring[at..at + n]);
            done += n;
            self.pos += n as u64;
        }
        self.end = self.end.max(self.pos);
    }
}

impl Drop for RingSink {
    fn drop(&mut self) {
        RING.set(std::mem::take(&mut self.ring));
    }
}

impl Write for RingSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.copy(buf);
        Ok(buf.len())
    }
    /// Every slice, as `Vec<u8>` and `Cursor` do.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> std::io::Result<usize> {
        let mut n = 0;
        for b in bufs {
            self.copy(b);
            n += b.len();
        }
        Ok(n)
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
    /// Whether written bytes are copied (else only counted).
    const COPIES: bool;
    fn make() -> Self;
    fn position(&self) -> u64;
    fn end(&self) -> u64;
}

impl Sink for NullSink {
    const COPIES: bool = false;
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
    const COPIES: bool = true;
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

/// One row of a group: a name and one iteration's work (returns the bytes written).
type Row<'a> = (&'static str, Box<dyn Fn() -> u64 + 'a>);

fn rows<'a, S: Sink>(
    samples: &'a [Sample],
    entries: &'a [shiguredo_mp4::boxes::SampleEntry],
) -> Vec<Row<'a>> {
    let ours_mp4 = move || {
        let mut w = Mp4Writer::new(S::make(), tracks(), Mp4Options::default()).unwrap();
        for s in samples {
            w.push(s.clone()).unwrap();
        }
        w.finish().unwrap().end()
    };
    let ours_fragmented = move || {
        let mut w = FragmentedWriter::new(S::make(), tracks(), FragmentOptions::default()).unwrap();
        for s in samples {
            w.push(s.clone()).unwrap();
        }
        w.finish().unwrap().end()
    };
    // The ceiling: the same payload bytes, in the same order, copied into the same sink
    // with nothing else done (no container, no index).
    let ceiling_memcpy = move || {
        let mut sink = S::make();
        for s in samples {
            sink.write_all(&s.data).unwrap();
        }
        sink.end()
    };
    let peer = move || {
        use shiguredo_mp4::TrackKind;
        use shiguredo_mp4::mux::{Mp4FileMuxer, Sample as PeerSample};
        let timescales = [
            NonZeroU32::new(90000).unwrap(),
            NonZeroU32::new(48000).unwrap(),
        ];
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
                sample_entry: std::mem::take(&mut first[s.track]).then(|| entries[s.track].clone()),
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
        sink.end()
    };
    vec![
        ("ours-mp4", Box::new(ours_mp4)),
        ("ours-fragmented", Box::new(ours_fragmented)),
        ("ceiling-memcpy", Box::new(ceiling_memcpy)),
        ("peer-shiguredo_mp4", Box::new(peer)),
    ]
}

/// Criterion's name filter (the first argument that is not a flag), if any.
fn filter() -> Option<String> {
    std::env::args().skip(1).find(|a| !a.starts_with('-'))
}

/// Measures the rows interleaved (round after round, each row once per round) and hands
/// criterion the recorded times: on a machine shared with other builds the load moves
/// within seconds, and rows measured one after the other (criterion's way) disagree by
/// more than the differences we look for. Under `cargo test --benches` each row runs once.
fn group<S: Sink>(
    c: &mut Criterion,
    name: &str,
    samples: &[Sample],
    entries: &[shiguredo_mp4::boxes::SampleEntry],
) {
    let full = std::env::args().any(|a| a == "--bench");
    let filter = filter();
    let rows: Vec<Row<'_>> = rows::<S>(samples, entries)
        .into_iter()
        // Into a null sink the "memcpy" copies nothing: no ceiling there.
        .filter(|(f, _)| S::COPIES || !f.starts_with("ceiling"))
        .filter(|(f, _)| {
            filter
                .as_deref()
                .is_none_or(|x| format!("{name}/{f}").contains(x))
        })
        .collect();
    // Ten samples (Flat sampling, below); one round when criterion only tests the bench.
    let rounds = if full { 10 } else { 1 };
    let mut times = vec![Vec::new(); rows.len()];
    for _ in 0..rounds {
        for (row, times) in rows.iter().zip(&mut times) {
            let start = std::time::Instant::now();
            black_box(row.1());
            times.push(start.elapsed());
        }
    }

    // Each of our rows against each reference, paired by round: the median of the ten
    // per-round ratios moves less with the load than the ratio of two medians.
    for (i, (ours, _)) in rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.0.starts_with("ours"))
    {
        for (j, (other, _)) in rows
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.0.starts_with("ours"))
        {
            let mut ratios: Vec<f64> = times[i]
                .iter()
                .zip(&times[j])
                .map(|(a, b)| b.as_secs_f64() / a.as_secs_f64())
                .collect();
            ratios.sort_by(f64::total_cmp);
            if let Some(m) = ratios.get(ratios.len() / 2) {
                eprintln!(
                    "{name}/{ours}: {m:.2}x the speed of {other} (median of {} paired rounds)",
                    ratios.len()
                );
            }
        }
    }

    let bytes: u64 = samples.iter().map(|s| s.data.len() as u64).sum();
    let mut group = c.benchmark_group(name);
    group
        .throughput(Throughput::ElementsAndBytes {
            elements: samples.len() as u64,
            bytes,
        })
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_millis(1));
    for ((function, _), times) in rows.iter().zip(&times) {
        // Criterion sizes `iters` from how long this closure takes: the 2 ms pause makes
        // it one warm-up call and ten sample calls of one iteration, so each of the ten
        // recorded rounds is used once (the warm-up call only shifts the cycle's start).
        let mut next = times.iter().cycle();
        group.bench_function(*function, |b| {
            b.iter_custom(|iters| {
                std::thread::sleep(Duration::from_millis(2));
                let time = next.next().copied().unwrap_or_default();
                time * u32::try_from(iters).unwrap_or(u32::MAX)
            })
        });
    }
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

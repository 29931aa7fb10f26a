//! Lists the streams and frames of a transport stream file:
//! `cargo run -p media-toolkit-mpeg-ts --example tsinfo -- FILE.ts`.

use std::io::Read;

use mpeg_ts::{Demuxer, Event};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: tsinfo FILE.ts")?;
    let mut file = std::fs::File::open(&path)?;
    let mut demuxer = Demuxer::new();
    let mut chunk = vec![0; 188 * 256];
    let mut frames = Vec::<u64>::new();
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        demuxer.push(&chunk[..n])?;
        report(&mut demuxer, &mut frames);
    }
    let end = demuxer.finish();
    report(&mut demuxer, &mut frames);
    println!("frames per stream: {frames:?}");
    Ok(end?)
}

fn report(demuxer: &mut Demuxer, frames: &mut Vec<u64>) {
    while let Some(event) = demuxer.poll() {
        match event {
            Event::Streams(streams) => {
                for s in &streams {
                    println!("PID {:#06x}: {:?}", s.pid, s.stream_type);
                }
                *frames = vec![0; streams.len()];
            }
            Event::Frame(f) => {
                if let Some(count) = frames.get_mut(f.stream) {
                    *count += 1;
                }
            }
            other => eprintln!("tsinfo: an event this example does not know: {other:?}"),
        }
    }
}

//! Lists the access units of an Annex B file and what its SPS says.
//!
//! ```sh
//! cargo run -p elementary --example annexb_info -- video.h264
//! ```

use std::io::Read;

use elementary::{AnnexBReader, ParameterSets, VideoCodec, record, sps_info};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: annexb_info FILE.h264|FILE.h265")?;
    let codec = if path.ends_with(".h265") || path.ends_with(".265") {
        VideoCodec::H265
    } else {
        VideoCodec::H264
    };
    let mut file = std::fs::File::open(&path)?;
    let mut reader = AnnexBReader::new(codec);
    let mut sets = ParameterSets::default();
    let (mut units, mut keys) = (0u64, 0u64);
    let mut chunk = vec![0; 64 * 1024];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            reader.finish();
        } else {
            reader.push(&chunk[..n]);
        }
        while let Some(unit) = reader.pull() {
            units += 1;
            keys += u64::from(unit.key);
            for nal in &unit.nals {
                sets.take(codec, nal);
            }
        }
        if n == 0 {
            break;
        }
    }
    println!("{units} access units, {keys} key frames");
    if let Some(sps) = sets.sps.first() {
        println!("{:?}", sps_info(codec, sps)?);
        println!("record: {} bytes", record(codec, &sets)?.len());
    }
    Ok(())
}

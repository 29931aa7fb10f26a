//! Reads one FLV video or audio tag payload given in hex:
//! `cargo run -p media-toolkit-flv --example flvtag -- video 1700000000`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (kind, hex) = (
        args.next().unwrap_or_default(),
        args.next().unwrap_or_default(),
    );
    let bytes: Result<Vec<u8>, _> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
        .collect();
    let data = bytes::Bytes::from(bytes?);
    match kind.as_str() {
        "video" => println!("{:?}", flv::video(&data)?),
        "audio" => println!("{:?}", flv::audio(&data)?),
        _ => return Err("usage: flvtag video|audio HEX".into()),
    }
    Ok(())
}

//! Takes one WHIP publish and prints what arrives: open the printed page in a browser
//! (it publishes the camera and microphone), or point OBS or ffmpeg's WHIP muxer at the
//! endpoint.
//!
//! ```text
//! cargo run -p whip-whep --example whip_receive -- 127.0.0.1:8890 [seconds]
//! ```

use std::time::Duration;

use whip_whep::{Published, TrackKind, WhipServer, WhipSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), whip_whep::Error> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8890".into());
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut server = WhipServer::bind(&addr, "pub", WhipSettings::default())?;
    println!("publish at {}", server.endpoint_url());
    println!("or open http://{}/pub in a browser", server.local_addr());
    let (mut video, mut audio, mut keys) = (0u64, 0u64, 0u64);
    let deadline = tokio::time::sleep(Duration::from_secs(seconds));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            event = server.next() => match event {
                Some(Published::Started) => println!("publisher connected"),
                Some(Published::Frame(f)) => {
                    match f.track {
                        TrackKind::Video => video += 1,
                        TrackKind::Audio => audio += 1,
                        other => println!("a frame of a track this example does not count: {other:?}"),
                    }
                    keys += u64::from(f.track == TrackKind::Video && f.keyframe);
                }
                Some(Published::Ended) => {
                    println!("publisher left");
                    break;
                }
                Some(_) => {}
                None => break,
            },
        }
    }
    println!("{video} video frames ({keys} key frames), {audio} audio packets");
    Ok(())
}

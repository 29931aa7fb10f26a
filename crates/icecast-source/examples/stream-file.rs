//! Streams MP3 files to an Icecast mount in real time, printing what happens.
//!
//! `cargo run -p icecast-source --example stream-file -- FILE.mp3... icecast://source:pass@host:port/mount [--title TEXT]`
//!
//! Type `mute`, `unmute`, `title TEXT` or `stop` (one per line) on stdin while it streams.
#![allow(clippy::print_stderr)]

use std::path::PathBuf;

use futures::StreamExt;
use icecast_source::{
    Event, IcecastConfig, IcecastStream, Mp3Input, StreamOptions, forward_commands,
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let title = match args.iter().position(|a| a == "--title") {
        Some(i) if i + 1 < args.len() => {
            let title = args.remove(i + 1);
            args.remove(i);
            Some(title)
        }
        _ => None,
    };
    let Some(url) = args.pop().filter(|_| !args.is_empty()) else {
        eprintln!(
            "usage: stream-file FILE.mp3... icecast://source:pass@host:port/mount [--title TEXT]"
        );
        std::process::exit(2);
    };
    let config = IcecastConfig::from_url(&url)?;
    eprintln!("streaming to {config}"); // the password is shown as ***
    let inputs = args
        .into_iter()
        .map(|a| Mp3Input::File(PathBuf::from(a)))
        .collect();
    let mut stream = IcecastStream::spawn(config, StreamOptions::default(), inputs);
    let mut events = stream.events().expect("events are taken once");
    if let Some(title) = title {
        stream.set_title(title).await;
    }
    tokio::spawn(forward_commands(tokio::io::stdin(), stream.commands()));
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::FrameSent { .. } => {}
                other => eprintln!("{other:?}"),
            }
        }
    });
    stream.wait().await?;
    Ok(())
}

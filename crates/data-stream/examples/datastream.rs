//! Sends or receives data streams in the length-delimited framing of this crate.
//!
//! ```sh
//! # send a text or a file to stdout or to a TCP address
//! datastream send --text "hello" --topic chat --attr lang=en > packets.bin
//! datastream send --file photo.png --topic files --to 127.0.0.1:7000
//! # print every finished stream as one JSON line (info, attributes, size, sha256 or text)
//! datastream recv < packets.bin
//! datastream recv --listen 127.0.0.1:7000
//! # WebSocket (one binary message per DataPacket): a server printing what it receives and
//! # answering every connection with a text and a file (as v1, and as v2 compressed)
//! datastream serve --ws 127.0.0.1:7001 --reply-text hi --reply-file photo.png --reply-v1 --reply-v2
//! datastream connect ws://127.0.0.1:7001/ --text hello --v2 --expect 4
//! ```

use std::error::Error;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use data_stream::transport::websocket::{accept, connect, write_messages};
use data_stream::transport::{IncomingStreams, Receiver, write_frames};
use data_stream::{Limits, Outgoing, StreamKind, StreamOptions, StreamReader, V2Support};
use futures::StreamExt;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(about = "Send or receive LiveKit-compatible data streams over stdin/stdout or TCP")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Send one text or file stream.
    Send {
        /// Text to send as a text stream.
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        text: Option<String>,
        /// File to send as a byte stream (MIME type guessed from the extension).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Topic of the stream.
        #[arg(long, default_value = "")]
        topic: String,
        /// Attribute `key=value` (repeatable).
        #[arg(long = "attr", value_parser = parse_attr)]
        attrs: Vec<(String, String)>,
        /// TCP address to connect to (default: stdout).
        #[arg(long)]
        to: Option<String>,
    },
    /// Print each finished stream as one JSON line.
    Recv {
        /// TCP address to listen on (default: read stdin).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Serve WebSocket connections: print each stream received as one JSON line, and
    /// answer each connection with the reply streams.
    Serve {
        /// Address to listen on for WebSocket connections (port 0: any free port; the
        /// address is printed on stderr).
        #[arg(long)]
        ws: String,
        /// Text to send to each connection.
        #[arg(long)]
        reply_text: Option<String>,
        /// File to send to each connection.
        #[arg(long)]
        reply_file: Option<PathBuf>,
        /// Send the replies as data streams v1.
        #[arg(long)]
        reply_v1: bool,
        /// Send the replies as data streams v2 (single packet or compressed).
        #[arg(long)]
        reply_v2: bool,
    },
    /// Connect to a WebSocket server, send a text or a file, print what comes back.
    Connect {
        /// `ws://host:port/path`.
        url: String,
        /// Text to send as a text stream.
        #[arg(long)]
        text: Option<String>,
        /// File to send as a byte stream.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Topic of the stream.
        #[arg(long, default_value = "")]
        topic: String,
        /// Send as data streams v2 (single packet or compressed).
        #[arg(long)]
        v2: bool,
        /// Streams to receive and print before closing.
        #[arg(long, default_value_t = 0)]
        expect: usize,
    },
}

fn parse_attr(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not key=value"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    match Cli::parse().command {
        Command::Send {
            text,
            file,
            topic,
            attrs,
            to,
        } => {
            let (out, frames) = Outgoing::new(16);
            let writer = match to {
                Some(addr) => {
                    let socket = tokio::net::TcpStream::connect(&addr).await?;
                    tokio::spawn(write_frames(
                        frames,
                        socket,
                        data_stream::framing::DEFAULT_MAX_FRAME_SIZE,
                    ))
                }
                None => tokio::spawn(write_frames(
                    frames,
                    tokio::io::stdout(),
                    data_stream::framing::DEFAULT_MAX_FRAME_SIZE,
                )),
            };
            let options = {
                let mut options = StreamOptions::topic(topic);
                options.attributes = attrs.into_iter().collect();
                options
            };
            let info = match (text, file) {
                (Some(text), _) => out.send_text(text, options).await?,
                (None, Some(file)) => out.send_file(file, options).await?,
                (None, None) => return Err("--text or --file is required".into()),
            };
            drop(out);
            writer.await??;
            eprintln!(
                "sent stream {} ({} bytes)",
                info.id,
                info.total_length.unwrap_or_default()
            );
        }
        Command::Serve {
            ws,
            reply_text,
            reply_file,
            reply_v1,
            reply_v2,
        } => {
            let listener = tokio::net::TcpListener::bind(&ws).await?;
            eprintln!("listening on {}", listener.local_addr()?);
            let mut supports = Vec::new();
            if reply_v1 {
                supports.push(V2Support::default());
            }
            if reply_v2 {
                supports.push(V2Support::all());
            }
            let replies = Replies {
                text: reply_text,
                file: reply_file,
                supports,
            };
            loop {
                let (tcp, peer) = listener.accept().await?;
                let replies = replies.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(tcp, replies).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
        }
        Command::Connect {
            url,
            text,
            file,
            topic,
            v2,
            expect,
        } => {
            use futures::StreamExt;
            let socket = connect(&url, &Limits::default()).await?;
            let (sink, stream) = socket.split();
            let (out, frames) = Outgoing::new(16);
            let out = out.with_v2(if v2 {
                V2Support::all()
            } else {
                V2Support::default()
            });
            let writer = tokio::spawn(write_messages(
                frames,
                sink,
                Limits::default().max_frame_size,
            ));
            let receiver = Receiver::new(Limits::default());
            let texts = receiver.other_text_streams()?;
            let bytes = receiver.other_byte_streams()?;
            let run = tokio::spawn({
                let receiver = receiver.clone();
                async move { receiver.run_websocket(stream).await }
            });
            let options = StreamOptions::topic(topic);
            match (text, file) {
                (Some(text), _) => drop(out.send_text(text, options).await?),
                (None, Some(file)) => drop(out.send_file(file, options).await?),
                (None, None) => {}
            }
            let mut readers = futures::stream::select(texts, bytes).take(expect);
            while let Some(reader) = readers.next().await {
                print_stream(reader).await;
            }
            // Closing our side ends the connection.
            drop(out);
            writer.await??;
            drop(receiver);
            let _ = run.await?;
        }
        Command::Recv { listen: None } => receive(tokio::io::stdin()).await?,
        Command::Recv { listen: Some(addr) } => {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            eprintln!("listening on {}", listener.local_addr()?);
            loop {
                let (socket, peer) = listener.accept().await?;
                tokio::spawn(async move {
                    if let Err(e) = receive(socket).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
        }
    }
    Ok(())
}

/// What `serve` answers each connection with.
#[derive(Clone)]
struct Replies {
    text: Option<String>,
    file: Option<PathBuf>,
    supports: Vec<V2Support>,
}

/// One WebSocket connection of `serve`: prints what comes in, sends the replies.
async fn serve_connection(
    tcp: tokio::net::TcpStream,
    replies: Replies,
) -> Result<(), Box<dyn Error>> {
    use futures::StreamExt;
    let socket = accept(tcp, &Limits::default()).await?;
    let (sink, stream) = socket.split();
    let (out, frames) = Outgoing::new(16);
    let writer = tokio::spawn(write_messages(
        frames,
        sink,
        Limits::default().max_frame_size,
    ));
    let receiver = Receiver::new(Limits::default());
    let texts = receiver.other_text_streams()?;
    let bytes = receiver.other_byte_streams()?;
    let printer = tokio::spawn(print_all(futures::stream::select(texts, bytes)));
    let sending = tokio::spawn(async move {
        for support in replies.supports {
            let out = out.clone().with_v2(support);
            if let Some(text) = &replies.text {
                out.send_text(text.clone(), StreamOptions::topic("reply"))
                    .await?;
            }
            if let Some(file) = &replies.file {
                out.send_file(file, StreamOptions::topic("reply")).await?;
            }
        }
        // Keep the sending side open until the peer closes.
        Ok::<_, data_stream::Error>(out)
    });
    let outcome = receiver.run_websocket(stream).await;
    drop(receiver);
    printer.await?;
    drop(sending.await?);
    let _ = writer.await?;
    Ok(outcome?)
}

/// Receives every stream of one connection, printing each as it finishes.
async fn receive<R: tokio::io::AsyncRead + Unpin>(transport: R) -> Result<(), Box<dyn Error>> {
    let receiver = Receiver::new(Limits::default());
    let texts = receiver.other_text_streams()?;
    let bytes = receiver.other_byte_streams()?;
    let printer = tokio::spawn(print_all(futures::stream::select(texts, bytes)));
    let outcome = receiver.run(transport).await;
    drop(receiver);
    printer.await?;
    Ok(outcome?)
}

async fn print_all(mut readers: futures::stream::Select<IncomingStreams, IncomingStreams>) {
    let mut tasks = Vec::new();
    while let Some(reader) = readers.next().await {
        tasks.push(tokio::spawn(print_stream(reader)));
    }
    for task in tasks {
        let _ = task.await;
    }
}

async fn print_stream(mut reader: StreamReader) {
    let mut sha = Sha256::new();
    let mut text = Vec::new();
    let mut size = 0u64;
    let mut error = None;
    let is_text = matches!(reader.info().kind, StreamKind::Text(_));
    while let Some(chunk) = reader.next().await {
        match chunk {
            Ok(chunk) => {
                size += chunk.len() as u64;
                if is_text {
                    text.extend_from_slice(&chunk);
                } else {
                    sha.update(&chunk);
                }
            }
            Err(e) => error = Some(e.to_string()),
        }
    }
    let info = reader.info();
    let attributes: std::collections::BTreeMap<_, _> = info.attributes.iter().collect();
    let mut line = serde_json::json!({
        "id": info.id, "topic": info.topic, "mime_type": info.mime_type, "timestamp_ms": info.timestamp_ms,
        "total_length": info.total_length, "attributes": attributes, "size": size,
    });
    match &info.kind {
        StreamKind::Text(_) => {
            line["kind"] = "text".into();
            line["text"] = String::from_utf8_lossy(&text).into();
        }
        StreamKind::Bytes { name } => {
            line["kind"] = "bytes".into();
            line["name"] = name.clone().into();
            line["sha256"] = sha
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into();
        }
        // A kind of a newer data-stream: the line says so instead of guessing.
        _ => line["kind"] = "unknown".into(),
    }
    if let Some(e) = error {
        line["error"] = e.into();
    }
    println!("{line}");
}

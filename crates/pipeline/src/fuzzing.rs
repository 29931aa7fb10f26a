//! Entry points for the fuzz targets (`fuzz/`): the file inputs' parsing on bytes in
//! memory, the same code the sources run on files, without a runtime. Not a stable API.

use crate::Error;
use crate::contract::InputEvent;

/// Most packets read from one input: a sample table may claim billions of empty samples.
const MAX_PACKETS: usize = 100_000;

/// Reads `data` as an MP4 file (plain or fragmented); the number of packets it gives.
pub fn mp4_input(data: &[u8]) -> Result<usize, Error> {
    let mut packets = 0;
    crate::source::mp4::read_bytes(data, &mut |event| {
        if let InputEvent::Packet(packet, _) = &event {
            packets += 1;
            let _ = packet.data.len();
        }
        packets < MAX_PACKETS
    })?;
    Ok(packets)
}

/// Reads `data` as an MPEG-TS file through the TS input (tracks, timestamp jumps,
/// parameter-set updates); the number of events it sent.
pub fn ts_input(data: &[u8]) -> Result<usize, Error> {
    read_with(|tx, stop| {
        crate::source::ts::read_blocking(
            "TS".into(),
            data,
            crate::source::FileSender::new(tx),
            stop,
        )
    })
}

/// Reads `data` as standard input or an HTTP body would be read: told apart by its first
/// bytes, then MPEG-TS, MP3 or fragmented MP4 as it comes; the number of events it sent.
pub fn stream_input(data: &[u8]) -> Result<usize, Error> {
    read_with(|tx, stop| {
        crate::source::byte_stream::read(
            "stream",
            data,
            crate::source::FileSender::unbatched(tx),
            stop,
        )
    })
}

/// Reads `data` as an Ogg Opus file (chained streams too); the number of events it sent.
pub fn ogg_input(data: &[u8]) -> Result<usize, Error> {
    read_with(|tx, stop| crate::source::ogg::read_bytes(data, tx, stop))
}

/// Reads `data` as a Matroska or WebM file; the number of events it sent.
pub fn mkv_input(data: &[u8]) -> Result<usize, Error> {
    read_with(|tx, stop| crate::source::matroska::read_bytes(data, tx, stop))
}

/// Runs a file reader on this thread, its events counted (and dropped) by another.
fn read_with(
    read: impl FnOnce(
        tokio::sync::mpsc::Sender<InputEvent>,
        &tokio::sync::watch::Receiver<bool>,
    ) -> Result<(), Error>,
) -> Result<usize, Error> {
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let counter = std::thread::spawn(move || {
        let mut events = 0;
        while let Some(event) = rx.blocking_recv() {
            events += match event {
                InputEvent::Batch(batch) => batch.len(),
                _ => 1,
            };
        }
        events
    });
    let (_stop_tx, stop) = tokio::sync::watch::channel(false);
    let result = read(tx, &stop);
    let events = counter.join().unwrap_or(0);
    result.map(|()| events)
}

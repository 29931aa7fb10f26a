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

//! Entry points for the fuzz targets (`fuzz/`): the Ogg relay and the Vorbis setup reader
//! on bytes in memory, the code a stream runs, without a runtime. Not a stable API.

use bytes::Bytes;

use crate::AudioFrame;
use crate::ogg::{OggPage, OggPages};
use crate::ogg_relay::OggRelay;
use crate::vorbis::VorbisSetup;

/// Reads `data` as a Vorbis setup header (its `05 vorbis` start added when missing) for
/// streams of 1, 2 and 6 channels; a silent packet of each mode of a setup read reads back
/// as that mode. Returns how many of the three were read.
pub fn vorbis_setup(data: &[u8]) -> usize {
    let setup = if data.starts_with(b"\x05vorbis") {
        data.to_vec()
    } else {
        [b"\x05vorbis", data].concat()
    };
    let mut read = 0;
    for channels in [1u8, 2, 6] {
        let mut id = b"\x01vorbis\0\0\0\0".to_vec();
        id.push(channels);
        id.extend(44_100u32.to_le_bytes());
        id.extend([0; 12]);
        id.extend([0xB8, 0x01]); // block sizes 256 and 2048, framing bit
        let Ok(vorbis) = VorbisSetup::read(&id, &setup) else {
            continue;
        };
        read += 1;
        for mode in 0..vorbis.modes.len() {
            for (previous_long, next_long) in [(false, false), (true, true)] {
                let packet = vorbis.silent_packet(mode, previous_long, next_long);
                let block = vorbis.block(&packet).expect("a silent packet reads back");
                assert_eq!(block.long, vorbis.is_long(mode));
                // Type bit, 6 mode bits, 2 window flags, 63 amplitude bits a channel.
                assert!(packet.len() <= (9 + 63 * usize::from(channels)).div_ceil(8));
            }
        }
    }
    read
}

/// Passes `data`'s pages through an Ogg relay as a muted radio whose queue runs dry
/// would: silence asked for after every page (a link of silence after a link's end),
/// and a link of silence ended by the next first page. Everything sent is whole pages.
/// Returns the number of pages sent.
pub fn ogg_relay(data: &[u8]) -> usize {
    let mut relay = OggRelay::default();
    let mut sent: Vec<AudioFrame> = Vec::new();
    for page in OggPages::new(Bytes::copy_from_slice(data)).map_while(Result::ok) {
        let frame = relay.page(AudioFrame::new(page.data, 0, 48_000));
        sent.extend(relay.take_closing());
        sent.push(frame);
        let _ = relay.mute_refusal(None);
        for _ in 0..3 {
            sent.extend(relay.silence(true));
        }
        sent.extend(relay.silence(false));
    }
    let mut pages = 0;
    for frame in sent {
        for page in OggPages::new(frame.data) {
            let _: OggPage = page.expect("the relay sends whole pages");
            pages += 1;
        }
    }
    pages
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fuzz target's seeds, replayed here too (the fuzz workspace replays them all).
    #[test]
    fn the_ogg_seeds_go_through_the_relay_and_the_setup_reader() {
        let corpus = test_support::workspace_root().join("fuzz/corpus/icecast_ogg_pages");
        let read = |name: &str| std::fs::read(corpus.join(name)).unwrap();
        assert_eq!(vorbis_setup(&read("vorbis-setup-mono")), 3);
        for name in ["vorbis", "vorbis-mono", "opus"] {
            let data = read(name);
            let pages = OggPages::new(Bytes::from(data.clone())).count();
            assert!(
                ogg_relay(&data) > pages,
                "{name}: silence between its pages"
            );
            assert_eq!(vorbis_setup(&data), 0);
            for len in (0..data.len()).step_by(97) {
                let _ = ogg_relay(&data[..len]);
            }
        }
    }
}

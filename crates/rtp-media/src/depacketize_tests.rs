use bytes::Bytes;

use super::*;
use crate::Packetizer;

fn unit(nals: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for nal in nals {
        out.extend_from_slice(&(nal.len() as u32).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out
}

fn parse(packets: &[Bytes]) -> Vec<RtpPacket> {
    packets
        .iter()
        .map(|p| RtpPacket::parse(p.clone()).unwrap())
        .collect()
}

fn run(format: Format, packets: &[RtpPacket]) -> (Vec<Frame>, Depacketizer) {
    let mut d = Depacketizer::new(format);
    let mut frames = Vec::new();
    for p in packets {
        d.push(p);
        frames.extend(std::iter::from_fn(|| d.pull()));
    }
    d.finish();
    frames.extend(std::iter::from_fn(|| d.pull()));
    (frames, d)
}

fn big_nal(first: &[u8], len: usize) -> Vec<u8> {
    first
        .iter()
        .copied()
        .chain((0..len).map(|i| (i * 7) as u8))
        .collect()
}

#[test]
fn h264_and_h265_round_trip_through_the_packetizer() {
    let h264 = [
        unit(&[
            &[0x67, 0x64, 0, 0x1f],
            &[0x68, 0xee],
            &big_nal(&[0x65], 5000),
        ]),
        unit(&[&big_nal(&[0x41], 3000), &[0x41, 9]]),
    ];
    let h265 = [
        unit(&[
            &[0x40, 1, 5],
            &[0x42, 1, 6],
            &[0x44, 1, 7],
            &big_nal(&[0x26, 1], 4000),
        ]),
        unit(&[&big_nal(&[0x02, 1], 2500)]),
    ];
    for (format, units) in [(Format::H264, &h264), (Format::H265, &h265)] {
        let mut p = Packetizer::new(format, 96, 0xffff_ff00, 1200);
        let mut packets = Vec::new();
        for (i, u) in units.iter().enumerate() {
            packets.extend(p.packetize(3000 * i as u32, u).unwrap());
        }
        let (frames, d) = run(format, &parse(&packets));
        assert_eq!(frames.len(), 2, "{format:?}");
        assert_eq!(frames[0].data, units[0]);
        assert_eq!(frames[1].data, units[1]);
        assert_eq!((frames[0].key, frames[1].key), (true, false));
        assert_eq!(frames[1].timestamp, 3000);
        assert_eq!(d.dropped(), 0);
        let sets = d.parameter_sets();
        assert_eq!(sets.len(), if format == Format::H265 { 3 } else { 2 });
    }
}

#[test]
fn a_lost_fragment_drops_its_nal_unit_only() {
    let mut p = Packetizer::new(Format::H264, 96, 1, 500);
    let au = unit(&[&[0x67, 1], &big_nal(&[0x65], 2000), &[0x65, 3]]);
    let mut packets = parse(&p.packetize(0, &au).unwrap());
    assert!(packets.len() > 4);
    packets.remove(3); // a middle FU-A
    let (frames, d) = run(Format::H264, &packets);
    assert_eq!(frames.len(), 1);
    assert_eq!(frames[0].data, unit(&[&[0x67, 1], &[0x65, 3]]));
    assert_eq!(d.dropped(), 1);

    // The start lost: the rest of the unit is never glued on anything.
    let mut packets = parse(&p.packetize(3000, &au).unwrap());
    packets.remove(1);
    let (frames, d) = run(Format::H264, &packets);
    assert_eq!(frames[0].data, unit(&[&[0x67, 1], &[0x65, 3]]));
    assert_eq!(d.dropped(), 1);
}

fn packet(sequence: u16, timestamp: u32, marker: bool, payload: &[u8]) -> RtpPacket {
    let mut d = vec![0x80, u8::from(marker) << 7 | 96];
    d.extend_from_slice(&sequence.to_be_bytes());
    d.extend_from_slice(&timestamp.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 1]);
    d.extend_from_slice(payload);
    RtpPacket::parse(Bytes::from(d)).unwrap()
}

#[test]
fn stap_a_and_ap_are_unpacked() {
    let stap = [24, 0, 2, 0x67, 1, 0, 1, 0x68, 0, 3, 0x65, 8, 9];
    let (frames, d) = run(Format::H264, &[packet(1, 0, true, &stap)]);
    assert_eq!(frames[0].data, unit(&[&[0x67, 1], &[0x68], &[0x65, 8, 9]]));
    assert!(frames[0].key);
    assert_eq!(d.parameter_sets().len(), 2);

    let ap = [48 << 1, 1, 0, 3, 0x40, 1, 2, 0, 2, 0x2a, 1];
    let (frames, _) = run(Format::H265, &[packet(1, 0, true, &ap)]);
    assert_eq!(frames[0].data, unit(&[&[0x40, 1, 2], &[0x2a, 1]]));
    assert!(frames[0].key, "CRA (21) is IRAP");

    // A size past the end keeps what came before it and counts the rest.
    let (frames, d) = run(
        Format::H264,
        &[packet(1, 0, true, &[24, 0, 1, 0x41, 0, 9, 1])],
    );
    assert_eq!(frames[0].data, unit(&[&[0x41]]));
    assert_eq!(d.dropped(), 1);
}

#[test]
fn a_timestamp_change_ends_an_access_unit_without_a_marker() {
    let packets = [
        packet(1, 0, false, &[0x65, 1]),
        packet(2, 3000, false, &[0x41, 2]),
        packet(3, 3000, true, &[0x41, 3]),
    ];
    let (frames, _) = run(Format::H264, &packets);
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[1].data, unit(&[&[0x41, 2], &[0x41, 3]]));
}

#[test]
fn aac_several_per_packet_and_fragmented() {
    // Two AUs of 3 and 2 bytes in one packet.
    let payload = [0, 32, 0, 3 << 3, 0, 2 << 3, 1, 2, 3, 4, 5];
    let (frames, _) = run(Format::Aac, &[packet(1, 1000, true, &payload)]);
    assert_eq!(frames.len(), 2);
    assert_eq!(
        (&frames[0].data[..], frames[0].timestamp),
        (&[1, 2, 3][..], 1000)
    );
    assert_eq!(
        (&frames[1].data[..], frames[1].timestamp),
        (&[4, 5][..], 2024)
    );

    let au: Vec<u8> = (0..3000).map(|i| i as u8).collect();
    let mut p = Packetizer::new(Format::Aac, 97, 1, 1200);
    let packets = parse(&p.packetize(5, &au).unwrap());
    assert_eq!(packets.len(), 3);
    let (frames, d) = run(Format::Aac, &packets);
    assert_eq!((frames.len(), &frames[0].data[..]), (1, &au[..]));
    assert_eq!(d.dropped(), 0);

    let mut lossy = parse(&p.packetize(6, &au).unwrap());
    lossy.remove(1);
    lossy.extend(parse(&p.packetize(1030, &[1, 2]).unwrap()));
    let (frames, d) = run(Format::Aac, &lossy);
    assert_eq!(frames.len(), 1, "the cut AU dropped, the next kept");
    assert_eq!(&frames[0].data[..], &[1, 2]);
    assert_eq!(d.dropped(), 1);
}

#[test]
fn aac_in_latm_round_trips_across_packets_and_a_gap_drops_one_unit() {
    let mut p = Packetizer::new(Format::AacLatm, 97, 1, 1200);
    let units: Vec<Vec<u8>> = [10usize, 255, 300, 3000]
        .iter()
        .map(|n| (0..*n).map(|i| i as u8).collect())
        .collect();
    let mut packets = Vec::new();
    for (i, u) in units.iter().enumerate() {
        packets.extend(parse(&p.packetize(1024 * i as u32, u).unwrap()));
    }
    // 255 bytes take two length bytes (255, 0); 3000 take three packets.
    assert_eq!(packets.len(), 6);
    assert_eq!(&packets[1].payload[..2], &[255, 0]);
    let (frames, d) = run(Format::AacLatm, &packets);
    let got: Vec<&[u8]> = frames.iter().map(|f| &f.data[..]).collect();
    let want: Vec<&[u8]> = units.iter().map(|u| &u[..]).collect();
    assert_eq!(got, want);
    assert_eq!(frames[3].timestamp, 3072);
    assert_eq!(d.dropped(), 0);

    let mut lossy = parse(&p.packetize(9000, &units[3]).unwrap());
    lossy.remove(1);
    lossy.extend(parse(&p.packetize(10024, &units[0]).unwrap()));
    let (frames, d) = run(Format::AacLatm, &lossy);
    assert_eq!(frames.len(), 1, "the cut unit dropped, the next kept");
    assert_eq!(&frames[0].data[..], &units[0][..]);
    assert_eq!(d.dropped(), 1);
    // A length that runs past the element, or none at all: dropped, no panic.
    let (frames, d) = run(
        Format::AacLatm,
        &[packet(1, 0, true, &[200, 1, 2]), packet(2, 1, true, &[255])],
    );
    assert!(frames.is_empty());
    assert_eq!(d.dropped(), 2);
}

#[test]
fn opus_and_mpeg_audio_round_trip() {
    let mut p = Packetizer::new(Format::Opus, 111, 1, 1200);
    let packets = parse(&p.packetize(960, &[0xfc, 1, 2]).unwrap());
    let (frames, _) = run(Format::Opus, &packets);
    assert_eq!(&frames[0].data[..], &[0xfc, 1, 2]);

    let mut p = Packetizer::new(Format::Mpa, 14, 1, 300);
    let a: Vec<u8> = (0..1000).map(|i| i as u8).collect();
    let mut packets = p.packetize(0, &a).unwrap();
    packets.extend(p.packetize(2160, &[0xff, 0xfb, 1]).unwrap());
    let (frames, d) = run(Format::Mpa, &parse(&packets));
    assert_eq!(frames.len(), 2);
    assert_eq!(frames[0].data, a);
    assert_eq!(frames[1].timestamp, 2160);
    assert_eq!(d.dropped(), 0);

    let mut lossy = parse(&p.packetize(4320, &a).unwrap());
    lossy.remove(2);
    let (frames, d) = run(Format::Mpa, &lossy);
    assert!(frames.is_empty());
    assert_eq!(d.dropped(), 1);
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678u32;
    for format in [
        Format::H264,
        Format::H265,
        Format::Aac,
        Format::Opus,
        Format::Mpa,
    ] {
        let mut d = Depacketizer::new(format);
        for n in 0..2000u16 {
            let len = (n % 40) as usize;
            let payload: Vec<u8> = (0..len)
                .map(|_| {
                    seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (seed >> 16) as u8
                })
                .collect();
            d.push(&packet(n / 3, u32::from(n / 5), n % 7 == 0, &payload));
            while d.pull().is_some() {}
        }
        d.finish();
    }
}

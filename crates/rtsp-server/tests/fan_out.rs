//! The server's fan-out with scripted clients (deterministic edge cases; real players
//! are in the pipeline's `rtsp_listen` tests): a joiner starts at the last key frame and
//! RTP-Info names that packet; a client that reads nothing is dropped to key frames and
//! then disconnected, while a reading client gets every packet; a paused client gets
//! nothing until its next PLAY, which starts it at the last key frame.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rtp_media::MediaDescription;
use rtsp_server::{Server, Settings};

/// An RTP packet of `len` bytes with sequence number `seq` and timestamp `time`.
fn packet(seq: u16, time: u32, len: usize) -> Bytes {
    let mut p = vec![0u8; len];
    p[0] = 0x80;
    p[1] = 96;
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p[4..8].copy_from_slice(&time.to_be_bytes());
    Bytes::from(p)
}

/// Frame `n`'s packets: `per_frame` of 1 200 bytes, numbered on from `n * per_frame`.
fn frame(n: u16, per_frame: u16) -> Vec<Bytes> {
    (0..per_frame)
        .map(|i| packet(n * per_frame + i, u32::from(n) * 3600, 1200))
        .collect()
}

fn server(settings: Settings) -> (tokio::runtime::Runtime, Server) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let server = runtime.block_on(async { Server::bind("127.0.0.1:0", "cam", settings).unwrap() });
    let sps = [0x67, 0x42, 0xc0, 0x1e, 0x8c, 0x68, 0x14, 0x1f, 0x20];
    server.set_media(vec![MediaDescription::h264(
        0,
        96,
        &[&sps],
        &[&[0x68, 0xce, 0x3c, 0x80]],
    )]);
    (runtime, server)
}

/// Reads one answer (up to its blank line; no body in the answers read here).
fn answer(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut byte = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap() == 0 {
            break;
        }
        got.push(byte[0]);
    }
    String::from_utf8(got).unwrap()
}

/// SETUP over TCP and PLAY on `stream`: the PLAY answer.
fn play(stream: &mut TcpStream, url: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let setup = format!(
        "SETUP {url}/trackID=0 RTSP/1.0\r\nCSeq: 1\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n\r\n"
    );
    stream.write_all(setup.as_bytes()).unwrap();
    let setup = answer(stream);
    assert!(setup.starts_with("RTSP/1.0 200"), "{setup}");
    let session = setup
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let play = format!("PLAY {url} RTSP/1.0\r\nCSeq: 2\r\nSession: {session}\r\n\r\n");
    stream.write_all(play.as_bytes()).unwrap();
    answer(stream)
}

/// The next interleaved packet: (channel, sequence number); `None` at the end.
fn next_packet(stream: &mut TcpStream) -> Option<(u8, u16)> {
    let mut head = [0u8; 4];
    stream.read_exact(&mut head).ok()?;
    assert_eq!(head[0], b'$');
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([head[2], head[3]]))];
    stream.read_exact(&mut body).ok()?;
    Some((head[1], u16::from_be_bytes([body[2], body[3]])))
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(10), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_joiner_starts_at_the_last_key_frame_named_in_rtp_info() {
    let (_runtime, server) = server(Settings::default());
    // A key frame (frame 0) and four more, 3 packets each; then a client joins.
    for n in 0..5 {
        server.send(0, &frame(n, 3), n == 0);
    }
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    let answer = play(&mut client, &server.url());
    assert!(answer.starts_with("RTSP/1.0 200"), "{answer}");
    let info = format!(
        "RTP-Info: url={}/trackID=0;seq=0;rtptime=0\r\n",
        server.url()
    );
    assert!(answer.contains(&info), "{answer}");
    // The held frames, then the next key frame's and on: every packet in order.
    for n in 5..7 {
        server.send(0, &frame(n, 3), n == 5);
    }
    for seq in 0..21 {
        assert_eq!(next_packet(&mut client), Some((0, seq)));
    }
    // A report goes on the RTCP channel.
    server.send_report(0, Bytes::from_static(&[0x80, 200, 0, 6, 0, 0, 0, 0]));
    assert_eq!(next_packet(&mut client).map(|(c, _)| c), Some(1));
}

#[test]
fn a_client_that_reads_nothing_is_cut_off_and_the_reading_one_gets_every_packet() {
    let settings = {
        let mut s = Settings::default();
        s.queue_packets = 64;
        s.gop_packets = 32;
        s.stalled_after = Duration::from_millis(300);
        s
    };
    let (_runtime, server) = server(settings);
    server.send(0, &frame(0, 4), true);
    // The stalled client: a small receive buffer, and it never reads after PLAY.
    let stalled = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    stalled.set_recv_buffer_size(4096).unwrap();
    stalled.connect(&server.local_addr().into()).unwrap();
    let mut stalled: TcpStream = stalled.into();
    assert!(play(&mut stalled, &server.url()).starts_with("RTSP/1.0 200"));
    let mut reader = TcpStream::connect(server.local_addr()).unwrap();
    assert!(play(&mut reader, &server.url()).starts_with("RTSP/1.0 200"));
    wait_for("two clients", || server.clients() == 2);
    let counting = std::thread::spawn(move || {
        let mut seqs = Vec::new();
        while let Some((0, seq)) = next_packet(&mut reader) {
            seqs.push(seq);
        }
        seqs
    });
    // 3 MB at a steady pace (a key frame every 25 frames): far more than the stalled
    // client's buffers and queue hold.
    for n in 1..250 {
        server.send(0, &frame(n, 10), n % 25 == 0);
        std::thread::sleep(Duration::from_millis(2));
    }
    wait_for("the stalled client cut off", || server.clients() == 1);
    drop(server);
    let seqs = counting.join().unwrap();
    // The first frame's 4 packets (held for joiners) and every packet after them.
    let expected: Vec<u16> = (0..4).chain(10..2500).collect();
    assert_eq!(seqs.len(), expected.len());
    assert!(
        seqs == expected,
        "the reading client lost or reordered packets"
    );
}

#[test]
fn a_slow_reader_gets_every_packet_whole_and_in_order_through_partial_writes() {
    let (_runtime, server) = server(Settings::default());
    server.send(0, &frame(0, 4), true);
    // A small receive buffer and pauses in its reading: the server's writes are cut
    // anywhere (mid-header, mid-packet) and the rest waits in the client's queue.
    let slow = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow.set_recv_buffer_size(4096).unwrap();
    slow.connect(&server.local_addr().into()).unwrap();
    let mut slow: TcpStream = slow.into();
    assert!(play(&mut slow, &server.url()).starts_with("RTSP/1.0 200"));
    wait_for("the client", || server.clients() == 1);
    let reading = std::thread::spawn(move || {
        let mut seqs = Vec::new();
        while let Some((0, seq)) = next_packet(&mut slow) {
            seqs.push(seq);
            if seqs.len() % 50 == 0 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        seqs
    });
    // 600 KB in bursts, faster than it reads, less than its queue (8 192 packets) holds.
    for n in 1..50 {
        server.send(0, &frame(n, 10), false);
    }
    std::thread::sleep(Duration::from_millis(500));
    drop(server);
    let seqs = reading.join().unwrap();
    let expected: Vec<u16> = (0..4).chain(10..500).collect();
    assert!(seqs == expected, "got {} packets: {seqs:?}", seqs.len());
}

#[test]
fn idle_connections_are_bounded_and_a_player_over_the_limit_gets_503() {
    let settings = {
        let mut s = Settings::default();
        s.max_clients = 1;
        s
    };
    let (_runtime, server) = server(settings);
    server.send(0, &frame(0, 2), true);
    let mut player = TcpStream::connect(server.local_addr()).unwrap();
    assert!(play(&mut player, &server.url()).starts_with("RTSP/1.0 200"));
    // A second player: the one allowed plays already.
    let mut second = TcpStream::connect(server.local_addr()).unwrap();
    let refused = play(&mut second, &server.url());
    assert!(refused.starts_with("RTSP/1.0 503"), "{refused}");
    // Four connections per allowed client; the next is closed unanswered.
    let idle: Vec<_> = (0..2)
        .map(|_| TcpStream::connect(server.local_addr()).unwrap())
        .collect();
    let mut over = TcpStream::connect(server.local_addr()).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = over.write_all(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n");
    let mut buf = [0u8; 64];
    assert!(matches!(over.read(&mut buf), Ok(0) | Err(_)));
    drop(idle);
}

/// ANNOUNCE, SETUP of its one section over TCP and RECORD on `stream`: RECORD's answer.
fn publish(stream: &mut TcpStream, url: &str) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=audio 0 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\na=control:streamid=0\r\n";
    let announce = format!(
        "ANNOUNCE {url} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    stream.write_all(announce.as_bytes()).unwrap();
    assert!(answer(stream).starts_with("RTSP/1.0 200"));
    let setup = format!(
        "SETUP {url}/streamid=0 RTSP/1.0\r\nCSeq: 2\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1;mode=record\r\n\r\n"
    );
    stream.write_all(setup.as_bytes()).unwrap();
    let setup = answer(stream);
    let session = setup
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let record = format!("RECORD {url} RTSP/1.0\r\nCSeq: 3\r\nSession: {session}\r\n\r\n");
    stream.write_all(record.as_bytes()).unwrap();
    answer(stream)
}

#[test]
fn a_publisher_s_packets_come_out_and_a_second_publisher_gets_503() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (server, mut publishers) = runtime
        .block_on(async { Server::bind_ingest("127.0.0.1:0", "live", Settings::default()) })
        .unwrap();
    let mut first = TcpStream::connect(server.local_addr()).unwrap();
    assert!(publish(&mut first, &server.url()).starts_with("RTSP/1.0 200"));
    let mut taken = runtime.block_on(publishers.recv()).unwrap();
    publishers.close();
    assert_eq!(taken.channels, [(0, 0)]);
    assert!(taken.sdp.contains("opus/48000/2"));
    first.write_all(b"$\x00\x00\x04abcd").unwrap();
    let got = runtime.block_on(taken.packets.recv()).unwrap();
    assert_eq!(got, (0, Bytes::from_static(b"abcd")));
    let mut second = TcpStream::connect(server.local_addr()).unwrap();
    let refused = publish(&mut second, &server.url());
    assert!(refused.starts_with("RTSP/1.0 503"), "{refused}");
    // The first one's stream no longer taken: its connection is closed.
    drop(taken);
    let mut buf = [0u8; 16];
    first
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    assert!(matches!(first.read(&mut buf), Ok(0)));
}

#[test]
fn a_play_before_the_first_packet_waits_for_it_to_name_it() {
    let (_runtime, server) = server(Settings::default());
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    let answer = std::thread::scope(|scope| {
        scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            server.send(0, &frame(7, 2), true);
        });
        play(&mut client, &server.url())
    });
    let info = format!(
        "RTP-Info: url={}/trackID=0;seq=14;rtptime=25200\r\n",
        server.url()
    );
    assert!(answer.contains(&info), "{answer}");
    assert_eq!(next_packet(&mut client), Some((0, 14)));
}

/// Reads past interleaved packets to the next answer; the sequence numbers skipped.
fn answer_after_packets(stream: &mut TcpStream) -> (Vec<u16>, String) {
    let mut skipped = Vec::new();
    loop {
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).unwrap();
        if first[0] != b'$' {
            return (
                skipped,
                String::from_utf8(first.to_vec()).unwrap() + &answer(stream),
            );
        }
        let mut head = [0u8; 3];
        stream.read_exact(&mut head).unwrap();
        let mut body = vec![0u8; usize::from(u16::from_be_bytes([head[1], head[2]]))];
        stream.read_exact(&mut body).unwrap();
        skipped.push(u16::from_be_bytes([body[2], body[3]]));
    }
}

#[test]
fn a_paused_client_gets_nothing_until_it_plays_again_from_the_last_key_frame() {
    let (_runtime, server) = server(Settings::default());
    server.send(0, &frame(0, 3), true);
    let mut client = TcpStream::connect(server.local_addr()).unwrap();
    let answer = play(&mut client, &server.url());
    assert!(answer.starts_with("RTSP/1.0 200"), "{answer}");
    let session = answer
        .lines()
        .find_map(|l| l.strip_prefix("Session: "))
        .unwrap()
        .to_owned();
    server.send(0, &frame(1, 3), false);
    let url = server.url();
    let request = |method: &str, cseq: u32| {
        format!("{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nSession: {session}\r\n\r\n")
    };
    client.write_all(request("PAUSE", 3).as_bytes()).unwrap();
    // The packets queued before the PAUSE come first, whole and in order.
    let (before, paused) = answer_after_packets(&mut client);
    assert!(paused.starts_with("RTSP/1.0 200"), "{paused}");
    assert!(paused.contains("CSeq: 3\r\n"), "{paused}");
    assert_eq!(before, (0..6).collect::<Vec<_>>());
    // Paused: frames go by (a key frame among them), none reaches it.
    server.send(0, &frame(2, 3), false);
    server.send(0, &frame(3, 3), true);
    server.send(0, &frame(4, 3), false);
    client
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(client.read(&mut byte).is_err(), "a packet while paused");
    // PLAY again: it starts at the last key frame (frame 3), named in RTP-Info.
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    client.write_all(request("PLAY", 4).as_bytes()).unwrap();
    let (early, resumed) = answer_after_packets(&mut client);
    assert!(early.is_empty(), "{early:?}");
    assert!(resumed.starts_with("RTSP/1.0 200"), "{resumed}");
    let info = format!("RTP-Info: url={url}/trackID=0;seq=9;rtptime=10800\r\n");
    assert!(resumed.contains(&info), "{resumed}");
    server.send(0, &frame(5, 3), false);
    for seq in 9..18 {
        assert_eq!(next_packet(&mut client), Some((0, seq)));
    }
}

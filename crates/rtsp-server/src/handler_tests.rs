use super::*;

fn stream() -> Description {
    Description {
        path: "live/cam".into(),
        sdp: "v=0\r\n".into(),
        tracks: 2,
    }
}

fn request(text: &str) -> Request<Vec<u8>> {
    let text = text.replace('\n', "\r\n") + "\r\n";
    match rtsp_types::Message::<Vec<u8>>::parse(text.as_bytes()) {
        Ok((rtsp_types::Message::Request(r), _)) => r,
        other => panic!("{other:?}"),
    }
}

fn handler() -> Handler {
    Handler::new(
        "abc".into(),
        "127.0.0.1".parse().unwrap(),
        Some((6000, 6001)),
    )
}

fn header(reply: &Reply, name: &rtsp_types::HeaderName) -> String {
    reply
        .header(name)
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default()
}

#[test]
fn describe_answers_the_sdp_with_its_base_and_other_paths_404() {
    let mut h = handler();
    let (reply, action) = h.handle(
        &request("DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\nCSeq: 2\n"),
        Some(&stream()),
    );
    assert_eq!(reply.status(), StatusCode::Ok);
    assert_eq!(header(&reply, &headers::CSEQ), "2");
    assert_eq!(header(&reply, &headers::CONTENT_TYPE), "application/sdp");
    assert_eq!(
        header(&reply, &headers::CONTENT_BASE),
        "rtsp://127.0.0.1:8554/live/cam/"
    );
    assert_eq!(reply.body(), b"v=0\r\n");
    assert_eq!(action, None);
    let (reply, _) = h.handle(
        &request("DESCRIBE rtsp://127.0.0.1:8554/other RTSP/1.0\nCSeq: 3\n"),
        Some(&stream()),
    );
    assert_eq!(reply.status(), StatusCode::NotFound);
    // Before the tracks are known: 503, retry.
    let (reply, _) = h.handle(
        &request("DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\nCSeq: 4\n"),
        None,
    );
    assert_eq!(reply.status(), StatusCode::ServiceUnavailable);
    assert_eq!(header(&reply, &headers::RETRY_AFTER), "1");
}

#[test]
fn setup_over_tcp_and_udp_then_play_names_each_delivery() {
    let mut h = handler();
    let (reply, _) = h.handle(
        &request(
            "SETUP rtsp://127.0.0.1:8554/live/cam/trackID=0 RTSP/1.0\nCSeq: 3\n\
             Transport: RTP/AVP/TCP;unicast;interleaved=0-1\n",
        ),
        Some(&stream()),
    );
    assert_eq!(reply.status(), StatusCode::Ok);
    assert_eq!(
        header(&reply, &headers::TRANSPORT),
        "RTP/AVP/TCP;unicast;interleaved=0-1"
    );
    assert_eq!(header(&reply, &headers::SESSION), "abc;timeout=60");
    let (reply, _) = h.handle(
        &request(
            "SETUP rtsp://127.0.0.1:8554/live/cam/trackID=1 RTSP/1.0\nCSeq: 4\nSession: abc\n\
             Transport: RTP/AVP;unicast;client_port=5000-5001\n",
        ),
        Some(&stream()),
    );
    assert_eq!(
        header(&reply, &headers::TRANSPORT),
        "RTP/AVP;unicast;client_port=5000-5001;server_port=6000-6001"
    );
    let (reply, action) = h.handle(
        &request("PLAY rtsp://127.0.0.1:8554/live/cam/ RTSP/1.0\nCSeq: 5\nSession: abc\n"),
        Some(&stream()),
    );
    assert_eq!(reply.status(), StatusCode::Ok);
    let udp = |port| SocketAddr::new("127.0.0.1".parse().unwrap(), port);
    assert_eq!(
        action,
        Some(Action::Play(vec![
            (0, Delivery::Interleaved { rtp: 0, rtcp: 1 }),
            (
                1,
                Delivery::Udp {
                    rtp: udp(5000),
                    rtcp: udp(5001)
                }
            ),
        ]))
    );
}

#[test]
fn bad_setups_and_plays_get_their_status() {
    let mut h = handler();
    let setup = |path: &str, transport: &str| {
        request(&format!(
            "SETUP rtsp://h/{path} RTSP/1.0\nCSeq: 1\nTransport: {transport}\n"
        ))
    };
    let s = Some(stream());
    let tcp = "RTP/AVP/TCP;unicast;interleaved=0-1";
    for (path, transport, status) in [
        ("live/cam/trackID=2", tcp, StatusCode::NotFound),
        ("live/cam/trackID=x", tcp, StatusCode::NotFound),
        ("live/other/trackID=0", tcp, StatusCode::NotFound),
        ("live/cam", tcp, StatusCode::NotFound),
        (
            "live/cam/trackID=0",
            "RTP/AVP;multicast;port=5000-5001",
            StatusCode::UnsupportedTransport,
        ),
        (
            "live/cam/trackID=0",
            "RTP/SAVP;unicast;client_port=5000-5001",
            StatusCode::UnsupportedTransport,
        ),
    ] {
        let (reply, _) = h.handle(&setup(path, transport), s.as_ref());
        assert_eq!(reply.status(), status, "{path} {transport}");
    }
    // The first acceptable of several offered transports is taken.
    let (reply, _) = h.handle(
        &setup(
            "live/cam/trackID=0",
            "RTP/AVP;multicast, RTP/AVP/TCP;unicast;interleaved=4-5",
        ),
        s.as_ref(),
    );
    assert_eq!(
        header(&reply, &headers::TRANSPORT),
        "RTP/AVP/TCP;unicast;interleaved=4-5"
    );
    // PLAY with another session, or before any SETUP.
    let play = |session: &str| {
        request(&format!(
            "PLAY rtsp://h/live/cam RTSP/1.0\nCSeq: 9\nSession: {session}\n"
        ))
    };
    assert_eq!(
        h.handle(&play("other"), s.as_ref()).0.status(),
        StatusCode::SessionNotFound
    );
    let mut fresh = handler();
    assert_eq!(
        fresh.handle(&play("abc"), s.as_ref()).0.status(),
        StatusCode::MethodNotValidInThisState
    );
    // Methods not served: 501 with what is.
    let (reply, _) = h.handle(
        &request("RECORD rtsp://h/live/cam RTSP/1.0\nCSeq: 10\n"),
        s.as_ref(),
    );
    assert_eq!(reply.status(), StatusCode::NotImplemented);
    assert!(header(&reply, &headers::PUBLIC).contains("DESCRIBE"));
}

#[test]
fn a_udp_setup_without_server_ports_is_refused_and_teardown_ends() {
    let mut h = Handler::new("s".into(), "127.0.0.1".parse().unwrap(), None);
    let (reply, _) = h.handle(
        &request(
            "SETUP rtsp://h/live/cam/trackID=0 RTSP/1.0\nCSeq: 1\n\
             Transport: RTP/AVP;unicast;client_port=5000-5001\n",
        ),
        Some(&stream()),
    );
    assert_eq!(reply.status(), StatusCode::UnsupportedTransport);
    let (reply, action) = h.handle(
        &request("TEARDOWN rtsp://h/live/cam RTSP/1.0\nCSeq: 2\nSession: s\n"),
        Some(&stream()),
    );
    assert_eq!(reply.status(), StatusCode::Ok);
    assert_eq!(action, Some(Action::Teardown));
}

#[test]
fn with_a_password_every_request_but_options_is_challenged() {
    use base64::Engine as _;
    let mut h = handler();
    h.require_password("s3cret".into(), "n0nce".into());
    let s = Some(stream());
    let (reply, _) = h.handle(&request("OPTIONS * RTSP/1.0\nCSeq: 1\n"), s.as_ref());
    assert_eq!(reply.status(), StatusCode::Ok);
    let describe = "DESCRIBE rtsp://127.0.0.1:8554/live/cam RTSP/1.0\nCSeq: 2\n";
    let (reply, action) = h.handle(&request(describe), s.as_ref());
    assert_eq!(reply.status(), StatusCode::Unauthorized);
    assert_eq!(action, None);
    assert_eq!(
        header(&reply, &headers::WWW_AUTHENTICATE),
        "Digest realm=\"media-toolkit\", nonce=\"n0nce\", algorithm=MD5"
    );
    let basic = |pw: &str| {
        let proof = base64::engine::general_purpose::STANDARD.encode(format!("viewer:{pw}"));
        request(&format!("{describe}Authorization: Basic {proof}\n"))
    };
    assert_eq!(
        h.handle(&basic("s3cret"), s.as_ref()).0.status(),
        StatusCode::Ok
    );
    assert_eq!(
        h.handle(&basic("wrong"), s.as_ref()).0.status(),
        StatusCode::Unauthorized
    );
}

#[test]
fn a_publisher_announces_sets_up_over_tcp_and_records() {
    let mut h = handler();
    h.ingest("live/cam");
    let sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
               m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=control:streamid=0\r\n\
               m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/48000/2\r\na=control:streamid=1\r\n";
    // Written whole (`request` would turn the body's CRLFs into CR CR LF).
    let announce = |path: &str, body: &str| {
        let text = format!(
            "ANNOUNCE rtsp://h/{path} RTSP/1.0\r\nCSeq: 1\r\nContent-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        match rtsp_types::Message::<Vec<u8>>::parse(text.as_bytes()) {
            Ok((rtsp_types::Message::Request(r), _)) => r,
            other => panic!("{other:?}"),
        }
    };
    let status = |h: &mut Handler, r: &Request<Vec<u8>>| h.handle(r, None).0.status();
    // Playing is refused; a SETUP or RECORD before the ANNOUNCE, another path, junk SDP.
    let describe = request("DESCRIBE rtsp://h/live/cam RTSP/1.0\nCSeq: 1\n");
    assert_eq!(
        status(&mut h, &describe),
        StatusCode::MethodNotValidInThisState
    );
    let setup = |n: u8, transport: &str| {
        request(&format!(
            "SETUP rtsp://h/live/cam/streamid={n} RTSP/1.0\nCSeq: 2\nTransport: {transport}\n"
        ))
    };
    let tcp = |n: u8| {
        format!(
            "RTP/AVP/TCP;unicast;interleaved={}-{};mode=record",
            2 * n,
            2 * n + 1
        )
    };
    assert_eq!(
        status(&mut h, &setup(0, &tcp(0))),
        StatusCode::MethodNotValidInThisState
    );
    assert_eq!(
        status(&mut h, &announce("other", sdp)),
        StatusCode::NotFound
    );
    assert_eq!(
        status(&mut h, &announce("live/cam", "junk")),
        StatusCode::BadRequest
    );
    assert_eq!(status(&mut h, &announce("live/cam", sdp)), StatusCode::Ok);
    // UDP is not taken (a publisher goes on over TCP); a section that is not there.
    let udp = "RTP/AVP;unicast;client_port=5000-5001;mode=record";
    assert_eq!(
        status(&mut h, &setup(0, udp)),
        StatusCode::UnsupportedTransport
    );
    assert_eq!(status(&mut h, &setup(7, &tcp(0))), StatusCode::NotFound);
    let (reply, _) = h.handle(&setup(0, &tcp(0)), None);
    assert_eq!(
        header(&reply, &headers::TRANSPORT),
        "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"
    );
    assert_eq!(status(&mut h, &setup(1, &tcp(1))), StatusCode::Ok);
    let record = |session: &str| {
        request(&format!(
            "RECORD rtsp://h/live/cam RTSP/1.0\nCSeq: 3\nSession: {session}\n"
        ))
    };
    assert_eq!(
        status(&mut h, &record("other")),
        StatusCode::SessionNotFound
    );
    let (reply, action) = h.handle(&record("abc"), None);
    assert_eq!(reply.status(), StatusCode::Ok);
    assert_eq!(
        action,
        Some(Action::Record {
            sdp: sdp.into(),
            channels: vec![(0, 0), (2, 1)]
        })
    );
}

#[test]
fn pause_stops_a_session_that_set_up_and_play_starts_it_again() {
    let mut h = handler();
    let s = Some(stream());
    let (reply, _) = h.handle(
        &request("OPTIONS rtsp://h/live/cam RTSP/1.0\nCSeq: 1\n"),
        s.as_ref(),
    );
    assert!(header(&reply, &headers::PUBLIC).contains("PAUSE"));
    // Nothing set up, or another session: refused.
    let pause = |cseq: u32, session: &str| {
        request(&format!(
            "PAUSE rtsp://h/live/cam RTSP/1.0\nCSeq: {cseq}\nSession: {session}\n"
        ))
    };
    let (reply, action) = h.handle(&pause(2, "abc"), s.as_ref());
    assert_eq!(reply.status(), StatusCode::MethodNotValidInThisState);
    assert_eq!(action, None);
    h.handle(
        &request(
            "SETUP rtsp://h/live/cam/trackID=0 RTSP/1.0\nCSeq: 3\n\
             Transport: RTP/AVP/TCP;unicast;interleaved=0-1\n",
        ),
        s.as_ref(),
    );
    let (reply, action) = h.handle(&pause(4, "other"), s.as_ref());
    assert_eq!(reply.status(), StatusCode::SessionNotFound);
    assert_eq!(action, None);
    let (reply, action) = h.handle(&pause(5, "abc"), s.as_ref());
    assert_eq!(reply.status(), StatusCode::Ok);
    assert_eq!(header(&reply, &headers::SESSION), "abc");
    assert_eq!(action, Some(Action::Pause));
    let (reply, action) = h.handle(
        &request("PLAY rtsp://h/live/cam RTSP/1.0\nCSeq: 6\nSession: abc\n"),
        s.as_ref(),
    );
    assert_eq!(reply.status(), StatusCode::Ok);
    let tcp = Delivery::Interleaved { rtp: 0, rtcp: 1 };
    assert_eq!(action, Some(Action::Play(vec![(0, tcp)])));
}

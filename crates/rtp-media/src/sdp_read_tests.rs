use super::*;

const FFMPEG_H264_AAC: &str = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nt=0 0\r\n\
a=tool:libavformat LIBAVFORMAT_VERSION\r\nm=video 40000 RTP/AVP 96\r\n\
c=IN IP4 127.0.0.1\r\nb=AS:59\r\na=rtpmap:96 H264/90000\r\n\
a=fmtp:96 packetization-mode=1; sprop-parameter-sets=Z/QADZGbKCg/YCIAAAMAAgAAAwBkHihTLA==,aOvjxEhE; profile-level-id=F4000D\r\n\
m=audio 40002 RTP/AVP 97\r\nc=IN IP4 127.0.0.1\r\nb=AS:69\r\n\
a=rtpmap:97 MPEG4-GENERIC/48000/1\r\n\
a=fmtp:97 profile-level-id=1;mode=AAC-hbr;sizelength=13;indexlength=3;indexdeltalength=3; config=118856E500\r\n";

const FFMPEG_H265_OPUS: &str = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=No Name\nt=0 0\n\
m=video 40000 RTP/AVP 96\nc=IN IP6 ::1\na=rtpmap:96 H265/90000\n\
a=fmtp:96 sprop-vps=QAEMAf//BAgAAAMAnggAAAMAADyVmAk=; sprop-sps=QgEBBAgAAAMAnggAAAMAADyQAUEB4ssrNJJleAtwICAAQAAAAwBAAAAGQg==; sprop-pps=RAHBcoYMRiQ=\n\
m=audio 40002 RTP/AVP 97\nc=IN IP6 ::1\na=rtpmap:97 opus/48000/2\n";

#[test]
fn reads_what_ffmpeg_writes() {
    let s = Session::parse(FFMPEG_H264_AAC).unwrap();
    assert_eq!(s.name, "No Name");
    assert_eq!(s.media.len(), 2);
    let (v, a) = (&s.media[0], &s.media[1]);
    assert_eq!((v.media, v.port, v.payload_type), ("video", 40000, 96));
    assert_eq!(v.address.as_deref(), Some("127.0.0.1"));
    assert_eq!(v.format(), Some(Format::H264));
    assert_eq!(v.clock_rate(), Some(90_000));
    let sets = v.parameter_sets();
    assert_eq!(sets.len(), 2);
    assert_eq!((sets[0][0], sets[1][0]), (0x67, 0x68));
    assert_eq!(v.parameter("profile-level-id"), Some("F4000D"));
    assert_eq!(a.format(), Some(Format::Aac));
    assert_eq!((a.clock_rate(), a.channels()), (Some(48_000), 1));
    assert_eq!(a.parameter("SizeLength"), Some("13"));
    assert_eq!(
        a.audio_specific_config(),
        Some(vec![0x11, 0x88, 0x56, 0xe5, 0x00])
    );

    let s = Session::parse(FFMPEG_H265_OPUS).unwrap();
    let (v, a) = (&s.media[0], &s.media[1]);
    assert_eq!(v.address.as_deref(), Some("::1"));
    assert_eq!(v.format(), Some(Format::H265));
    let kinds: Vec<u8> = v.parameter_sets().iter().map(|s| s[0] >> 1).collect();
    assert_eq!(kinds, [32, 33, 34]);
    assert_eq!((a.format(), a.channels()), (Some(Format::Opus), 2));
}

#[test]
fn reads_what_we_write() {
    let sps: &[u8] = &[0x67, 0x64, 0x00, 0x1f, 0xac];
    let pps: &[u8] = &[0x68, 0xee, 0x3c, 0x80];
    let written = Session::new(
        "::1",
        "round trip",
        vec![
            MediaDescription::h264(5004, 96, &[sps], &[pps]),
            MediaDescription::aac(5006, 97, 44_100, 2, &[0x12, 0x10]),
            MediaDescription::opus(5008, 98, 2),
            MediaDescription::mpa(5010),
        ],
    );
    let read = Session::parse(&written.to_string()).unwrap();
    assert_eq!(read, written);
    assert_eq!(read.media[0].parameter_sets(), [sps.to_vec(), pps.to_vec()]);
    assert_eq!(
        read.media[1].audio_specific_config(),
        Some(vec![0x12, 0x10])
    );
    assert_eq!(read.media[3].format(), Some(Format::Mpa));
}

#[test]
fn static_types_other_media_and_errors() {
    let s = Session::parse(
        "v=0\nc=IN IP4 239.1.1.1/64\nm=application 9 RTP/AVP 100\nm=audio 5000 RTP/AVP 14\n",
    )
    .unwrap();
    assert_eq!(s.address, "239.1.1.1");
    assert_eq!(s.media.len(), 1);
    assert_eq!(s.media[0].format(), Some(Format::Mpa));
    assert_eq!(s.media[0].address, None);

    for bad in [
        "m=video 5000 RTP/AVP 96\na=rtpmap:96 H264/90000\n", // no c=
        "c=IN IP4 1.2.3.4\nm=video 5000 RTP/AVP 96\n",       // no rtpmap
        "c=IN IP4 nonsense\n",
        "c=IN IP6 1.2.3.4\n",
        "c=IN IP4 1.2.3.4\nm=video x RTP/AVP 96\n",
        "c=IN IP4 1.2.3.4\nm=video 5000 RTP/AVP 200\n",
    ] {
        assert!(Session::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn latm_s_audio_specific_config_comes_out_of_its_stream_mux_config() {
    // GStreamer's rtpmp4apay for AAC-LC, 48 kHz, stereo.
    let text = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
                m=audio 0 RTP/AVP 96\r\na=rtpmap:96 MP4A-LATM/48000/2\r\n\
                a=fmtp:96 cpresent=0;config=400023203fc0\r\na=control:stream=1\r\n";
    let session = Session::parse(text).unwrap();
    let m = &session.media[0];
    assert_eq!(m.format(), Some(Format::AacLatm));
    assert_eq!(m.audio_specific_config(), Some(vec![0x11, 0x90]));
    assert_eq!(m.control.as_deref(), Some("stream=1"));
    // audioMuxVersion 1 is not read; a cut config is none.
    let other = text.replace("400023203fc0", "c00023203fc0");
    let m = &Session::parse(&other).unwrap().media[0];
    assert_eq!(m.audio_specific_config(), None);
    let cut = text.replace("400023203fc0", "4000");
    let m = &Session::parse(&cut).unwrap().media[0];
    assert_eq!(m.audio_specific_config(), None);
}

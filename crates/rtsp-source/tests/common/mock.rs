//! An in-process scripted RTSP server: a tokio `TcpListener` answering canned RTSP/1.0
//! (RFC 2326) and sending interleaved RTP (section 10.12), for deterministic edge cases.
#![allow(clippy::unwrap_used, dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// SPS/PPS of a 64x64 H.264 baseline stream (made with ffmpeg's libx264).
pub const SPROP: &str = "Z0LACtkEJsBEAAADAAQAAAMACDxImSA=,aMuDyyA=";

pub fn sdp(video: bool, audio: bool) -> String {
    let mut s = String::from(
        "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=scripted\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\na=tool:scripted\r\na=control:*\r\n",
    );
    if video {
        s += &format!(
            "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1;profile-level-id=42C00A;sprop-parameter-sets={SPROP}\r\na=control:stream=0\r\n"
        );
    }
    if audio {
        s += "m=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\na=control:stream=1\r\n";
    }
    s
}

/// What happens after PLAY.
#[derive(Clone, Copy, PartialEq)]
pub enum Then {
    Close,
    Hang,
}

#[derive(Clone)]
pub struct Script {
    /// Expected `Authorization` value; others get 401.
    pub auth: Option<String>,
    pub sdp: String,
    /// Session id per SETUP (the last one repeats).
    pub session_ids: Vec<&'static str>,
    /// Interleaved frames (`$` + channel + length + RTP) sent after the PLAY response.
    pub packets: Vec<Vec<u8>>,
    pub then: Then,
    /// Accept, read, never answer.
    pub stall: bool,
    /// How long the server takes to answer `TEARDOWN` (it logs "TEARDOWN answered").
    pub teardown_delay: Duration,
    /// `RTP-Info` value of the PLAY response (RFC 2326 section 12.33); `{base}` stands for
    /// the Content-Base (`rtsp://ADDR/cam/`).
    pub rtp_info: Option<String>,
}

impl Script {
    pub fn audio(packets: Vec<Vec<u8>>, then: Then) -> Self {
        Script {
            auth: None,
            sdp: sdp(false, true),
            session_ids: vec!["12345678"],
            packets,
            then,
            stall: false,
            teardown_delay: Duration::ZERO,
            rtp_info: None,
        }
    }
}

pub struct Mock {
    pub addr: SocketAddr,
    /// Every request: first line and headers.
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Mock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mock {
    pub async fn start(script: Script) -> Mock {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = requests.clone();
        let task = tokio::spawn(async move {
            let mut conns = Vec::new();
            loop {
                let Ok((conn, _)) = listener.accept().await else {
                    return;
                };
                conns.push(tokio::spawn(serve(conn, script.clone(), addr, log.clone())));
            }
        });
        Mock {
            addr,
            requests,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("rtsp://127.0.0.1:{}/cam", self.addr.port())
    }

    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Reads one request (skipping interleaved data the client may send); `None` at EOF.
async fn read_request(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
    loop {
        if buf.first() == Some(&b'$') && buf.len() >= 4 {
            let len = 4 + usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            if buf.len() >= len {
                buf.drain(..len);
                continue;
            }
        } else if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).into_owned();
            buf.drain(..end + 4);
            return Some(head);
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

async fn serve(
    mut conn: TcpStream,
    script: Script,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
) {
    let mut buf = Vec::new();
    let mut setups = 0;
    while let Some(head) = read_request(&mut conn, &mut buf).await {
        log.lock().unwrap().push(head.clone());
        if script.stall {
            std::future::pending::<()>().await;
        }
        let method = head.split(' ').next().unwrap_or("").to_owned();
        let cseq = header(&head, "CSeq").unwrap_or("0").to_owned();
        let mut extra = String::new();
        let mut body = String::new();
        let mut status = "200 OK";
        let authorized = script
            .auth
            .as_deref()
            .is_none_or(|want| header(&head, "Authorization") == Some(want));
        if !authorized {
            status = "401 Unauthorized";
            extra += "WWW-Authenticate: Basic realm=\"scripted\"\r\n";
        } else {
            match method.as_str() {
                "OPTIONS" => {
                    extra += "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER\r\n"
                }
                "DESCRIBE" => {
                    extra += &format!(
                        "Content-Base: rtsp://{addr}/cam/\r\nContent-Type: application/sdp\r\n"
                    );
                    body = script.sdp.clone();
                }
                "SETUP" => {
                    let id = script.session_ids[setups.min(script.session_ids.len() - 1)];
                    setups += 1;
                    let transport = header(&head, "Transport").unwrap_or("");
                    let channels = transport
                        .split(';')
                        .find_map(|p| p.strip_prefix("interleaved="))
                        .unwrap_or("0-1");
                    extra += &format!(
                        "Transport: RTP/AVP/TCP;unicast;interleaved={channels}\r\nSession: {id};timeout=60\r\n"
                    );
                }
                "PLAY" => {
                    extra += &format!("Session: {}\r\n", script.session_ids[0]);
                    if let Some(info) = &script.rtp_info {
                        let info = info.replace("{base}", &format!("rtsp://{addr}/cam/"));
                        extra += &format!("RTP-Info: {info}\r\n");
                    }
                }
                "TEARDOWN" => {
                    tokio::time::sleep(script.teardown_delay).await;
                    log.lock().unwrap().push("TEARDOWN answered".into());
                }
                _ => {}
            }
        }
        let response = format!(
            "RTSP/1.0 {status}\r\nCSeq: {cseq}\r\nServer: scripted\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if conn.write_all(response.as_bytes()).await.is_err() {
            return;
        }
        if authorized && method == "PLAY" {
            for p in &script.packets {
                if conn.write_all(p).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            if script.then == Then::Close {
                return; // dropping the socket closes it: EOF mid-stream
            }
        }
    }
}

/// An RTP packet (RFC 3550 section 5.1) wrapped for interleaving on `channel`.
pub fn rtp(channel: u8, pt: u8, seq: u16, ts: u32, marker: bool, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, (u8::from(marker) << 7) | pt];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ts.to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(payload);
    let mut framed = vec![b'$', channel];
    framed.extend_from_slice(&(p.len() as u16).to_be_bytes());
    framed.extend_from_slice(&p);
    framed
}

/// `n` A-law packets of 20 ms (160 samples) on `channel`, sequence numbers from `seqs`.
pub fn pcma(channel: u8, seqs: impl IntoIterator<Item = u16>) -> Vec<Vec<u8>> {
    seqs.into_iter()
        .map(|seq| rtp(channel, 8, seq, u32::from(seq) * 160, true, &[0xd5; 160]))
        .collect()
}

/// One H.264 access unit as a single NAL unit packet: IDR (type 5) or non-IDR (type 1).
/// An RTCP sender report (RFC 3550 section 6.4.1) from `ssrc`, interleaved on `channel`.
pub fn rtcp_sr(channel: u8, ssrc: u32, rtp_ts: u32) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0, 6];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&0xe000_0000_0000_0000u64.to_be_bytes()); // NTP time
    p.extend_from_slice(&rtp_ts.to_be_bytes());
    p.extend_from_slice(&[0; 8]); // packet and octet counts
    let mut framed = vec![b'$', channel];
    framed.extend_from_slice(&(p.len() as u16).to_be_bytes());
    framed.extend_from_slice(&p);
    framed
}

/// Single NAL unit packets for one access unit: the marker on the last.
pub fn h264_nals(channel: u8, first_seq: u16, frame: u32, nals: &[&[u8]]) -> Vec<Vec<u8>> {
    nals.iter()
        .enumerate()
        .map(|(i, nal)| {
            let seq = first_seq.wrapping_add(i as u16);
            rtp(channel, 96, seq, frame * 6000, i + 1 == nals.len(), nal)
        })
        .collect()
}

pub fn h264(channel: u8, seq: u16, frame: u32, idr: bool) -> Vec<u8> {
    let nal: &[u8] = if idr {
        &[0x65, 0x88, 0x84, 0x00, 0x33, 0xff]
    } else {
        &[0x41, 0x9a, 0x02, 0x04, 0x00, 0x10]
    };
    rtp(channel, 96, seq, frame * 6000, true, nal)
}

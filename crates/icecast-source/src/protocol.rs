//! The wire protocol, sans-I/O: request heads to send, answer heads to read.
//!
//! - Source: `PUT /mount HTTP/1.1` with `Expect: 100-continue`, Basic auth (RFC 7617), the
//!   content type and `ice-*` headers; no `Content-Length` and no chunked encoding (Icecast
//!   2.4 `NEWS`: "PUT … doesn't support chunked encoding"). Icecast 2.4.4 answers
//!   `HTTP/1.1 100 Continue` and at once `HTTP/1.0 200 OK` without waiting for the body;
//!   then raw frames follow for as long as the source streams. Servers older than 2.4 know
//!   only `SOURCE /mount HTTP/1.0` (libshout's `proto_http.c`), tried once after a PUT
//!   answered 400/405/501 or not at all.
//! - Header order as libshout's `shout_create_http_request_source`: request line,
//!   `Host`, `Authorization`, `User-Agent`, `Content-Type`, `ice-public`, `ice-<key>`,
//!   `ice-audio-info: k=v;k=v`, `Expect`.
//! - Title: `GET /admin/metadata?mode=updinfo&charset=UTF-8&mount=…&song=…` (Icecast 2.4
//!   `admin.c`, `command_metadata`) on a separate connection with the source credentials;
//!   `charset=UTF-8` keeps non-ASCII titles intact (libshout's legacy call omits it and
//!   Icecast then assumes Latin-1). Success is `200` with `<return>1</return>`.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{IcecastConfig, IcecastRefusal};

/// Largest answer head or error body read; Icecast's are a few hundred bytes.
pub const MAX_ANSWER: usize = 16 * 1024;

/// The HTTP method of a source connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `PUT … HTTP/1.1` with `Expect: 100-continue` (Icecast ≥ 2.4).
    Put,
    /// `SOURCE … HTTP/1.0` (older servers).
    Source,
}

impl Method {
    /// `PUT` or `SOURCE`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Put => "PUT",
            Method::Source => "SOURCE",
        }
    }
}

/// The request head that opens a source connection.
pub fn source_request(config: &IcecastConfig, method: Method) -> String {
    let (version, expect) = match method {
        Method::Put => ("HTTP/1.1", "Expect: 100-continue\r\n"),
        Method::Source => ("HTTP/1.0", ""),
    };
    let info = &config.info;
    let mut r = format!(
        "{method} {mount} {version}\r\nHost: {address}\r\nAuthorization: {auth}\r\nUser-Agent: {agent}\r\n\
         Content-Type: {content_type}\r\nice-public: {public}\r\n",
        method = method.as_str(),
        mount = header_value(&config.mount),
        address = config.address(),
        auth = config.basic_auth(),
        agent = header_value(&config.user_agent),
        content_type = config.content_type,
        public = u8::from(info.public),
    );
    for (key, value) in [
        ("name", &info.name),
        ("description", &info.description),
        ("genre", &info.genre),
        ("url", &info.url),
    ] {
        if let Some(value) = value {
            r += &format!("ice-{key}: {}\r\n", header_value(value));
        }
    }
    let audio: Vec<String> = [
        ("bitrate", info.bitrate_kbps),
        ("samplerate", info.sample_rate),
        ("channels", info.channels.map(u32::from)),
    ]
    .into_iter()
    .filter_map(|(k, v)| Some(format!("{k}={}", v?)))
    .collect();
    if !audio.is_empty() {
        r += &format!("ice-audio-info: {}\r\n", audio.join(";"));
    }
    r += expect;
    r += "\r\n";
    r
}

/// The request that sets the stream title (HTTP/1.0: the server closes after answering).
pub fn title_request(config: &IcecastConfig, title: &str) -> String {
    format!(
        "GET /admin/metadata?mode=updinfo&charset=UTF-8&mount={}&song={} HTTP/1.0\r\nHost: {}\r\n\
         Authorization: {}\r\nUser-Agent: {}\r\n\r\n",
        utf8_percent_encode(&config.mount, NON_ALPHANUMERIC),
        utf8_percent_encode(title, NON_ALPHANUMERIC),
        config.address(),
        config.basic_auth(),
        header_value(&config.user_agent)
    )
}

/// A header value without line breaks (a title or name must not inject headers).
fn header_value(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An answer head: its status, and how many bytes of the buffer it took (blank line
/// included); what follows is body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AnswerHead {
    /// The HTTP status code.
    pub status: u16,
    /// Bytes of the head, `\r\n\r\n` included.
    pub len: usize,
}

/// Reads an answer head from the bytes received so far: `Ok(None)` while the blank line
/// has not arrived (and the head is below [`MAX_ANSWER`]).
pub fn parse_answer_head(buf: &[u8]) -> Result<Option<AnswerHead>, IcecastRefusal> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_ANSWER {
            Err(IcecastRefusal::Protocol("answer head too long".into()))
        } else {
            Ok(None)
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let line = head.lines().next().unwrap_or("");
    let mut words = line.split_whitespace();
    let status = match (words.next(), words.next()) {
        (Some(version), Some(code)) if version.starts_with("HTTP/") || version == "ICY" => {
            code.parse().ok()
        }
        _ => None,
    };
    match status {
        Some(status) => Ok(Some(AnswerHead {
            status,
            len: end + 4,
        })),
        None => Err(IcecastRefusal::Protocol(format!(
            "not an HTTP status line: {}",
            quote(line.as_bytes())
        ))),
    }
}

/// At most this many bytes of a garbled answer are quoted in a message: enough to
/// recognise what answered (an SSH banner, another protocol), short enough for one line.
const QUOTED_BYTES: usize = 40;

/// `"SSH-2.0-OpenSSH_9.6\r\n"`, or the first [`QUOTED_BYTES`] bytes and `…`.
pub(crate) fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(QUOTED_BYTES)];
    let more = if bytes.len() > shown.len() { "…" } else { "" };
    format!(
        "\"{}\"{more}",
        String::from_utf8_lossy(shown).escape_debug()
    )
}

/// Reads the whole answer to a title update (the server closed after it).
pub fn parse_title_answer(answer: &[u8]) -> Result<(), IcecastRefusal> {
    let head = match parse_answer_head(answer) {
        Ok(Some(head)) => head,
        Ok(None) if answer.is_empty() => {
            return Err(IcecastRefusal::Protocol(
                "no HTTP answer to the metadata update".into(),
            ));
        }
        Ok(None) => {
            return Err(IcecastRefusal::Protocol(format!(
                "answer cut short after {} bytes: {}",
                answer.len(),
                quote(answer)
            )));
        }
        Err(e) => return Err(e),
    };
    let body = String::from_utf8_lossy(&answer[head.len..]);
    if head.status == 200 && body.contains("<return>1</return>") {
        Ok(())
    } else {
        // A 200 whose XML says no is a server-side failure.
        let status = if head.status == 200 { 500 } else { head.status };
        Err(IcecastRefusal::from_answer(status, &body))
    }
}

/// Whether a refused PUT says "I do not know PUT" (pre-2.4 servers), so SOURCE is worth a
/// try.
pub fn means_no_put(refusal: &IcecastRefusal) -> bool {
    match refusal {
        IcecastRefusal::Status { status, .. } => matches!(status, 400 | 405 | 501),
        IcecastRefusal::Protocol(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContentType;

    #[test]
    fn put_request_has_the_headers_icecast_needs_and_no_length() {
        let mut c = IcecastConfig::from_url("icecast://source:hackme@127.0.0.1:8000/live").unwrap();
        c.info.name = Some("Name\r\nX-Injected: 1".into());
        c.info.bitrate_kbps = Some(128);
        c.info.sample_rate = Some(44100);
        c.info.channels = Some(2);
        let r = source_request(&c, Method::Put);
        assert!(r.starts_with("PUT /live HTTP/1.1\r\n"), "{r}");
        for h in [
            "Authorization: Basic c291cmNlOmhhY2ttZQ==",
            "Content-Type: audio/mpeg",
            "ice-public: 0",
            "Expect: 100-continue",
        ] {
            assert!(r.contains(&format!("{h}\r\n")), "{h} missing in {r}");
        }
        assert!(r.contains("ice-audio-info: bitrate=128;samplerate=44100;channels=2\r\n"));
        assert!(!r.contains("Content-Length") && !r.contains("chunked"));
        assert!(!r.contains("\r\nX-Injected"), "header injection: {r}");
        assert!(r.ends_with("\r\n\r\n"));
        assert!(source_request(&c, Method::Source).starts_with("SOURCE /live HTTP/1.0\r\n"));
        let aac = c.with_content_type(ContentType::Aac);
        assert!(source_request(&aac, Method::Put).contains("Content-Type: audio/aac\r\n"));
    }

    #[test]
    fn answers_are_read_in_pieces() {
        let both = b"HTTP/1.1 100 Continue\r\nContent-Length: 0\r\n\r\nHTTP/1.0 200 OK\r\n\r\n";
        assert_eq!(parse_answer_head(&both[..10]), Ok(None));
        let first = parse_answer_head(both).unwrap().unwrap();
        assert_eq!(first.status, 100);
        let second = parse_answer_head(&both[first.len..]).unwrap().unwrap();
        assert_eq!((second.status, first.len + second.len), (200, both.len()));
        assert!(parse_answer_head(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
        assert!(parse_answer_head(&[b'x'; MAX_ANSWER + 1]).is_err());
    }

    #[test]
    fn title_request_is_utf8_and_answer_needs_return_1() {
        let c = IcecastConfig::from_url("icecast://source:pw@h:1/live").unwrap();
        let r = title_request(&c, "Ä & B");
        assert!(
            r.starts_with(
                "GET /admin/metadata?mode=updinfo&charset=UTF-8&mount=%2Flive&song=%C3%84%20%26%20B HTTP/1.0\r\n"
            ),
            "{r}"
        );
        assert_eq!(
            parse_title_answer(b"HTTP/1.0 200 OK\r\n\r\n<iceresponse><return>1</return>"),
            Ok(())
        );
        assert_eq!(
            parse_title_answer(b"HTTP/1.0 401 Authentication Required\r\n\r\nYou need to"),
            Err(IcecastRefusal::WrongCredentials)
        );
        assert!(parse_title_answer(b"").is_err());
    }
}

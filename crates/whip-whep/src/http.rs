//! The HTTP/1.1 side of WHEP and WHIP (RFC 9725 §4, draft-ietf-wish-whep), sans-I/O:
//! a request head and body from bytes ([`Request::parse`]), the route it asks for
//! ([`Route`]), and a response to bytes ([`Response::to_bytes`]). One request per
//! connection (`Connection: close`): signalling is a handful of requests per session.

/// Largest request head and body we read (an SDP offer is a few KiB).
pub const MAX_REQUEST: usize = 64 * 1024;

/// A parsed request ([`Request::parse`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The `Content-Type` header, lower case, without parameters.
    pub content_type: Option<String>,
    /// The bearer token of the `Authorization` header.
    pub bearer: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// What parsing the bytes read so far gave.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Parsed {
    /// A whole request.
    Complete(Request),
    /// Read more bytes.
    Partial,
    /// Not HTTP, or too large: answer with this status and close.
    Invalid(u16, &'static str),
}

impl Request {
    /// Parses a request from the bytes read so far.
    pub fn parse(buf: &[u8]) -> Parsed {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(buf) {
            Ok(httparse::Status::Complete(n)) => n,
            Ok(httparse::Status::Partial) if buf.len() >= MAX_REQUEST => {
                return Parsed::Invalid(431, "request head too large");
            }
            Ok(httparse::Status::Partial) => return Parsed::Partial,
            Err(_) => return Parsed::Invalid(400, "not an HTTP/1.1 request"),
        };
        let mut content_length = 0usize;
        let mut content_type = None;
        let mut bearer = None;
        for h in req.headers.iter() {
            let value = String::from_utf8_lossy(h.value);
            if h.name.eq_ignore_ascii_case("content-length") {
                match value.trim().parse() {
                    Ok(n) => content_length = n,
                    Err(_) => return Parsed::Invalid(400, "bad Content-Length"),
                }
            } else if h.name.eq_ignore_ascii_case("content-type") {
                let kind = value
                    .split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase();
                content_type = Some(kind);
            } else if h.name.eq_ignore_ascii_case("authorization") {
                // `get`, not slicing: the value may hold any bytes (lossily decoded), and
                // byte 7 need not be a character boundary.
                let v = value.trim();
                if let (Some(scheme), Some(token)) = (v.get(..7), v.get(7..))
                    && scheme.eq_ignore_ascii_case("bearer ")
                    && !token.is_empty()
                {
                    bearer = Some(token.trim().to_owned());
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                return Parsed::Invalid(411, "chunked bodies are not taken: send Content-Length");
            }
        }
        if head_len.saturating_add(content_length) > MAX_REQUEST {
            return Parsed::Invalid(413, "request body too large");
        }
        if buf.len() < head_len + content_length {
            return Parsed::Partial;
        }
        let path = req.path.unwrap_or("/");
        let path = path.split(['?', '#']).next().unwrap_or("/").to_owned();
        Parsed::Complete(Request {
            method: req.method.unwrap_or("").to_owned(),
            path,
            content_type,
            bearer,
            body: buf[head_len..head_len + content_length].to_vec(),
        })
    }
}

/// What a request asks of a server mounted at `base` (`/cam`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// `GET base` or `base/`: the player or publisher page.
    Page,
    /// `POST base/whep` (or `/whip`): a new session from an SDP offer.
    Offer,
    /// A request on a session resource `base/whep/ID`: `DELETE` ends it, `PATCH` is
    /// trickle ICE.
    Session(String),
    /// `OPTIONS` on the endpoint (CORS preflight, or asking what is accepted).
    Options,
    /// Nothing here.
    NotFound,
    /// The method does not apply to that resource.
    MethodNotAllowed,
}

impl Route {
    /// The route of `request` for a server at `base` whose endpoint is `base/leaf`
    /// (`leaf` is `whep` or `whip`).
    pub fn of(request: &Request, base: &str, leaf: &str) -> Route {
        let base = base.trim_end_matches('/');
        let Some(rest) = request.path.strip_prefix(base) else {
            return Route::NotFound;
        };
        let rest = rest.trim_start_matches('/');
        let method = request.method.as_str();
        if rest.is_empty() || rest == "index.html" {
            return match method {
                "GET" | "HEAD" => Route::Page,
                _ => Route::MethodNotAllowed,
            };
        }
        let Some(rest) = rest.strip_prefix(leaf) else {
            return Route::NotFound;
        };
        if rest.is_empty() || rest == "/" {
            return match method {
                "POST" => Route::Offer,
                "OPTIONS" => Route::Options,
                _ => Route::MethodNotAllowed,
            };
        }
        let id = rest.trim_start_matches('/');
        if id.contains('/') || id.is_empty() {
            return Route::NotFound;
        }
        match method {
            "DELETE" | "PATCH" => Route::Session(id.to_owned()),
            "OPTIONS" => Route::Options,
            _ => Route::MethodNotAllowed,
        }
    }
}

/// A response: [`Response::new`] or [`Response::text`], then [`with`](Response::with)
/// for each extra header.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers (name, value).
    pub headers: Vec<(&'static str, String)>,
    /// The content type of the body.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// A response with this status and body, without extra headers.
    pub fn new(status: u16, content_type: &'static str, body: Vec<u8>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            content_type,
            body,
        }
    }

    /// A response with a plain-text body (an error's one line).
    pub fn text(status: u16, body: impl Into<String>) -> Response {
        let mut body = body.into().into_bytes();
        body.push(b'\n');
        Response {
            status,
            headers: Vec::new(),
            content_type: "text/plain; charset=utf-8",
            body,
        }
    }

    /// Adds a header.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }

    /// The bytes on the wire, with the CORS headers a page of another origin needs
    /// (WHEP/WHIP players are often served from elsewhere).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Access-Control-Allow-Origin: *\r\n\
             Access-Control-Allow-Methods: GET, POST, DELETE, PATCH, OPTIONS\r\n\
             Access-Control-Allow-Headers: Authorization, Content-Type, If-Match\r\n\
             Access-Control-Expose-Headers: Location, Link, ETag\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (name, value) in &self.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        let mut out = head.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// An error as one line for a response body: the SDP parser's multi-line text joined,
/// and its memory addresses (`at PointerOffset(0x…)`) left out.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for part in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let part = match part.find(" at PointerOffset(") {
            Some(i) => &part[..i],
            None => part,
        };
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(part);
    }
    out
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(raw: &str) -> Request {
        match Request::parse(raw.as_bytes()) {
            Parsed::Complete(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_offer_with_its_body_and_token() {
        let r = request(
            "POST /cam/whep HTTP/1.1\r\nContent-Type: application/sdp\r\n\
             Authorization: Bearer s3cret\r\nContent-Length: 4\r\n\r\nv=0\n",
        );
        assert_eq!(r.method, "POST");
        assert_eq!(r.content_type.as_deref(), Some("application/sdp"));
        assert_eq!(r.bearer.as_deref(), Some("s3cret"));
        assert_eq!(r.body, b"v=0\n");
        assert_eq!(Route::of(&r, "/cam", "whep"), Route::Offer);
    }

    /// Found by the `whep_http` fuzz target: an Authorization value whose 7th byte falls
    /// inside a character made the server's connection task panic.
    #[test]
    fn an_authorization_of_any_bytes_is_no_token() {
        let mut raw = b"POST /cam/whep HTTP/1.1\r\nAuthorization: ".to_vec();
        raw.extend_from_slice(&[0xae, 0x9b, 0x9e, 0x8d, 0x9d, b'r', b' ', b' ', b'x']);
        raw.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
        let Parsed::Complete(r) = Request::parse(&raw) else {
            panic!("a whole request");
        };
        assert_eq!(r.bearer, None);
        assert_eq!(
            request("GET / HTTP/1.1\r\nAuthorization: Bearer \r\n\r\n").bearer,
            None
        );
    }

    #[test]
    fn partial_bodies_wait_and_garbage_is_refused() {
        let head = "POST /cam/whep HTTP/1.1\r\nContent-Length: 10\r\n\r\nv=0";
        assert_eq!(Request::parse(head.as_bytes()), Parsed::Partial);
        assert!(matches!(
            Request::parse(b"\x16\x03\x01garbage\r\n\r\n"),
            Parsed::Invalid(400, _)
        ));
        let big = format!("POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n", MAX_REQUEST);
        assert!(matches!(
            Request::parse(big.as_bytes()),
            Parsed::Invalid(413, _)
        ));
    }

    #[test]
    fn errors_become_one_line_without_addresses() {
        let text = "the SDP offer cannot be parsed: SDP parse: Parse error at PointerOffset(0x7f35)\nUnexpected `t`\nExpected `v`\n\n";
        assert_eq!(
            one_line(text),
            "the SDP offer cannot be parsed: SDP parse: Parse error; Unexpected `t`; Expected `v`"
        );
    }

    #[test]
    fn routes() {
        let r = |m: &str, p: &str| {
            Route::of(
                &request(&format!("{m} {p} HTTP/1.1\r\n\r\n")),
                "/cam",
                "whep",
            )
        };
        assert_eq!(r("GET", "/cam"), Route::Page);
        assert_eq!(r("GET", "/cam/"), Route::Page);
        assert_eq!(r("DELETE", "/cam/whep/abc"), Route::Session("abc".into()));
        assert_eq!(r("PATCH", "/cam/whep/abc"), Route::Session("abc".into()));
        assert_eq!(r("GET", "/cam/whep"), Route::MethodNotAllowed);
        assert_eq!(r("GET", "/other"), Route::NotFound);
        assert_eq!(r("DELETE", "/cam/whep/a/b"), Route::NotFound);
        assert_eq!(r("OPTIONS", "/cam/whep"), Route::Options);
    }
}

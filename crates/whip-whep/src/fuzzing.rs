//! Entry points for the fuzz targets (`fuzz/`): what the clients read from a server that
//! is not private API otherwise. Not a stable API.

/// Parses `buf` as an HTTP response the way a client reads one (`closed`: the server
/// closed the connection after these bytes). Returns whether a whole response was read.
pub fn parse_response(buf: &[u8], closed: bool) -> bool {
    crate::signalling::parse_response(buf, closed).is_ok_and(|r| r.is_some())
}

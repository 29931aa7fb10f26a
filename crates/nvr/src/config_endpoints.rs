//! What a camera's endpoints may be: its input a live one, its `also` outputs live
//! outputs each listening on its own address (with a token off loopback), and the
//! secrets read from an environment variable or a file.

use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};

use pipeline::{Direction, Endpoint};
use toml::Spanned;

use super::{Password, SecretUrl};
use crate::error::Problem;

/// The inputs a camera may be, for the message when it is none of them.
pub(super) const LIVE: &str = "rtsp://, http(s):// (a stream or a live HLS playlist), srt://, \
                    srt-listen://, rtmp-listen://, rtsp-listen://, whip-listen://, whep://, tcp:// or an .sdp";

/// A camera's `also` outputs: live ones only (a second file would escape retention,
/// standard output is the process's own), each server's address used once.
pub(super) fn also(
    outputs: &[Spanned<String>],
    name: &str,
    listeners: &mut HashSet<String>,
    problems: &mut Vec<Problem>,
    at: &dyn Fn(Range<usize>, String) -> Problem,
) -> Vec<Endpoint> {
    let mut kept = Vec::new();
    for output in outputs {
        let url = SecretUrl::new(output.get_ref().as_str());
        let endpoint = Endpoint::parse(url.expose(), Direction::Output);
        let listen = match &endpoint {
            Ok(Endpoint::RtspListen { addr, .. } | Endpoint::WhepListen { addr, .. }) => {
                Some(addr.to_string())
            }
            Ok(Endpoint::TcpListen(addr)) => Some(addr.to_string()),
            Ok(Endpoint::SrtListen(url)) => Some(url.to_string()),
            Ok(Endpoint::Srt(_) | Endpoint::Rtmp(_) | Endpoint::Rtp(_) | Endpoint::Whip(_)) => None,
            Ok(_) => {
                problems.push(at(
                    output.span(),
                    format!("camera {name:?}: also {url} is not a live output ({ALSO})"),
                ));
                continue;
            }
            Err(e) => {
                problems.push(at(output.span(), format!("camera {name:?}: also: {e}")));
                continue;
            }
        };
        if let Some(listen) = listen
            && !listeners.insert(listen.clone())
        {
            problems.push(at(
                output.span(),
                format!("camera {name:?}: also {url}: {listen} is served already"),
            ));
            continue;
        }
        kept.extend(endpoint.ok());
    }
    kept
}

/// A secret from an environment variable or a file (the variable first); `what` names
/// it in a problem.
pub(super) fn secret(
    env: &Option<Spanned<String>>,
    file: &Option<Spanned<PathBuf>>,
    what: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
    at: &dyn Fn(Range<usize>, String) -> Problem,
) -> Option<Password> {
    match (env, file) {
        (Some(var), _) => std::env::var(var.get_ref()).ok().map(Password).or_else(|| {
            let message = format!("{what}: environment variable {} is not set", var.get_ref());
            problems.push(at(var.span(), message));
            None
        }),
        (None, Some(file)) => match std::fs::read_to_string(base.join(file.get_ref())) {
            Ok(t) => Some(Password(t.trim_end_matches(['\n', '\r']).to_string())),
            Err(e) => {
                let message = format!("{what}_file {}: {e}", file.get_ref().display());
                problems.push(at(file.span(), message));
                None
            }
        },
        (None, None) => None,
    }
}

/// Whether a server output listens on an address other than loopback.
pub(super) fn off_loopback(output: &Endpoint) -> bool {
    let addr = match output {
        Endpoint::RtspListen { addr, .. }
        | Endpoint::WhepListen { addr, .. }
        | Endpoint::TcpListen(addr) => addr,
        _ => return false,
    };
    let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    !(host.is_empty()
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()))
}

/// The outputs a camera's `also` may name, for the message when it is none of them.
const ALSO: &str = "rtsp-listen://, whep-listen://, tcp-listen://, srt://, srt-listen://, \
                    rtmp://, rtp:// or whip://";

/// Whether a camera can be this input: a live one (a file would end, and stdin is the
/// process's own).
pub(super) fn is_live(endpoint: &Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::Rtsp(_)
            | Endpoint::Http(_)
            | Endpoint::Srt(_)
            | Endpoint::SrtListen(_)
            | Endpoint::RtmpListen(_)
            | Endpoint::WhipListen { .. }
            | Endpoint::RtspListen { .. }
            | Endpoint::Whep(_)
            | Endpoint::Tcp(_)
            | Endpoint::SdpFile(_)
    )
}

//! The network endpoints' URL forms: what is read from a string, and how a secret in it
//! (an RTMP stream key) is stored and shown.

use media_core::SecretUrl;

use super::redact;

/// `rtmp-listen://[addr]:port/app/key` → `rtmp-listen://addr:port/app?key=key`.
pub(super) fn rtmp_listen(url: &str) -> Option<SecretUrl> {
    let rest = &url[url.find("://")? + 3..];
    let (authority, path) = rest.split_once('/')?;
    let (app, key) = path.rsplit_once('/')?;
    let (host, port) = authority.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    (!app.is_empty() && !key.is_empty() && !key.contains(['?', '&', '#']))
        .then(|| SecretUrl::new(format!("rtmp-listen://{host}:{port}/{app}?key={key}")))
}

/// `rtmp://host[:port]/app/key` → `rtmp://host:port/app?key=KEY` (port 1935 by default,
/// the key percent-encoded so that a key holding `?` or `&` stays one masked value).
pub(super) fn rtmp_output(url: &str) -> Option<SecretUrl> {
    let rest = &url[url.find("://")? + 3..];
    let (authority, path) = rest.split_once('/')?;
    let (app, key) = path.rsplit_once('/')?;
    let (host, port) = match authority.rsplit_once(':') {
        // A port, after a host name, an IPv4 address or a bracketed IPv6 address.
        Some((host, port)) if !host.contains(':') || host.ends_with(']') => {
            (host, port.parse::<u16>().ok()?)
        }
        _ if !authority.contains(':') || authority.ends_with(']') => (authority, 1935),
        _ => return None,
    };
    if host.is_empty() || host.contains(['@', '?', '#']) || app.is_empty() || key.is_empty() {
        return None;
    }
    let key = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC);
    Some(SecretUrl::new(format!(
        "rtmp://{host}:{port}/{app}?key={key}"
    )))
}

/// An `rtmp://` string as shown when it cannot be used: its last path segment (the
/// stream key) and what follows masked.
pub(super) fn rtmp_shown(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(slash) => {
            let path = &url[start + slash..];
            let cut = path.find(['?', '#']).unwrap_or(path.len());
            let last = path[..cut].rfind('/').unwrap_or(0);
            format!("{}{}/***", &url[..start + slash], &path[..last])
        }
        None => redact(url),
    }
}

/// `whep://host:port/path` → `http://host:port/path`, `wheps://…` → `https://…` (a port,
/// no query, no userinfo).
pub(super) fn webrtc_client(url: &str) -> Option<String> {
    let scheme_end = url.find("://")?;
    let tls = url[..scheme_end].ends_with(['s', 'S']);
    let rest = &url[scheme_end + 3..];
    if rest.contains(['?', '#', '@']) {
        return None;
    }
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    host_port(&format!("x://{authority}"))?;
    let scheme = if tls { "https" } else { "http" };
    Some(format!("{scheme}://{authority}/{path}"))
}

/// `scheme://host:port[/]` → `host:port` (no path allowed).
pub(super) fn host_port(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = rest.rsplit_once(':')?;
    (!host.is_empty() && !rest.contains('/') && port.parse::<u16>().is_ok())
        .then(|| rest.to_owned())
}

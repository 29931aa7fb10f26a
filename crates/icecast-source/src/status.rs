//! A mount's status as the server reports it in `/status-json.xsl` (Icecast 2.4's
//! `web/status-json.xsl`): listeners, their peak, the title, the content type.
//!
//! Sans-I/O here ([`status_request`], [`parse_status`]); [`mount_status`] (feature `tokio`)
//! does the request. Icecast 2.4.4's stylesheet has two quirks handled here: `source` is
//! an object for one mount and an array for several, and with no source at all it drops
//! the `{` after `"icestats":`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::protocol::parse_answer_head;
use crate::{IcecastConfig, IcecastRefusal};

/// One mount's status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountStatus {
    /// Listeners connected now.
    pub listeners: u64,
    /// Most listeners at once since the source connected.
    pub listener_peak: Option<u64>,
    /// The title shown to listeners.
    pub title: Option<String>,
    /// The content type the server took (`server_type`).
    pub content_type: Option<String>,
}

/// `GET /status-json.xsl`, with the admin credentials when the config has them.
pub fn status_request(config: &IcecastConfig) -> String {
    let auth = config
        .admin
        .as_ref()
        .map_or(String::new(), |(user, password)| {
            format!(
                "Authorization: Basic {}\r\n",
                BASE64.encode(format!("{user}:{password}"))
            )
        });
    format!(
        "GET /status-json.xsl HTTP/1.0\r\nHost: {}\r\n{auth}User-Agent: {}\r\n\r\n",
        config.address(),
        config.user_agent.replace(['\r', '\n'], " ")
    )
}

/// The status of `mount` in a whole answer to [`status_request`]: `Ok(None)` when the
/// server lists no source on that mount.
pub fn parse_status(answer: &[u8], mount: &str) -> Result<Option<MountStatus>, IcecastRefusal> {
    let head = parse_answer_head(answer)?
        .ok_or_else(|| IcecastRefusal::Protocol("status answer cut short".into()))?;
    let body = String::from_utf8_lossy(&answer[head.len..]);
    if head.status != 200 {
        return Err(IcecastRefusal::from_answer(head.status, &body));
    }
    let body = body.replacen("{\"icestats\":\"", "{\"icestats\":{\"", 1);
    let json: serde_json::Value = serde_json::from_str(&body)
        .map_err(|e| IcecastRefusal::Protocol(format!("status-json.xsl is not JSON: {e}")))?;
    let sources = match &json["icestats"]["source"] {
        serde_json::Value::Array(all) => all.iter().collect(),
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    };
    // `listenurl` is `http://HOST:PORT/MOUNT` as the server names itself.
    let ours = sources.into_iter().find(|s| {
        s["listenurl"].as_str().is_some_and(|url| {
            url.split("://")
                .nth(1)
                .and_then(|rest| rest.find('/').map(|i| &rest[i..]))
                == Some(mount)
        })
    });
    Ok(ours.map(|s| MountStatus {
        listeners: s["listeners"].as_u64().unwrap_or(0),
        listener_peak: s["listener_peak"].as_u64(),
        title: s["title"].as_str().map(str::to_owned),
        content_type: s["server_type"].as_str().map(str::to_owned),
    }))
}

/// Reads the mount's status from the server (a connection of its own, bounded by
/// `timeout`).
#[cfg(feature = "tokio")]
pub async fn mount_status(
    config: &IcecastConfig,
    timeout: std::time::Duration,
) -> Result<Option<MountStatus>, crate::Error> {
    use tokio::io::AsyncWriteExt;
    let exchange = async {
        let mut stream = crate::transport::connect(config).await?;
        stream.write_all(status_request(config).as_bytes()).await?;
        // HTTP/1.0: the server closes after its answer; bounded all the same.
        crate::transport::read_to_close(&mut stream, 4 * 1024 * 1024).await
    };
    let what = || format!("reading the status of {config}");
    let answer = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| crate::Error::Timeout { what: what() })?
        .map_err(|e| crate::Error::io(what(), e))?;
    parse_status(&answer, &config.mount).map_err(|refusal| crate::Error::Refused {
        target: config.to_string(),
        refusal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &str) -> Vec<u8> {
        format!("HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{body}").into_bytes()
    }

    #[test]
    fn one_source_several_sources_and_none() {
        let one = r#"{"icestats":{"admin":"a","source":{"listenurl":"http://127.0.0.1:8000/live","listeners":3,"listener_peak":5,"title":"Ä – B","server_type":"audio/mpeg"}}}"#;
        let status = parse_status(&answer(one), "/live").unwrap().unwrap();
        assert_eq!(status.listeners, 3);
        assert_eq!(status.listener_peak, Some(5));
        assert_eq!(status.title.as_deref(), Some("Ä – B"));
        assert_eq!(parse_status(&answer(one), "/other").unwrap(), None);
        let two = r#"{"icestats":{"source":[{"listenurl":"http://h:1/a","listeners":1},{"listenurl":"http://h:1/b","listeners":7}]}}"#;
        assert_eq!(
            parse_status(&answer(two), "/b").unwrap().unwrap().listeners,
            7
        );
        // Icecast 2.4.4 without any source: the `{` after "icestats": is missing.
        let none = r#"{"icestats":"server_start":"x","host":"h"}}"#;
        assert_eq!(parse_status(&answer(none), "/live").unwrap(), None);
    }

    #[test]
    fn refusals_and_garbage_are_errors_not_panics() {
        let denied = b"HTTP/1.0 401 Authentication Required\r\n\r\nYou need to authenticate";
        assert_eq!(
            parse_status(denied, "/live"),
            Err(IcecastRefusal::WrongCredentials)
        );
        assert!(parse_status(&answer("<html>"), "/live").is_err());
        assert!(parse_status(b"HTTP/1.0 200", "/live").is_err());
        let mut config = IcecastConfig::from_url("icecast://h:1/live").unwrap();
        assert!(!status_request(&config).contains("Authorization"));
        config.admin = Some(("admin".into(), "adminpw".into()));
        assert!(status_request(&config).contains("Authorization: Basic YWRtaW46YWRtaW5wdw==\r\n"));
    }
}

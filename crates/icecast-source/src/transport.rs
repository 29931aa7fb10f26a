//! The byte stream to the server: plain TCP, or TLS over it (rustls, feature `tls`) for
//! `icecasts://` targets. Source connections, title updates and status reads all go
//! through [`connect`], so a server behind TLS gets TLS for all three.
//!
//! Certificates are checked against the webpki roots (Mozilla's CA list, built in) plus
//! the CA file of [`crate::IcecastConfig::tls_ca`] (PEM), which is how a self-signed server
//! certificate is trusted. The server name is the URL's host (a DNS name or an IP address,
//! matched against the certificate's subject alternative names, RFC 6125).

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::net::TcpStream;

use crate::IcecastConfig;

/// A connection to the server, plain or TLS.
pub(crate) trait Wire:
    AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug
{
}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync + std::fmt::Debug> Wire for T {}

/// An open connection.
pub(crate) type Connection = Box<dyn Wire>;

/// Reads an HTTP/1.0 answer until the server closes, at most `limit` bytes. Icecast closes
/// its TLS connections without a `close_notify` alert, which rustls reports as an
/// unexpected end: after an answer has arrived, that end is the answer's end.
pub(crate) async fn read_to_close(stream: &mut Connection, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut answer = Vec::new();
    match stream.take(limit).read_to_end(&mut answer).await {
        Ok(_) => Ok(answer),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => Ok(answer),
        Err(e) => Err(e),
    }
}

/// Connects to the server of `config`, with TLS when `config.tls`.
pub(crate) async fn connect(config: &IcecastConfig) -> std::io::Result<Connection> {
    let tcp = TcpStream::connect(config.address()).await?;
    // Frames go out paced, one or a few at a time: no Nagle delay.
    tcp.set_nodelay(true)?;
    if !config.tls {
        return Ok(Box::new(tcp));
    }
    tls(config, tcp).await
}

#[cfg(feature = "tls")]
async fn tls(config: &IcecastConfig, tcp: TcpStream) -> std::io::Result<Connection> {
    use std::sync::Arc;

    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName};

    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = &config.tls_ca {
        let certificates = CertificateDer::pem_file_iter(path).map_err(|e| {
            std::io::Error::other(format!("reading the CA file {}: {e}", path.display()))
        })?;
        for certificate in certificates {
            let certificate = certificate.map_err(|e| {
                std::io::Error::other(format!("reading the CA file {}: {e}", path.display()))
            })?;
            roots
                .add(certificate)
                .map_err(|e| std::io::Error::other(format!("CA file {}: {e}", path.display())))?;
        }
    }
    // The provider is named, not taken from the process default: another crate enabling
    // a second provider must not change (or break) ours.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from(config.host.clone())
        .map_err(|e| std::io::Error::other(format!("TLS server name {:?}: {e}", config.host)))?;
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await?;
    Ok(Box::new(stream))
}

#[cfg(not(feature = "tls"))]
async fn tls(_config: &IcecastConfig, _tcp: TcpStream) -> std::io::Result<Connection> {
    Err(std::io::Error::other(
        "TLS needs icecast-source's `tls` feature",
    ))
}

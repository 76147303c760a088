//! HTTP and raw streams to a port on the host's loopback, through direct-tcpip channels
//! (no port is opened to the network). Uploads go through exec channels
//! ([`Session::run_with_payload`]).

use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use russh::ChannelOpenFailure;

use super::Session;

/// Why a request through the SSH connection did not answer.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The SSH server refuses TCP forwarding (`AllowTcpForwarding no`).
    #[error("the SSH server refuses TCP forwarding")]
    ForwardingRefused,
    /// Nothing listens there yet, the request failed, or no answer came in time.
    #[error("{0}")]
    Failed(String),
}

/// The most of a response body [`Session::http_get`] reads.
const MAX_BODY: usize = 1024 * 1024;

impl Session {
    /// `GET path` from `127.0.0.1:port` on the host, through a direct-tcpip channel.
    /// Returns the status code and body; gives up after `timeout`.
    pub async fn http_get(&self, port: u16, path: &str, timeout: Duration) -> Result<(u16, String), HttpError> {
        match tokio::time::timeout(timeout, self.http_get_unbounded(port, path)).await {
            Ok(result) => result,
            Err(_) => Err(HttpError::Failed(format!(
                "no answer from port {port} within {}",
                super::shown(timeout)
            ))),
        }
    }

    async fn http_get_unbounded(&self, port: u16, path: &str) -> Result<(u16, String), HttpError> {
        let stream = self.forward(port).await?;
        let failed = |e: &dyn std::fmt::Display| HttpError::Failed(e.to_string());
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
        let driver = tokio::spawn(connection);
        let request = hyper::Request::get(path)
            .header(hyper::header::HOST, format!("127.0.0.1:{port}"))
            .body(Empty::<Bytes>::new())
            .map_err(|e| failed(&e))?;
        let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
        let status = response.status().as_u16();
        let body = Limited::new(response.into_body(), MAX_BODY)
            .collect()
            .await
            .map_err(|e| failed(&e))?
            .to_bytes();
        driver.abort();
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// A byte stream to `127.0.0.1:port` on the host, through a direct-tcpip channel.
    pub async fn forward(
        &self,
        port: u16,
    ) -> Result<impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + use<>, HttpError> {
        match self
            .handle
            .channel_open_direct_tcpip("127.0.0.1", u32::from(port), "127.0.0.1", 0)
            .await
        {
            Ok(channel) => Ok(channel.into_stream()),
            Err(russh::Error::ChannelOpenFailure(ChannelOpenFailure::AdministrativelyProhibited)) => {
                Err(HttpError::ForwardingRefused)
            }
            Err(e) => Err(HttpError::Failed(e.to_string())),
        }
    }
}

//! The container health probe shared by the services and `ferry`: `GET /healthz` on the
//! server's own address, healthy only on a `200` within the timeout. Distroless images have no
//! shell or curl, so each binary probes itself (`--check-health`, `ferry check-health`).

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long the whole probe may take.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// Why the server is not healthy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unhealthy(String);

impl fmt::Display for Unhealthy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unhealthy {}

/// Ask the server listening on `addr` (`0.0.0.0` means this host) for `GET /healthz`.
pub async fn check_health(addr: SocketAddr) -> Result<(), Unhealthy> {
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(target).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = match tokio::time::timeout(TIMEOUT, probe).await {
        Err(_) => {
            return Err(Unhealthy(format!(
                "no answer from {target} within {}s",
                TIMEOUT.as_secs()
            )));
        }
        Ok(Err(e)) => return Err(Unhealthy(format!("cannot reach {target}: {e}"))),
        Ok(Ok(answer)) => answer,
    };
    if answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        let first = answer.split(|b| *b == b'\n').next().unwrap_or_default();
        Err(Unhealthy(format!(
            "{target} answered: {}",
            String::from_utf8_lossy(first).trim_end()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-shot server answering `status_line`.
    async fn serve_once(status_line: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf).await;
            let _ = s
                .write_all(format!("{status_line}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                .await;
        });
        addr
    }

    #[tokio::test]
    async fn a_200_is_healthy() {
        let addr = serve_once("HTTP/1.1 200 OK").await;
        assert_eq!(check_health(addr).await, Ok(()));
    }

    #[tokio::test]
    async fn another_status_is_unhealthy_and_named() {
        let addr = serve_once("HTTP/1.1 503 Service Unavailable").await;
        let e = check_health(addr).await.unwrap_err();
        assert!(
            e.to_string()
                .ends_with("answered: HTTP/1.1 503 Service Unavailable"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_unhealthy() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let e = check_health(addr).await.unwrap_err();
        assert!(e.to_string().starts_with("cannot reach"), "{e}");
    }

    #[tokio::test]
    async fn the_unspecified_address_means_this_host() {
        let addr = serve_once("HTTP/1.1 200 OK").await;
        let any = SocketAddr::from(([0, 0, 0, 0], addr.port()));
        assert_eq!(check_health(any).await, Ok(()));
    }
}

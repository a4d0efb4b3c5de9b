//! [`TestServer`]: a router served on 127.0.0.1, on a port of its own, for one test.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::error::{PersistError, Result};

/// How long [`TestServer::stop`] waits for open connections to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An axum router served over TCP on 127.0.0.1 with an ephemeral port, on the current tokio
/// runtime. [`stop`](Self::stop) shuts it down gracefully and waits for it; dropping it
/// without `stop` aborts it.
///
/// ```
/// use persist_core::http::{HttpClient, Router, TestServer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), persist_core::PersistError> {
/// let app = Router::new().route("/ping", persist_core::http::routing::get(|| async { "pong" }));
/// let server = TestServer::start(app).await?;
/// let client = HttpClient::connect(&server.url())?;
/// let answer = client.get("/ping").send().await?;
/// assert_eq!(answer.text(), "pong");
/// drop(client);
/// server.stop().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Binds 127.0.0.1:0 and starts serving `router`.
    pub async fn start(router: Router) -> Result<Self> {
        Self::bind("127.0.0.1:0".parse().expect("a socket address"), router).await
    }

    /// Binds `addr` and starts serving `router` (port 0 picks a free one).
    pub async fn bind(addr: SocketAddr, router: Router) -> Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| PersistError::Io {
                operation: "binding the test server to",
                path: addr.to_string().into(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| PersistError::Io {
            operation: "reading the address of the test server on",
            path: addr.to_string().into(),
            source,
        })?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
        });
        tracing::debug!(%addr, "test server listening");
        Ok(TestServer {
            addr,
            shutdown: Some(shutdown),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, lets open requests finish (up to [`SHUTDOWN_GRACE`], then aborts
    /// them) and waits until the server has stopped.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        let Some(mut task) = self.task.take() else {
            return Ok(());
        };
        let failed = |detail: String| PersistError::Http {
            method: "SERVE".into(),
            path: format!("http://{}", self.addr),
            status: None,
            detail,
        };
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => {
                tracing::debug!(addr = %self.addr, "test server stopped");
                Ok(())
            }
            Ok(Ok(Err(e))) => Err(failed(format!("the server failed: {e}"))),
            Ok(Err(e)) => Err(failed(format!("the server task failed: {e}"))),
            Err(_) => {
                task.abort();
                let _ = task.await;
                Err(failed(format!(
                    "connections were still open {SHUTDOWN_GRACE:?} after shutdown; they were cut"
                )))
            }
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::HttpClient;
    use axum::routing::get;

    fn app() -> Router {
        Router::new()
            .route("/ping", get(|| async { "pong" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            )
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stop_closes_the_listener_while_the_runtime_lives() {
        let server = TestServer::start(app()).await.unwrap();
        let addr = server.addr();
        assert!(addr.ip().is_loopback() && addr.port() != 0);
        tokio::net::TcpStream::connect(addr).await.unwrap();
        server.stop().await.unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn stop_lets_a_request_in_flight_finish() {
        let server = TestServer::start(app()).await.unwrap();
        let client = HttpClient::connect(&server.url()).unwrap();
        let request = tokio::spawn(async move { client.get("/slow").send().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.stop().await.unwrap();
        let answer = request.await.unwrap().unwrap();
        assert_eq!(answer.status(), 200);
        assert_eq!(answer.text(), "done");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_idle_kept_alive_connection_does_not_hold_the_stop() {
        let server = TestServer::start(app()).await.unwrap();
        let client = HttpClient::connect(&server.url()).unwrap();
        assert_eq!(client.get("/ping").send().await.unwrap().text(), "pong");
        // `stop` fails if a connection is still open when its grace runs out.
        server.stop().await.unwrap();
        drop(client);
    }
}

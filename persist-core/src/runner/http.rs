//! Connecting a started system's HTTP API over the transport a test chose.

#[cfg(feature = "http")]
use std::sync::Arc;

use super::config::HttpTransport;
use crate::error::{PersistError, Result};
#[cfg(feature = "http")]
use crate::http::{HttpClient, HttpGateway, TestServer};
use crate::system::Running;

/// For a test that chose a transport: the gateway's API goes through it (for `socket`, a
/// [`TestServer`] stopped with the system), and the client is returned for the injectable
/// [`HttpClient`]. Without a transport nothing is built: an injected client makes its router
/// on first use.
#[cfg(feature = "http")]
pub(super) async fn connect(
    running: &mut Running,
    transport: Option<HttpTransport>,
    system: &str,
) -> Result<Option<HttpClient>> {
    let Some(transport) = transport else {
        return Ok(None);
    };
    let Some(app) = running.services.http_app.clone() else {
        return Err(PersistError::NotProvided {
            what: format!("HTTP API for `http = \"{transport}\"`"),
            hint: format!(
                "the system under test ({system}) serves no HTTP: return its router from `System::start` with `Running::with_http`"
            ),
        });
    };
    let client = match transport {
        HttpTransport::Router => HttpClient::router(app()),
        HttpTransport::Socket => {
            let server = TestServer::start(app()).await?;
            let client = HttpClient::connect(&server.url())?;
            running.stops.push(Box::pin(async move {
                if let Err(error) = server.stop().await {
                    tracing::warn!(%error, "stopping the test's HTTP server");
                }
            }));
            client
        }
    };
    running.services.gateway = Some(Arc::new(HttpGateway::new(client.clone())));
    Ok(Some(client))
}

/// Without the `http` feature, a test that asks for HTTP cannot run.
#[cfg(not(feature = "http"))]
pub(super) async fn connect(
    _running: &mut Running,
    transport: Option<HttpTransport>,
    _system: &str,
) -> Result<()> {
    match transport {
        None => Ok(()),
        Some(transport) => Err(PersistError::NotProvided {
            what: format!("HTTP transport for `http = \"{transport}\"`"),
            hint: "persist-core was built without its `http` feature: enable it".into(),
        }),
    }
}

//! Serves the reference gateway's HTTP API, `/api/v1`, on 127.0.0.1 over fresh SQLite files,
//! with two agents (WeatherAgent, TravelAgent) answering through a scripted model.
//!
//! Run it with `cargo run --example serve` (or `… -- 8080` for a fixed port), then talk to it
//! with curl as `persist_core::guide::http` shows. Ctrl-C or SIGTERM (a process manager's or `timeout`'s stop)
//! stops it, and its databases are cleaned up either way; `--keep` leaves them behind and
//! prints where they are.

use persist_core::PersistError;
use persist_core::http::HttpApi;
use persist_core::mesh::{Mesh, ScriptedLlm};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), PersistError> {
    let mut port = 0u16;
    let mut keep = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--keep" => keep = true,
            other => {
                port = other.parse().map_err(|_| PersistError::InvalidInput {
                    field: "port",
                    reason: format!(
                        "{other:?} is not a port number (usage: serve [PORT] [--keep])"
                    ),
                })?
            }
        }
    }

    let manager = persist_core::mesh::manager()
        .agents(["WeatherAgent", "TravelAgent"])
        .label("serve")
        .setup()
        .await?;
    let mesh = Mesh::start(&manager, ScriptedLlm::new());
    let app = HttpApi::new(mesh.gateway().clone())
        .agents(mesh.agents().iter().map(|a| a.name().to_owned()))
        .router();

    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| PersistError::Io {
            operation: "binding",
            path: addr.to_string().into(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| PersistError::Io {
        operation: "reading the address of",
        path: addr.to_string().into(),
        source,
    })?;
    println!("gateway API on http://{addr}/api/v1 (agents: WeatherAgent, TravelAgent)");
    println!("  try: curl -s -H 'X-User-Id: alice' http://{addr}/api/v1/sessions");
    println!("  the OpenAPI document: http://{addr}/api/v1/openapi.json");
    println!("Ctrl-C (or SIGTERM) stops it.");

    let served = axum_serve(listener, app).await;
    mesh.shutdown().await;
    if keep {
        for (role, location) in manager.keep().await? {
            println!("kept {role}: {location}");
        }
    } else {
        manager.cleanup().await?;
    }
    served
}

/// Until Ctrl-C, or (on Unix) SIGTERM: what a process manager or `timeout` sends.
async fn stop_requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Serves until asked to stop (Ctrl-C or SIGTERM), then lets open requests finish; the
/// databases are cleaned up (or kept) either way.
async fn axum_serve(
    listener: tokio::net::TcpListener,
    app: persist_core::http::Router,
) -> Result<(), PersistError> {
    let addr = listener.local_addr().ok();
    persist_core::http::serve(listener, app)
        .with_graceful_shutdown(async {
            stop_requested().await;
            println!("\nstopping");
        })
        .await
        .map_err(|source| PersistError::Io {
            operation: "serving on",
            path: addr.map(|a| a.to_string()).unwrap_or_default().into(),
            source,
        })
}

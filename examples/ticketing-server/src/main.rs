//! The ticketing server.
//!
//! ```sh
//! cargo run --release -p booking-ticketing-server                 # memory, demo data, :8080
//! cargo run --release -p booking-ticketing-server -- --help
//! BOOKING_BACKEND=postgres DATABASE_URL=postgres://... cargo run --release -p booking-ticketing-server
//! ```

use booking_ticketing_server::config::Flags;
use booking_ticketing_server::{app, build, ops};
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")))
        .init();
    let flags = Flags::parse();
    if let Err(e) = run(flags).await {
        eprintln!("ticketing-server: {e}");
        std::process::exit(1);
    }
}

async fn run(flags: Flags) -> Result<(), String> {
    let config = flags.config()?;
    ops::prometheus();
    let listen = config.listen;
    let backend = config.backend.name();
    let (state, demo) = build(config).await?;
    if state.config.workers {
        state.start_workers().await;
    }
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, backend, demo_shows = demo.shows.len(), "listening: open http://{addr}/");
    let service = app(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let stopping = state.clone();
    axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            tracing::info!("shutting down: finishing checkouts in flight");
            // Ends the live streams, so that open connections close.
            stopping.stopping.store(true, std::sync::atomic::Ordering::SeqCst);
            let _ = stopping.shutdown.send(true);
        })
        .await
        .map_err(|e| e.to_string())?;
    state.shut_down().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

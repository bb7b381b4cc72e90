//! `broadside target`: serve the built-in system under test until Ctrl-C.

use std::net::SocketAddr;

use broadside_target::{Target, TargetConfig};
use clap::Args;

/// Arguments of `broadside target`.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// Address to listen on (loopback by default).
    #[arg(
        long,
        default_value = "127.0.0.1:8088",
        env = "BROADSIDE_TARGET_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Serve HTTPS with a self-signed certificate (HTTP/1.1 and HTTP/2 by ALPN).
    #[arg(long)]
    pub tls: bool,
}

/// Serves until interrupted.
pub async fn execute(args: TargetArgs) -> u8 {
    let target = match Target::bind(TargetConfig {
        listen: args.listen,
        tls: args.tls,
    })
    .await
    {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot listen on {}: {e}", args.listen);
            return super::EXIT_BAD_INPUT;
        }
    };
    println!(
        "broadside target listening on {} (stats at {}/stats)",
        target.base_url(),
        target.base_url()
    );
    match target.run(super::shutdown_signal()).await {
        Ok(()) => super::EXIT_OK,
        Err(e) => {
            eprintln!("error: target failed: {e}");
            super::EXIT_BAD_INPUT
        }
    }
}

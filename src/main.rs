//! The gregor binary: flags and properties to a `Config`, then run until SIGTERM or Ctrl-C.

use std::time::Instant;

use clap::Parser;

/// A Kafka-protocol-compatible broker in one binary.
#[derive(Parser, Debug)]
#[command(name = "gregor", version, after_help = known_keys_help())]
struct Args {
    /// A Kafka server.properties file.
    #[arg(long, short = 'c')]
    config: Option<String>,
    /// A property as key=value; later ones win over the file. Repeatable.
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

fn known_keys_help() -> String {
    let mut s = String::from("Properties understood (Kafka names; others are logged and ignored):\n");
    for (k, d) in gregor::config::KNOWN_KEYS {
        s.push_str(&format!("  {k:<30} {d}\n"));
    }
    s
}

fn main() -> std::process::ExitCode {
    let started = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,openraft=off".into()),
        )
        .init();
    let args = Args::parse();
    let config = match gregor::Config::load(args.config.as_deref(), &args.overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gregor: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    runtime.block_on(async move {
        let running = match gregor::start(config.clone()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("gregor: cannot start: {e:#}");
                return std::process::ExitCode::from(1);
            }
        };
        let (host, port) = config.advertised();
        tracing::info!(
            listening = ?running.addrs,
            advertised = %format!("{host}:{port}"),
            data = %config.data_dir().display(),
            node_id = config.node_id,
            startup_ms = started.elapsed().as_millis() as u64,
            "gregor ready"
        );
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        tracing::info!("shutting down");
        running.stop().await;
        std::process::ExitCode::SUCCESS
    })
}

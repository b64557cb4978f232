//! The doorward binary: the command line first (so `--help` needs no settings), then settings
//! from the environment (and `.env`), then serve or run an operator's command.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use doorward::cli::{Cli, Command};
use doorward::{Application, Config};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Only `./.env` is read: dotenvy's own search climbs into parent directories, where anyone
    // with write access to, say, /tmp could plant a JWT_SECRET.
    let dotenv = match load_dotenv(Path::new(".env")) {
        Ok(loaded) => loaded,
        Err(problem) => {
            eprintln!("doorward: .env: {problem}");
            return ExitCode::FAILURE;
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    if dotenv {
        log::info!("settings read from ./.env as well as the environment");
    }

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("doorward: {e}");
            return ExitCode::FAILURE;
        }
    };
    match cli.command {
        None | Some(Command::Serve) => serve(config).await,
        Some(command) => match doorward::cli::run(command, &config).await {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("doorward: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Builds the server and runs it until a signal stops it.
async fn serve(config: Config) -> ExitCode {
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            eprintln!("doorward: {e}");
            return ExitCode::FAILURE;
        }
    };
    log::info!(
        "doorward listening on port {}, public URL {}",
        app.port(),
        app.public_url()
    );
    match app.run_until_stopped().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("doorward: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads `path` into the environment when it exists (variables already set win). Refuses a file
/// that others could have written, since it may hold the signing key.
fn load_dotenv(path: &Path) -> Result<bool, String> {
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(format!("cannot read it: {e}")),
    };
    if metadata.permissions().mode() & 0o022 != 0 {
        return Err("it is writable by group or others: chmod go-w .env".to_owned());
    }
    dotenvy::from_path(path).map_err(|e| format!("cannot read it: {e}"))?;
    Ok(true)
}

//! The doorward server: settings from the environment (and `.env`), then serve.

use std::process::ExitCode;

use doorward::config::Config;
use doorward::startup::Application;

#[actix_web::main]
async fn main() -> ExitCode {
    // A missing .env is normal; the environment alone is a complete configuration.
    let _ = dotenvy::dotenv();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();

    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("doorward: {e}");
            return ExitCode::FAILURE;
        }
    };
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

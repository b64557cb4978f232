//! The doorward binary's server: binds the listener (port 0 works), starts [`Doorward`] on it
//! and serves its routes, its start page and a request log.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_http::Request;
use actix_service::IntoServiceFactory;
use actix_web::body::MessageBody;
use actix_web::dev::Server;
use actix_web::dev::{AppConfig, Response, Service, ServiceFactory};
use actix_web::middleware::Logger;
use actix_web::{App, HttpServer, web};
use url::Url;

use crate::config::{ClientLimits, Config};
use crate::embed::{Doorward, StartupError};
use crate::limits::ConnectionCounter;

/// A bound, built server, not yet running.
pub struct Application {
    port: u16,
    server: Server,
    doorward: Doorward,
}

impl Application {
    /// Binds the listener, starts doorward on the database and builds the server.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let address = listener.local_addr().map_err(|source| StartupError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let port = address.port();
        let public_url = match &config.public_url {
            Some(url) => url.clone(),
            None => Url::parse(&format!("http://localhost:{port}"))
                .map_err(|e| StartupError::Other(e.to_string()))?,
        };
        let (bind, workers, limits) = (config.bind.clone(), config.workers, config.limits);
        let connections = ConnectionCounter::new(
            limits.max_connections_per_ip,
            config.trusted_proxies.clone(),
        );
        let doorward = Doorward::start_at(config, public_url).await?;

        let routes = doorward.routes();
        let start_page = doorward.start_page();
        let headers = doorward.clone();
        // The request log is `info`: below that level the layer is left out altogether, since
        // it formats on every request whatever the level.
        let logs_requests = log::log_enabled!(log::Level::Info);
        let app = move || {
            App::new()
                .configure(routes.clone())
                // Everything else, the start page and the 404s: doorward's routes set the
                // security headers themselves, so this layer is not paid twice on them.
                .service(
                    web::scope("")
                        .wrap(headers.security_headers())
                        .configure(start_page.clone()),
                )
        };
        let listening = Listening {
            listener,
            workers,
            limits,
            connections,
        };
        // Two servers' types rather than actix's `Condition`, which boxes every request's
        // future even when the layer is off.
        let served = if logs_requests {
            serve(move || app().wrap(request_logger()), listening)
        } else {
            serve(app, listening)
        };
        let server = served.map_err(|source| StartupError::Bind {
            address: bind,
            source,
        })?;

        Ok(Self {
            port,
            server,
            doorward,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A handle to stop the server (tests restart it on the same database).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// The origin browsers use.
    pub fn public_url(&self) -> &Url {
        self.doorward.public_url()
    }

    /// Serves until the process is told to stop; the revocation log is followed meanwhile and
    /// no longer once the server and this are gone.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let Self {
            server, doorward, ..
        } = self;
        let outcome = server.await;
        drop(doorward);
        outcome
    }
}

/// What [`serve`] needs besides the app.
struct Listening {
    listener: TcpListener,
    workers: usize,
    limits: ClientLimits,
    connections: Arc<ConnectionCounter>,
}

/// Starts the HTTP server on the bound listener with doorward's connection settings.
fn serve<F, I, S, B>(app: F, listening: Listening) -> std::io::Result<Server>
where
    F: Fn() -> I + Send + Clone + 'static,
    I: IntoServiceFactory<S, Request>,
    S: ServiceFactory<Request, Config = AppConfig> + 'static,
    S::Error: Into<actix_web::Error> + 'static,
    S::InitError: std::fmt::Debug,
    S::Response: Into<Response<B>> + 'static,
    <S::Service as Service<Request>>::Future: 'static,
    S::Service: 'static,
    B: MessageBody + 'static,
{
    let Listening {
        listener,
        workers,
        limits,
        connections,
    } = listening;
    Ok(HttpServer::new(app)
        .workers(workers)
        .client_request_timeout(limits.head_timeout)
        .client_disconnect_timeout(Duration::from_secs(1))
        // A client that closes its side has gone (as nginx's 499): its request is dropped, and
        // with it any password check still queued for it.
        .h1_allow_half_closed(false)
        .keep_alive(limits.keep_alive)
        .on_connect(move |connection, data| connections.on_connect(connection, data))
        .shutdown_timeout(5)
        .listen(listener)?
        .run())
}

/// One line per request, without the query string, which might carry something secret.
fn request_logger() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#)
        .custom_request_replace("method", |req| req.method().to_string())
}

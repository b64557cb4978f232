//! The doorward binary's server: binds the listener (port 0 works), starts [`Doorward`] on it
//! and serves its routes, health checks, metrics, its start page and a request log; with
//! `DOORWARD_METRICS_BIND`, `/metrics` is served there instead, by a server of its own.

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
    /// The `/metrics` server, with its port, when `DOORWARD_METRICS_BIND` is set.
    metrics_server: Option<(Server, u16)>,
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
        let metrics_listener = config
            .metrics_bind
            .as_ref()
            .map(|address| {
                TcpListener::bind(address).map_err(|source| StartupError::Bind {
                    address: address.clone(),
                    source,
                })
            })
            .transpose()?;
        let (bind, workers, limits) = (config.bind.clone(), config.workers, config.limits);
        let connections = ConnectionCounter::new(
            limits.max_connections_per_ip,
            config.trusted_proxies.clone(),
        );
        let doorward = Doorward::start_at(config, public_url).await?;

        let routes = doorward.routes();
        let health = doorward.health_routes();
        let metrics_here = metrics_listener.is_none().then(|| doorward.metrics_route());
        let start_page = doorward.start_page();
        let headers = doorward.clone();
        // The request log is `info`: below that level the layer is left out altogether, since
        // it formats on every request whatever the level.
        let logs_requests = log::log_enabled!(log::Level::Info);
        let app = move || {
            App::new()
                .configure(routes.clone())
                .configure(health.clone())
                .configure(|cfg| {
                    if let Some(metrics) = &metrics_here {
                        metrics(cfg);
                    }
                })
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

        let metrics_server = metrics_listener
            .map(|listener| serve_metrics(&doorward, listener))
            .transpose()?;
        Ok(Self {
            port,
            server,
            metrics_server,
            doorward,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port `/metrics` is served on when `DOORWARD_METRICS_BIND` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// A handle to stop the server (tests restart it on the same database); the metrics server
    /// stops with it.
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
            server,
            metrics_server,
            doorward,
            ..
        } = self;
        let Some((metrics_server, _)) = metrics_server else {
            let outcome = server.await;
            drop(doorward);
            return outcome;
        };
        // Both run on this task; the metrics server is stopped once the main one has ended.
        let metrics_handle = metrics_server.handle();
        let main = async {
            let outcome = server.await;
            metrics_handle.stop(true).await;
            outcome
        };
        let (outcome, metrics_outcome) = futures_util::join!(main, metrics_server);
        if let Err(e) = metrics_outcome {
            log::warn!("metrics server: {e}");
        }
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

/// The `/metrics` server on its own listener: one worker, nothing else routed.
fn serve_metrics(
    doorward: &Doorward,
    listener: TcpListener,
) -> Result<(Server, u16), StartupError> {
    let address = listener.local_addr().map_err(|source| StartupError::Bind {
        address: "DOORWARD_METRICS_BIND".to_owned(),
        source,
    })?;
    let metrics = doorward.metrics_route();
    let server = HttpServer::new(move || App::new().configure(metrics.clone()))
        .workers(1)
        .shutdown_timeout(1)
        .listen(listener)
        .map_err(|source| StartupError::Bind {
            address: address.to_string(),
            source,
        })?
        .run();
    Ok((server, address.port()))
}

/// One line per request, without the query string, which might carry something secret.
fn request_logger() -> Logger {
    Logger::new(r#"%a "%{method}xi %U" %s %b %Dms"#)
        .custom_request_replace("method", |req| req.method().to_string())
}

//! Bounds on one client ([`crate::config::ClientLimits`]): the header budget and the cap on
//! connections per peer address, as middleware, and the body deadline the body readers use.
//! The head timeout and keep-alive are actix-web's own, set in [`crate::startup`].

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use actix_web::dev::{Extensions, ServiceRequest};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};

use crate::error::AppError;

/// Open connections per peer address, shared by every worker.
#[derive(Debug)]
pub struct ConnectionCounter {
    open: Mutex<HashMap<IpAddr, usize>>,
    limit: usize,
    /// `DOORWARD_TRUSTED_PROXIES`: every connection through a proxy comes from its address, so
    /// proxies are not capped.
    exempt: Vec<IpAddr>,
}

/// A connection's place in the count, kept in its extensions: released when it closes.
struct ConnectionSlot {
    counter: Arc<ConnectionCounter>,
    ip: IpAddr,
    over_limit: bool,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = self.counter.lock();
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

impl ConnectionCounter {
    /// A counter allowing `limit` open connections per address, the `exempt` ones aside.
    pub fn new(limit: usize, exempt: Vec<IpAddr>) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::default(),
            limit,
            exempt,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `HttpServer::on_connect`: counts the new connection against its peer address.
    pub fn on_connect(self: &Arc<Self>, connection: &dyn std::any::Any, data: &mut Extensions) {
        let Some(stream) = connection.downcast_ref::<actix_web::rt::net::TcpStream>() else {
            return;
        };
        let Ok(peer) = stream.peer_addr() else {
            return;
        };
        let ip = peer.ip();
        if self.exempt.contains(&ip) {
            return;
        }
        let over_limit = {
            let mut open = self.lock();
            let count = open.entry(ip).or_insert(0);
            *count += 1;
            *count > self.limit
        };
        data.insert(ConnectionSlot {
            counter: Arc::clone(self),
            ip,
            over_limit,
        });
    }
}

/// The answer to a request on a connection over its address's cap (429, and the connection is
/// closed), or one whose headers exceed `max_header_bytes` (431); `None` for every other.
pub fn refusal(max_header_bytes: usize, req: &ServiceRequest) -> Option<HttpResponse> {
    let over_limit = req
        .conn_data::<ConnectionSlot>()
        .is_some_and(|slot| slot.over_limit);
    if over_limit {
        let mut response = AppError::TooManyConnections.error_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Some(response);
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    (header_bytes > max_header_bytes).then(|| AppError::HeadersTooLarge.error_response())
}

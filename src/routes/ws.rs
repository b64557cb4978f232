//! Doorward's own WebSocket, `GET /ws`, and the tickets that open one without a token in the
//! URL, `POST /auth/ws-ticket`. The socket carries only doorward's session events (see
//! [`crate::ws`]): a browser app keeps one open to learn the moment its session ends.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{AppError, ErrorBody};
use crate::extractors::auth::AuthUser;
use crate::routes::respond::no_store;
use crate::state::AppState;
use crate::ws::{self, AuthSocket};

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").get(open_socket))
        .service(web::resource("/auth/ws-ticket").post(issue_ticket));
}

/// Opens doorward's session socket: it tells the page the moment its session ends.
///
/// Upgrades, then answers every application message with an error: this socket only listens.
#[utoipa::path(
    get,
    path = "/ws",
    tag = "proxy",
    security(("access_cookie" = []), ("bearer" = []), ()),
    params(("ticket" = Option<String>, Query, description = "A ticket from `/auth/ws-ticket`, for clients that cannot send cookies or headers")),
    responses(
        (status = 101, description = "Upgraded"),
        (status = 400, description = "Not a WebSocket upgrade", body = ErrorBody<'static>),
        (status = 401, description = "No valid credential", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`: an origin not allowed", body = ErrorBody<'static>),
    )
)]
async fn open_socket(req: HttpRequest, body: web::Payload) -> Result<HttpResponse, AppError> {
    let (response, mut socket) = AuthSocket::upgrade(&req, body).await?;
    actix_web::rt::spawn(async move {
        while socket.next().await.is_some() {
            let reply = json!({
                "event": "error",
                "error": "unknown_message",
                "error_description": "this socket accepts only reauth messages",
            });
            if socket.text(reply.to_string()).await.is_err() {
                break;
            }
        }
    });
    Ok(response)
}

/// A single-use ticket for `GET /ws?ticket=…`, valid for [`ws::TICKET_TTL`].
#[utoipa::path(
    post,
    path = "/auth/ws-ticket",
    tag = "proxy",
    security(("bearer" = []), ("access_cookie" = [])),
    responses(
        (status = 200, description = "A ticket", body = Ticket<'static>),
        (status = 401, description = "No valid credential", body = ErrorBody<'static>),
        (status = 403, description = "`csrf_failed`", body = ErrorBody<'static>),
        (status = 503, description = "Database unavailable", body = ErrorBody<'static>),
    )
)]
async fn issue_ticket(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let ticket = ws::issue_ticket(&state, &user.claims).await?;
    Ok(no_store(StatusCode::OK).json(Ticket {
        ticket: ticket.expose(),
        expires_in: ws::TICKET_TTL.as_secs(),
    }))
}

/// `POST /auth/ws-ticket`'s answer.
#[derive(Serialize, ToSchema)]
pub struct Ticket<'a> {
    /// Single use, for `GET /ws?ticket=…`.
    ticket: &'a str,
    /// Seconds it stays valid.
    expires_in: u64,
}

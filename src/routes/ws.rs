//! Doorward's own WebSocket, `GET /ws`, and the tickets that open one without a token in the
//! URL, `POST /auth/ws-ticket`. The socket carries only doorward's session events (see
//! [`crate::ws`]): a browser app keeps one open to learn the moment its session ends.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use crate::error::AppError;
use crate::extractors::auth::AuthUser;
use crate::routes::respond::no_store;
use crate::state::AppState;
use crate::ws::{self, AuthSocket};

/// Registers the routes of this module.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/ws", web::get().to(open_socket))
        .route("/auth/ws-ticket", web::post().to(issue_ticket));
}

/// Upgrades, then answers every application message with an error: this socket only listens.
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
async fn issue_ticket(
    state: web::Data<AppState>,
    user: AuthUser,
) -> Result<HttpResponse, AppError> {
    let ticket = ws::issue_ticket(&state, &user.claims).await?;
    Ok(no_store(StatusCode::OK).json(json!({
        "ticket": ticket.expose(),
        "expires_in": ws::TICKET_TTL.as_secs(),
    })))
}

//! Authenticated WebSockets: who may open one, and a socket that ends with its session.
//!
//! [`AuthSocket::upgrade`] authenticates the upgrade request and completes the handshake; its
//! [`AuthSocket::next`] yields the client's messages while enforcing the session. Doorward's
//! own `GET /ws` is built on it (`routes::ws`), and an embedding app opens its own sockets the
//! same way.
//!
//! The credential, in this order: `Authorization: Bearer` (a bad header is refused, as by the
//! extractor); an `access_token` or `token` query parameter (RFC 6750 §2.3, for clients that
//! cannot set headers); a `ticket` query parameter from `POST /auth/ws-ticket`, single use,
//! 30 s; the access cookie, refused with 403 when the upgrade comes from another site
//! (cross-site WebSocket hijacking). The request log shows paths without their query.
//!
//! While open, the socket is re-checked after every denylist change, local or synced: a revoked
//! session gets `{"event":"revoked"}` and close code 1008. At the token's `exp` (no leeway) the
//! socket gets `{"event":"expired"}` and 1008, unless the client sent a fresher token of the
//! same session first (its rotation's): `{"type":"reauth","access_token":"…"}`, answered
//! `{"event":"reauthenticated","expires_in":N}` or `{"event":"error","error":"invalid_token"}`
//! (the socket then keeps its current token).

mod frame_guard;

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev;
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use actix_ws::{
    AggregatedMessage, AggregatedMessageStream, CloseCode, CloseReason, Closed, Session,
};
use bytestring::ByteString;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::watch;

use self::frame_guard::FrameGuard;
use crate::cookies;
use crate::csrf::{self, AllowedOrigins};
use crate::db::repo;
use crate::error::AppError;
use crate::extractors::auth::verify_request;
use crate::state::{AppState, millis, now_ms};
use crate::tokens::jwt::AccessClaims;
use crate::tokens::opaque::{OpaqueToken, OpaqueTokenHash};

/// How long a ticket from `POST /auth/ws-ticket` may wait for its upgrade.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

/// The largest message a client may send; a reauth token is at most 8 KiB.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

const BAD_TICKET: &str = "the ticket is invalid, expired or already used";

/// A message from the client that is the application's to handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketMessage {
    /// A text message (other than doorward's own `reauth`).
    Text(ByteString),
    /// A binary message.
    Binary(Bytes),
}

/// An open WebSocket whose session doorward watches.
pub struct AuthSocket {
    state: web::Data<AppState>,
    claims: Arc<AccessClaims>,
    session: Session,
    messages: AggregatedMessageStream,
    revocations: watch::Receiver<u64>,
    open: bool,
}

impl AuthSocket {
    /// Authenticates the upgrade and completes the handshake. The response must be returned
    /// from the handler; drive the socket with [`Self::next`] in a task of its own
    /// (`actix_web::rt::spawn`). Refusals are the JSON errors of the extractor, before any
    /// upgrade: 401 with `WWW-Authenticate`, or 403 `csrf_failed`.
    pub async fn upgrade(
        req: &HttpRequest,
        body: web::Payload,
    ) -> Result<(HttpResponse, Self), AppError> {
        let state = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::Internal("application state is missing".into()))?;
        let origins = req
            .app_data::<web::Data<AllowedOrigins>>()
            .ok_or_else(|| AppError::Internal("allowed origins are missing".into()))?;
        // Subscribed first, so a revocation after the check below still wakes the socket.
        let revocations = state.denylist.subscribe();
        let guarded: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(FrameGuard::new(body.into_inner(), MAX_MESSAGE_BYTES));
        let body = web::Payload::from_request(req, &mut dev::Payload::from(guarded))
            .into_inner()
            .map_err(|_| AppError::InvalidRequest("the upgrade's body could not be read"))?;
        let (response, session, messages) = actix_ws::handle(req, body)
            .map_err(|_| AppError::InvalidRequest("this route needs a WebSocket upgrade"))?;
        let claims = authenticate_upgrade(&state, origins, req).await?;
        let mut socket = Self {
            state,
            claims,
            session,
            messages: messages
                .max_frame_size(MAX_MESSAGE_BYTES)
                .aggregate_continuations()
                .max_continuation_size(MAX_MESSAGE_BYTES),
            revocations,
            open: true,
        };
        let ready = json!({
            "event": "ready",
            "user_id": socket.claims.sub,
            "expires_in": socket.expires_in(),
        });
        socket.send_event(ready).await;
        Ok((response, socket))
    }

    /// The claims of the token the socket currently runs on.
    pub fn claims(&self) -> &AccessClaims {
        &self.claims
    }

    /// A handle to send on this socket from another task; sends fail once it has closed.
    pub fn session(&self) -> Session {
        self.session.clone()
    }

    /// Sends a text message.
    pub async fn text(&mut self, text: impl Into<ByteString>) -> Result<(), Closed> {
        self.session.text(text).await
    }

    /// The client's next application message, answering pings and `reauth` on the way; `None`
    /// once the socket has closed, by the client or because its session ended.
    pub async fn next(&mut self) -> Option<SocketMessage> {
        while self.open {
            let left_ms = (self.claims.exp * 1000 - now_ms()).max(0);
            let expiry = tokio::time::sleep(Duration::from_millis(left_ms as u64));
            tokio::select! {
                changed = self.revocations.changed() => match changed {
                    Ok(()) if self.state.denylist.refusal(&self.claims).is_some() => {
                        self.end("revoked").await;
                    }
                    Ok(()) => {}
                    Err(_) => self.close(CloseCode::Away).await,
                },
                () = expiry => self.end("expired").await,
                message = self.messages.recv() => {
                    if let Some(message) = self.receive(message).await {
                        return Some(message);
                    }
                }
            }
        }
        None
    }

    /// Handles one frame; the application's messages are handed back.
    async fn receive(
        &mut self,
        message: Option<Result<AggregatedMessage, actix_ws::ProtocolError>>,
    ) -> Option<SocketMessage> {
        match message {
            Some(Ok(AggregatedMessage::Text(text))) => match reauth_token(&text) {
                Some(token) => {
                    self.reauthenticate(token.as_deref()).await;
                    None
                }
                None => Some(SocketMessage::Text(text)),
            },
            Some(Ok(AggregatedMessage::Binary(bytes))) => Some(SocketMessage::Binary(bytes)),
            Some(Ok(AggregatedMessage::Ping(bytes))) => {
                if self.session.pong(&bytes).await.is_err() {
                    self.open = false;
                }
                None
            }
            Some(Ok(AggregatedMessage::Pong(_))) => None,
            Some(Ok(AggregatedMessage::Close(_))) => {
                self.close(CloseCode::Normal).await;
                None
            }
            Some(Err(_)) => {
                self.close(CloseCode::Protocol).await;
                None
            }
            None => {
                self.open = false;
                None
            }
        }
    }

    /// Adopts a fresher token of the same session (a rotation's), or says why not and keeps the
    /// current one: a socket stays bound to the session it was opened by, so signing that
    /// session out always ends it.
    async fn reauthenticate(&mut self, token: Option<&str>) {
        let verified = token
            .ok_or("reauth needs an access_token")
            .and_then(|token| self.state.verify_access_token(token))
            .and_then(|claims| {
                if claims.sub != self.claims.sub || claims.sid != self.claims.sid {
                    Err("the token belongs to another session")
                } else if claims.exp < self.claims.exp {
                    Err("the token is older than the socket's")
                } else {
                    Ok(claims)
                }
            });
        let event = match verified {
            Ok(claims) => {
                self.claims = claims;
                json!({"event": "reauthenticated", "expires_in": self.expires_in()})
            }
            Err(reason) => {
                json!({"event": "error", "error": "invalid_token", "error_description": reason})
            }
        };
        self.send_event(event).await;
    }

    /// Seconds until the current token's `exp`.
    fn expires_in(&self) -> i64 {
        self.claims.exp - now_ms() / 1000
    }

    async fn send_event(&mut self, event: serde_json::Value) {
        if self.session.text(event.to_string()).await.is_err() {
            self.open = false;
        }
    }

    /// Tells the client why, then closes with 1008 (policy violation).
    async fn end(&mut self, event: &'static str) {
        self.send_event(json!({ "event": event })).await;
        self.close(CloseCode::Policy).await;
    }

    async fn close(&mut self, code: CloseCode) {
        if self.open {
            self.open = false;
            let _ = self
                .session
                .clone()
                .close(Some(CloseReason::from(code)))
                .await;
        }
    }
}

/// The `access_token` of a `{"type":"reauth",…}` message (`Some(None)` when it has none), or
/// `None` when the message is not a reauth.
fn reauth_token(text: &str) -> Option<Option<String>> {
    #[derive(Deserialize)]
    struct ClientEvent {
        #[serde(rename = "type")]
        kind: String,
        access_token: Option<String>,
    }
    let event: ClientEvent = serde_json::from_str(text).ok()?;
    (event.kind == "reauth").then_some(event.access_token)
}

/// A credential in the upgrade's query string.
enum QueryCredential {
    AccessToken(String),
    Ticket(String),
}

/// The one credential of the query string, if any; two are refused as ambiguous.
fn query_credential(query: &str) -> Result<Option<QueryCredential>, AppError> {
    let mut found = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let credential = match &*name {
            "access_token" | "token" => QueryCredential::AccessToken(value.into_owned()),
            "ticket" => QueryCredential::Ticket(value.into_owned()),
            _ => continue,
        };
        if found.replace(credential).is_some() {
            return Err(AppError::InvalidToken(
                "the query carries more than one credential",
            ));
        }
    }
    Ok(found)
}

/// Who opens the socket, by the precedence in the module docs; the whole check is in memory
/// except a ticket's redemption.
pub async fn authenticate_upgrade(
    state: &AppState,
    origins: &AllowedOrigins,
    req: &HttpRequest,
) -> Result<Arc<AccessClaims>, AppError> {
    let claims = presented_claims(state, origins, req).await?;
    // The socket ends at `exp` with no leeway, so a token within the leeway opens nothing.
    if claims.exp <= now_ms() / 1000 {
        return Err(AppError::InvalidToken("the token has expired"));
    }
    Ok(claims)
}

async fn presented_claims(
    state: &AppState,
    origins: &AllowedOrigins,
    req: &HttpRequest,
) -> Result<Arc<AccessClaims>, AppError> {
    if req.headers().contains_key(header::AUTHORIZATION) {
        return verify_request(state, req);
    }
    match query_credential(req.query_string())? {
        Some(QueryCredential::AccessToken(token)) => state
            .verify_access_token(&token)
            .map_err(AppError::InvalidToken),
        Some(QueryCredential::Ticket(ticket)) => redeem_ticket(state, &ticket).await,
        None if cookies::read(req.headers()).any_present() && csrf::is_cross_site(req, origins) => {
            Err(AppError::CsrfFailed)
        }
        None => verify_request(state, req),
    }
}

/// A ticket for one upgrade within [`TICKET_TTL`], standing for `claims`' session.
pub async fn issue_ticket(
    state: &AppState,
    claims: &AccessClaims,
) -> Result<OpaqueToken, AppError> {
    let ticket = OpaqueToken::generate().map_err(AppError::internal)?;
    let hash = ticket.hash();
    let claims = serde_json::to_string(claims).map_err(AppError::internal)?;
    let expires_at = now_ms() + millis(TICKET_TTL);
    state
        .db
        .run(move |conn| repo::insert_ticket(conn, hash.as_str(), &claims, expires_at))
        .await?;
    Ok(ticket)
}

/// Consumes a ticket; its session must not have been revoked since.
async fn redeem_ticket(state: &AppState, ticket: &str) -> Result<Arc<AccessClaims>, AppError> {
    let hash = OpaqueTokenHash::of_presented(ticket).ok_or(AppError::InvalidToken(BAD_TICKET))?;
    let now = now_ms();
    let stored = state
        .db
        .run(move |conn| repo::redeem_ticket(conn, hash.as_str(), now))
        .await?
        .ok_or(AppError::InvalidToken(BAD_TICKET))?;
    let claims: AccessClaims = serde_json::from_str(&stored).map_err(AppError::internal)?;
    if claims.exp <= now / 1000 {
        return Err(AppError::InvalidToken(
            "the ticket's session token has expired",
        ));
    }
    match state.denylist.refusal(&claims) {
        Some(reason) => Err(AppError::InvalidToken(reason)),
        None => Ok(Arc::new(claims)),
    }
}

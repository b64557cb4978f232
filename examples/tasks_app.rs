//! A small app that embeds doorward: per-user tasks at `GET/POST /api/tasks`, pushed live to
//! their owner on the WebSocket `/ws/tasks`, a greeting for anyone at `GET /api/hello`, and an
//! admin-only count at `GET /api/admin/stats`. Doorward's own routes and pages (`/auth/…`,
//! `/login`, `/register`, `/account`, `/ws`) are served beside them.
//!
//! ```text
//! cargo run --example tasks_app     # SQLite tasks.db, http://localhost:8081
//! ```
//!
//! `TASKS_BIND`, `DATABASE_URL`, `DOORWARD_PUBLIC_URL` and `JWT_SECRET` change the defaults. The tasks live in
//! memory; the accounts and sessions in doorward's database.

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use actix_web::dev::Server;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use doorward::{Admin, AuthSocket, AuthUser, Config, Doorward, MaybeAuthUser, RequireRole};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::broadcast;

/// One task.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    id: u64,
    title: String,
    done: bool,
}

/// Everyone's tasks, by user id, and the stream of new ones.
pub struct Tasks {
    by_user: Mutex<HashMap<String, Vec<Task>>>,
    next_id: AtomicU64,
    created: broadcast::Sender<(String, Task)>,
}

impl Default for Tasks {
    fn default() -> Self {
        Self {
            by_user: Mutex::default(),
            next_id: AtomicU64::new(1),
            created: broadcast::channel(64).0,
        }
    }
}

#[derive(Deserialize)]
struct NewTask {
    title: String,
}

/// `GET /api/tasks`: the signed-in user's tasks, and nobody else's.
async fn list_tasks(user: AuthUser, tasks: web::Data<Tasks>) -> HttpResponse {
    let by_user = tasks.by_user.lock().unwrap_or_else(|e| e.into_inner());
    let mine = by_user.get(user.id()).cloned().unwrap_or_default();
    HttpResponse::Ok().json(mine)
}

/// `POST /api/tasks {"title"}`: creates a task for the signed-in user and tells their sockets.
async fn create_task(
    user: AuthUser,
    tasks: web::Data<Tasks>,
    body: web::Json<NewTask>,
) -> HttpResponse {
    let title = body.into_inner().title.trim().to_owned();
    if title.is_empty() || title.chars().count() > 200 {
        return HttpResponse::BadRequest()
            .json(json!({"error": "validation_failed", "error_description": "title: 1 to 200 characters"}));
    }
    let task = Task {
        id: tasks.next_id.fetch_add(1, Ordering::Relaxed),
        title,
        done: false,
    };
    tasks
        .by_user
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(user.id().to_owned())
        .or_default()
        .push(task.clone());
    // Nobody listening is fine.
    let _ = tasks.created.send((user.id().to_owned(), task.clone()));
    HttpResponse::Created().json(task)
}

/// `GET /api/hello`: anyone; a bad or revoked token is still refused.
async fn hello(user: MaybeAuthUser) -> HttpResponse {
    let name = user
        .0
        .map_or("stranger".to_owned(), |user| user.claims.email.clone());
    HttpResponse::Ok().json(json!({ "hello": name }))
}

/// `GET /api/admin/stats`: admins only.
async fn stats(_admin: RequireRole<Admin>, tasks: web::Data<Tasks>) -> HttpResponse {
    let by_user = tasks.by_user.lock().unwrap_or_else(|e| e.into_inner());
    let count: usize = by_user.values().map(Vec::len).sum();
    HttpResponse::Ok().json(json!({ "users": by_user.len(), "tasks": count }))
}

/// `GET /ws/tasks`: the owner's new tasks, pushed as `{"event":"task_created","task":…}`,
/// on a socket doorward authenticates and closes when the session ends.
async fn task_socket(
    req: HttpRequest,
    body: web::Payload,
    tasks: web::Data<Tasks>,
) -> Result<HttpResponse, doorward::Error> {
    let (response, mut socket) = AuthSocket::upgrade(&req, body).await?;
    let owner = socket.claims().sub.clone();
    let mut created = tasks.created.subscribe();
    let mut pusher = socket.session();
    let push = actix_web::rt::spawn(async move {
        loop {
            match created.recv().await {
                Ok((user, task)) if user == owner => {
                    let event = json!({"event": "task_created", "task": task});
                    if pusher.text(event.to_string()).await.is_err() {
                        break;
                    }
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            }
        }
    });
    actix_web::rt::spawn(async move {
        // The client only listens; what it sends is ignored.
        while socket.next().await.is_some() {}
        push.abort();
    });
    Ok(response)
}

/// The app's own routes.
fn task_routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/tasks", web::get().to(list_tasks))
        .route("/api/tasks", web::post().to(create_task))
        .route("/api/hello", web::get().to(hello))
        .route("/api/admin/stats", web::get().to(stats))
        .route("/ws/tasks", web::get().to(task_socket));
}

/// Starts doorward and the app on `listener`; the server runs when awaited.
pub async fn serve(
    config: Config,
    listener: TcpListener,
) -> Result<Server, Box<dyn std::error::Error>> {
    let doorward = Doorward::start(config).await?;
    let routes = doorward.routes();
    let tasks = web::Data::new(Tasks::default());
    let server = HttpServer::new(move || {
        App::new()
            .configure(routes.clone())
            .app_data(tasks.clone())
            .configure(task_routes)
    })
    .workers(2)
    .listen(listener)?
    .run();
    Ok(server)
}

#[actix_web::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let setting = |name: &str, default: String| std::env::var(name).unwrap_or(default);
    let listener = TcpListener::bind(setting("TASKS_BIND", "127.0.0.1:8081".into()))?;
    let port = listener.local_addr()?.port();
    let mut config = Config::builder()
        .database_url(setting("DATABASE_URL", "sqlite://tasks.db".into()))
        .public_url(setting(
            "DOORWARD_PUBLIC_URL",
            format!("http://localhost:{port}"),
        ));
    // Required on PostgreSQL; on SQLite a key file is made beside the database otherwise.
    if let Ok(secret) = std::env::var("JWT_SECRET") {
        config = config.jwt_secret(secret);
    }
    let config = config.build()?;
    log::info!("tasks app on http://localhost:{port}");
    serve(config, listener).await?.await?;
    Ok(())
}

//! What `doorward user …`, `doorward revoke` and `doorward purge` do to the database in
//! `DATABASE_URL`. A running server learns of each change from the revocation log (the
//! cut-off, the ended families, and the user-change trigger that drops the account from the
//! user cache) within `DOORWARD_SYNC_INTERVAL`; nothing here talks to the server.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::web;
use diesel::Connection;
use uuid::Uuid;

use crate::audit::{self, AuditEvent, AuditKind};
use crate::config::Config;
use crate::db::models::{NewUser, UserRow};
use crate::db::repo::{self, SessionChoice};
use crate::db::{Db, DbConn, DbError, SetupError};
use crate::domain::{DisplayName, Email, Password, Role};
use crate::passwords::{HashingError, PasswordHasher};
use crate::revocation_sync::{self, Retention};
use crate::sessions::everywhere_cutoff;
use crate::state::now_ms;

/// Why an operator's command failed, for the terminal.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The database could not be opened or migrated.
    #[error(transparent)]
    Setup(#[from] SetupError),
    /// A query failed.
    #[error("{}", crate::error::error_chain(.0))]
    Db(#[from] DbError),
    /// bcrypt failed.
    #[error("cannot hash the password: {0}")]
    Hashing(String),
    /// A value the command was given is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// No account has that email or id, or no session that id.
    #[error("{0}")]
    NotFound(String),
}

impl From<HashingError> for AdminError {
    fn from(e: HashingError) -> Self {
        Self::Hashing(e.to_string())
    }
}

/// The database and the settings an operator's commands act with.
pub struct Admin {
    db: Db,
    retention: Retention,
    bcrypt_cost: u32,
}

impl Admin {
    /// Opens the database (applying pending migrations, as the server would).
    pub async fn open(config: &Config) -> Result<Self, AdminError> {
        let target = config.database.clone();
        let db = web::block(move || Db::connect(&target))
            .await
            .map_err(|e| AdminError::Invalid(e.to_string()))??;
        Ok(Self {
            db,
            retention: Retention::from_config(config),
            bcrypt_cost: config.bcrypt_cost,
        })
    }

    /// Creates an account with `role`, its address counted as verified (an operator typed it);
    /// the new account's id.
    pub async fn create_user(
        &self,
        email: &str,
        name: Option<&str>,
        role: Role,
        password: &str,
    ) -> Result<String, AdminError> {
        let email = Email::parse(email).map_err(|p| AdminError::Invalid(format!("email: {p}")))?;
        let name = name
            .map(DisplayName::parse)
            .transpose()
            .map_err(|p| AdminError::Invalid(format!("name: {p}")))?
            .flatten();
        let password = Password::parse_new(password).map_err(|problems| {
            AdminError::Invalid(format!("password: {}", problems.join("; ")))
        })?;
        let hasher = PasswordHasher::start(self.bcrypt_cost, 1)
            .map_err(|e| AdminError::Hashing(e.to_string()))?;
        let password_hash = hasher
            .hash(IpAddr::V4(Ipv4Addr::LOCALHOST), password)
            .await?;
        let id = Uuid::new_v4().to_string();
        let created_at = now_ms();
        let (stored_id, stored_email) = (id.clone(), email.as_ref().to_owned());
        let name = name.map(|n| n.as_ref().to_owned());
        let action = move |conn: &mut DbConn| {
            conn.transaction(|conn| {
                let row = NewUser {
                    id: &stored_id,
                    email: &stored_email,
                    name: name.as_deref(),
                    role: role.as_str(),
                    password_hash: &password_hash,
                    created_at,
                };
                if !repo::create_account(conn, &row)? {
                    return Ok(false);
                }
                repo::set_email_verified(conn, &stored_id, created_at)?;
                Ok(true)
            })
        };
        let event = AuditEvent::of_user(AuditKind::UserCreated, &*id).detail(role.as_str());
        let created = self
            .run_audited(action, move |created| created.then_some(event))
            .await?;
        if !created {
            return Err(AdminError::Invalid(format!(
                "email: {} is already registered",
                email.as_ref()
            )));
        }
        Ok(id)
    }

    /// Gives the account `role`. Access tokens already issued keep the `role` claim they were
    /// issued with until they expire; `RequireRole` reads the role afresh.
    pub async fn set_role(&self, who: &str, role: Role) -> Result<UserRow, AdminError> {
        let user = self.find(who).await?;
        let id = user.id.clone();
        let event = AuditEvent::of_user(AuditKind::RoleChanged, &*id).detail(role.as_str());
        let action = move |conn: &mut DbConn| repo::set_role(conn, &id, role.as_str());
        self.run_audited(action, |_| Some(event)).await?;
        Ok(user)
    }

    /// Disables the account and signs it out everywhere: its tokens are refused and it
    /// cannot sign in until [`Admin::enable`].
    pub async fn disable(&self, who: &str) -> Result<UserRow, AdminError> {
        let user = self.find(who).await?;
        let id = user.id.clone();
        let now = now_ms();
        let (cutoff, forget_at) = everywhere_cutoff(now, self.retention.family_memory_ms);
        let event = AuditEvent::of_user(AuditKind::UserDisabled, &*id);
        let action = move |conn: &mut DbConn| repo::disable_user(conn, &id, cutoff, now, forget_at);
        self.run_audited(action, |_| Some(event)).await?;
        Ok(user)
    }

    /// Lets a disabled account sign in again (its old sessions stay ended).
    pub async fn enable(&self, who: &str) -> Result<UserRow, AdminError> {
        let user = self.find(who).await?;
        let id = user.id.clone();
        let event = AuditEvent::of_user(AuditKind::UserEnabled, &*id);
        let action = move |conn: &mut DbConn| repo::set_disabled(conn, &id, None);
        self.run_audited(action, |_| Some(event)).await?;
        Ok(user)
    }

    /// Signs the account out everywhere, as `POST /auth/logout-all` would.
    pub async fn revoke_user(&self, who: &str) -> Result<UserRow, AdminError> {
        let user = self.find(who).await?;
        let id = user.id.clone();
        let now = now_ms();
        let (cutoff, forget_at) = everywhere_cutoff(now, self.retention.family_memory_ms);
        let event = AuditEvent::of_user(AuditKind::SignOutEverywhere, &*id);
        let action =
            move |conn: &mut DbConn| repo::revoke_all_sessions(conn, &id, cutoff, now, forget_at);
        self.run_audited(action, |_| Some(event)).await?;
        Ok(user)
    }

    /// Ends one session (its `sid`), as `DELETE /api/sessions/{id}` would.
    pub async fn revoke_session(&self, session_id: &str) -> Result<(), AdminError> {
        let sid = session_id.to_owned();
        let now = now_ms();
        let forget_at = now + self.retention.family_memory_ms;
        let event = AuditEvent::of_session(AuditKind::SessionRevoked, &*sid);
        let action = move |conn: &mut DbConn| {
            let Some(owner) = repo::find_session_owner(conn, &sid)? else {
                return Ok(Vec::new());
            };
            repo::revoke_sessions_of(conn, &owner, &SessionChoice::One(sid), now, forget_at)
        };
        let ended = self
            .run_audited(action, |ended: &Vec<String>| {
                (!ended.is_empty()).then_some(event)
            })
            .await?;
        if ended.is_empty() {
            return Err(AdminError::NotFound(format!(
                "no live session has the id {session_id}"
            )));
        }
        Ok(())
    }

    /// Runs `action` and records, in the same job, the event `audited` names for what it did,
    /// as the operator's: `detail` says `operator` unless it names a role.
    async fn run_audited<T, F, A>(&self, action: F, audited: A) -> Result<T, DbError>
    where
        F: FnOnce(&mut DbConn) -> diesel::QueryResult<T> + Send + 'static,
        A: FnOnce(&T) -> Option<AuditEvent> + Send + 'static,
        T: Send + 'static,
    {
        let events = move |done: &T| {
            audited(done)
                .map(AuditEvent::by_operator)
                .into_iter()
                .collect()
        };
        audit::run_audited(&self.db, action, events).await
    }

    /// Deletes the rows that can no longer matter; how many.
    pub async fn purge(&self) -> Result<usize, AdminError> {
        Ok(revocation_sync::purge(&self.db, self.retention).await?)
    }

    /// The account `who` names: an email, or else an account id.
    async fn find(&self, who: &str) -> Result<UserRow, AdminError> {
        let email = Email::parse(who).ok();
        let id = who.to_owned();
        let found = self
            .db
            .run(move |conn: &mut DbConn| match email {
                Some(email) => repo::find_user_by_email(conn, email.as_ref()),
                None => repo::find_user_by_id(conn, &id),
            })
            .await?;
        found.ok_or_else(|| AdminError::NotFound(format!("no account is {who}")))
    }
}

//! [`RequireRole`]: an [`AuthUser`] whose role allows the route, else 403 `insufficient_role`.
//!
//! The role is the account's current one, not only the token's claim: it is read from the user
//! cache (a database read only on a miss), which every change doorward makes and every synced
//! operator change invalidates. An admin demoted in the database loses the routes within
//! `DOORWARD_SYNC_INTERVAL`, not when the token expires.

use std::marker::PhantomData;
use std::ops::Deref;

use actix_web::{FromRequest, HttpRequest, web};
use futures_util::future::LocalBoxFuture;

use crate::accounts;
use crate::domain::Role;
use crate::error::AppError;
use crate::extractors::auth::{AuthUser, authenticate};
use crate::state::AppState;

/// A role a route may require: implement it on a marker type, or use [`Admin`].
pub trait RoleRequirement {
    /// The least role allowed.
    const ROLE: Role;
}

/// Requires the `admin` role.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl RoleRequirement for Admin {
    const ROLE: Role = Role::Admin;
}

/// A signed-in user whose current role includes `R::ROLE`; derefs to the [`AuthUser`].
#[derive(Debug, Clone)]
pub struct RequireRole<R> {
    /// The signed-in user.
    pub user: AuthUser,
    role: PhantomData<R>,
}

impl<R> Deref for RequireRole<R> {
    type Target = AuthUser;

    fn deref(&self) -> &AuthUser {
        &self.user
    }
}

impl<R: RoleRequirement> FromRequest for RequireRole<R> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut actix_web::dev::Payload) -> Self::Future {
        let user = authenticate(req);
        let state = req.app_data::<web::Data<AppState>>().cloned();
        Box::pin(async move {
            let user = user?;
            let state =
                state.ok_or_else(|| AppError::Internal("application state is missing".into()))?;
            let account = accounts::find_user(&state, &user.claims.sub).await?;
            if !account.role.includes(R::ROLE) {
                return Err(AppError::InsufficientRole(R::ROLE.as_str()).into());
            }
            Ok(Self {
                user,
                role: PhantomData,
            })
        })
    }
}

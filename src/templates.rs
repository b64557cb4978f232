//! The askama views of the server-rendered pages (contract §4), one struct per page, all
//! extending `templates/base.html`. They hold only what the page shows; the handlers in
//! `routes::pages` decide statuses, headers and cookies. askama escapes every value,
//! so user input (an email, a name, `next`) is safe to echo back.

use askama::Template;

/// `GET /`: links to sign-in and registration, or to the account.
#[derive(Template)]
#[template(path = "index.html")]
pub struct LandingPage {
    /// True when the request carried usable credentials.
    pub signed_in: bool,
}

/// `GET/POST /login`: the sign-in form.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// The session's form token.
    pub csrf_token: &'a str,
    /// A validated `next`, carried as a hidden field.
    pub next: Option<&'a str>,
    /// The email typed before, kept on failure.
    pub email: &'a str,
    /// "Invalid email or password", after a failed attempt.
    pub error: Option<&'a str>,
    /// A flash notice ("You have signed out.").
    pub notice: Option<&'a str>,
    /// The registration link, carrying `next`.
    pub register_href: &'a str,
}

/// `GET/POST /register`: the registration form.
#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage<'a> {
    /// The session's form token.
    pub csrf_token: &'a str,
    /// A validated `next`, carried as a hidden field.
    pub next: Option<&'a str>,
    /// The email typed before.
    pub email: &'a str,
    /// The name typed before.
    pub name: &'a str,
    /// Problems with the email.
    pub email_errors: &'a [String],
    /// Problems with the password.
    pub password_errors: &'a [String],
    /// Problems with the name.
    pub name_errors: &'a [String],
    /// True when any field has a problem.
    pub has_errors: bool,
    /// A problem with the whole form (too many attempts).
    pub error: Option<&'a str>,
    /// The sign-in link, carrying `next`.
    pub login_href: &'a str,
}

/// `GET /account`: who is signed in, and the sign-out button.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    /// The canonical email.
    pub email: &'a str,
    /// The display name, if any.
    pub name: Option<&'a str>,
    /// The role, as stored.
    pub role: &'a str,
    /// The session's form token, for the sign-out form.
    pub csrf_token: &'a str,
    /// A flash notice ("Your account has been created…").
    pub notice: Option<&'a str>,
    /// The user's live sessions, most recently used first.
    pub sessions: &'a [crate::sessions::SessionView],
    /// The password form's problems with the current password.
    pub current_password_errors: &'a [String],
    /// The password form's problems with the new password.
    pub new_password_errors: &'a [String],
}

/// A failure or notice with no form: 403, 413, 500, 503.
#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    /// The heading.
    pub title: &'a str,
    /// One sentence saying what happened and what to do.
    pub message: &'a str,
}

/// `GET /forgot-password`: the email form.
#[derive(Template)]
#[template(path = "forgot_password.html")]
pub struct ForgotPasswordPage<'a> {
    /// The session's form token.
    pub csrf_token: &'a str,
}

/// `GET/POST /reset-password`: the new password form of a reset link.
#[derive(Template)]
#[template(path = "reset_password.html")]
pub struct ResetPasswordPage<'a> {
    /// The session's form token.
    pub csrf_token: &'a str,
    /// The link's token, carried as a hidden field.
    pub token: &'a str,
    /// Problems with the new password.
    pub password_errors: &'a [String],
}

/// `GET /verify-email`: the confirm button of a verification link.
#[derive(Template)]
#[template(path = "verify_email.html")]
pub struct VerifyEmailPage<'a> {
    /// The session's form token.
    pub csrf_token: &'a str,
    /// The link's token, carried as a hidden field.
    pub token: &'a str,
}

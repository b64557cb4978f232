//! The `doorward` command line: `serve` (the default) and the operator's commands, which act on
//! the database in `DATABASE_URL` and print what they did. Passwords are read from a prompt or
//! from standard input, never from the arguments, where `ps` and shell history would see them.

use std::io::{BufRead, IsTerminal};

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::{ExposeSecret, SecretString};

use crate::admin::{Admin, AdminError};
use crate::config::Config;
use crate::domain::Role;

/// doorward, an authentication server. Settings come from the environment (and `./.env`); with
/// no command it serves.
#[derive(Debug, Parser)]
#[command(name = "doorward", version, about, long_about = None)]
pub struct Cli {
    /// What to do; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// A `doorward` command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Create accounts, change their role, disable or enable them.
    #[command(subcommand)]
    User(UserCommand),
    /// Sign a user out everywhere, or end one session; a running server refuses their tokens
    /// within DOORWARD_SYNC_INTERVAL.
    Revoke(RevokeArgs),
    /// Delete expired rows now (the server does it every DOORWARD_PURGE_INTERVAL).
    Purge,
}

/// `doorward user …`: the account is named by its email or its id.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account, its email counted as verified. The password is prompted for twice
    /// on a terminal, else read as the first line of standard input.
    Create {
        /// The account's email.
        #[arg(long)]
        email: String,
        /// A display name.
        #[arg(long)]
        name: Option<String>,
        /// Give the account the `admin` role.
        #[arg(long)]
        admin: bool,
    },
    /// Give an account a role.
    SetRole {
        /// The account's email or id.
        #[arg(long)]
        email: String,
        /// The role.
        #[arg(long, value_enum)]
        role: RoleArg,
    },
    /// Disable an account and sign it out everywhere; it cannot sign in until enabled.
    Disable {
        /// The account's email or id.
        #[arg(long)]
        email: String,
    },
    /// Let a disabled account sign in again.
    Enable {
        /// The account's email or id.
        #[arg(long)]
        email: String,
    },
}

/// `doorward revoke`: exactly one of `--user` and `--session`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeArgs {
    /// Sign this account (email or id) out everywhere.
    #[arg(long)]
    pub user: Option<String>,
    /// End this session (the `sid` claim, or an id from GET /api/sessions).
    #[arg(long)]
    pub session: Option<String>,
}

/// A role, as the command line spells it.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Every registered account.
    User,
    /// May do what `RequireRole<Admin>` guards.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Self {
        match role {
            RoleArg::User => Role::User,
            RoleArg::Admin => Role::Admin,
        }
    }
}

/// Runs an operator's command (anything but `serve`) and returns what to print.
pub async fn run(command: Command, config: &Config) -> Result<String, AdminError> {
    let admin = Admin::open(config).await?;
    match command {
        Command::Serve => Err(AdminError::Invalid(
            "serve is not an operator command".into(),
        )),
        Command::User(UserCommand::Create {
            email,
            name,
            admin: is_admin,
        }) => {
            let password = read_new_password()?;
            let role = if is_admin { Role::Admin } else { Role::User };
            let id = admin
                .create_user(&email, name.as_deref(), role, password.expose_secret())
                .await?;
            Ok(format!("created {email} ({}), id {id}", role.as_str()))
        }
        Command::User(UserCommand::SetRole { email, role }) => {
            let user = admin.set_role(&email, role.into()).await?;
            Ok(format!(
                "{} is now {}",
                user.email,
                Role::from(role).as_str()
            ))
        }
        Command::User(UserCommand::Disable { email }) => {
            let user = admin.disable(&email).await?;
            Ok(format!(
                "disabled {} and signed it out everywhere",
                user.email
            ))
        }
        Command::User(UserCommand::Enable { email }) => {
            let user = admin.enable(&email).await?;
            Ok(format!("enabled {}", user.email))
        }
        Command::Revoke(RevokeArgs {
            user: Some(who), ..
        }) => {
            let user = admin.revoke_user(&who).await?;
            Ok(format!("signed {} out everywhere", user.email))
        }
        Command::Revoke(RevokeArgs {
            session: Some(sid), ..
        }) => {
            admin.revoke_session(&sid).await?;
            Ok(format!("ended session {sid}"))
        }
        Command::Revoke(_) => Err(AdminError::Invalid(
            "revoke: give --user or --session".into(),
        )),
        Command::Purge => {
            let deleted = admin.purge().await?;
            Ok(format!("purged {deleted} expired row(s)"))
        }
    }
}

/// The new password: typed twice at a terminal (not echoed), else the first line of standard
/// input, so scripts can pipe it in.
fn read_new_password() -> Result<SecretString, AdminError> {
    let unreadable =
        |e: std::io::Error| AdminError::Invalid(format!("cannot read the password: {e}"));
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(unreadable)?;
        let again = rpassword::prompt_password("Password again: ").map_err(unreadable)?;
        if first != again {
            return Err(AdminError::Invalid("the passwords differ".into()));
        }
        return Ok(first.into());
    }
    let mut raw = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut raw)
        .map_err(unreadable)?;
    // Wrapped at once, so the line is wiped when dropped.
    let raw = SecretString::from(raw);
    Ok(raw.expose_secret().trim_end_matches(['\n', '\r']).into())
}

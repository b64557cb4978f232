//! How doorward sends mail: `DOORWARD_SMTP_URL` when set, else files in an outbox directory
//! (`DOORWARD_MAIL_OUTBOX`), so verification and reset links work on a laptop and in tests.

use std::path::PathBuf;

use secrecy::SecretString;

use super::ConfigError;

/// Where mail goes.
#[derive(Debug, Clone)]
pub enum MailTransport {
    /// Each message as an `.eml` file in this directory (created when missing).
    Outbox(PathBuf),
    /// An SMTP server, as lettre reads its URL (`smtp://`, `smtps://`; secret: it may hold a
    /// password).
    Smtp(SecretString),
}

/// The mail settings.
#[derive(Debug, Clone)]
pub struct MailSettings {
    /// `DOORWARD_SMTP_URL`, else `DOORWARD_MAIL_OUTBOX` (default `outbox`).
    pub transport: MailTransport,
    /// `DOORWARD_MAIL_FROM` (default `doorward <doorward@localhost>`).
    pub from: String,
    /// `DOORWARD_REQUIRE_VERIFIED_EMAIL` (default `false`): whether an account must have
    /// followed its verification link before it may sign in.
    pub require_verified_email: bool,
}

impl MailSettings {
    pub(super) fn read(var: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let transport = match var("DOORWARD_SMTP_URL") {
            Some(url) => {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Err(ConfigError::new(
                        "DOORWARD_SMTP_URL",
                        "expected smtp://… or smtps://…",
                    ));
                }
                MailTransport::Smtp(SecretString::from(url))
            }
            None => MailTransport::Outbox(PathBuf::from(
                var("DOORWARD_MAIL_OUTBOX").unwrap_or_else(|| "outbox".to_owned()),
            )),
        };
        let from =
            var("DOORWARD_MAIL_FROM").unwrap_or_else(|| "doorward <doorward@localhost>".to_owned());
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                "DOORWARD_MAIL_FROM",
                format!("expected an address such as 'doorward <id@example.com>', got '{from}'"),
            ));
        }
        let require_verified_email = match var("DOORWARD_REQUIRE_VERIFIED_EMAIL").as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ConfigError::new(
                    "DOORWARD_REQUIRE_VERIFIED_EMAIL",
                    format!("expected true or false, got '{other}'"),
                ));
            }
        };
        Ok(Self {
            transport,
            from,
            require_verified_email,
        })
    }
}

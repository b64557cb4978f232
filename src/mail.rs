//! Sending mail: the two messages doorward writes (verify your address, reset your password),
//! through SMTP (`DOORWARD_SMTP_URL`) or into the outbox directory, one `.eml` file a message.
//! Both transports are lettre's, async, so no worker thread waits on a mail server.

use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::message::{Body, Mailbox, SinglePart};
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::ExposeSecret;

use crate::config::{MailSettings, MailTransport};

/// Why a message was not sent; logged, never shown (it may name the mail server).
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The outbox directory could not be made.
    #[error("the outbox directory cannot be made: {0}")]
    Outbox(#[from] std::io::Error),
    /// The SMTP URL is not usable.
    #[error("DOORWARD_SMTP_URL: {0}")]
    Url(lettre::transport::smtp::Error),
    /// The message could not be built (an address lettre refuses).
    #[error("the message cannot be built: {0}")]
    Build(String),
    /// The server refused it or could not be reached.
    #[error("SMTP: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    /// The file could not be written.
    #[error("outbox: {0}")]
    File(#[from] lettre::transport::file::Error),
}

enum Transport {
    Outbox(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// The configured transport and sender.
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
}

/// One of doorward's messages, addressed.
pub struct Mail<'a> {
    /// The recipient's address.
    pub to: &'a str,
    /// The subject line.
    pub subject: &'static str,
    /// Plain text in ASCII CRLF lines (the links are URLs), sent 7-bit so no encoding splits a
    /// link.
    pub body: String,
}

impl Mailer {
    /// Builds the transport: makes the outbox directory, or reads the SMTP URL.
    pub fn new(settings: &MailSettings) -> Result<Self, MailError> {
        let transport = match &settings.transport {
            MailTransport::Outbox(dir) => {
                std::fs::create_dir_all(dir)?;
                Transport::Outbox(AsyncFileTransport::new(dir))
            }
            MailTransport::Smtp(url) => Transport::Smtp(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
                    .map_err(MailError::Url)?
                    .build(),
            ),
        };
        let from = settings
            .from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        Ok(Self { transport, from })
    }

    /// Sends one message.
    pub async fn send(&self, mail: Mail<'_>) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Build(e.to_string()))?;
        // 7-bit as written: lettre would quoted-print any line over 76 characters, which splits
        // a link across lines; RFC 5322 allows 998.
        let fits = mail.body.is_ascii() && mail.body.split("\r\n").all(|line| line.len() <= 998);
        if !fits
            || mail.body.contains(['\0'])
            || mail.body.replace("\r\n", "").contains(['\r', '\n'])
        {
            return Err(MailError::Build(
                "the body is not 7-bit text in CRLF lines".into(),
            ));
        }
        let body =
            Body::dangerous_pre_encoded(mail.body.into_bytes(), ContentTransferEncoding::SevenBit);
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(body),
            )
            .map_err(|e| MailError::Build(e.to_string()))?;
        match &self.transport {
            Transport::Outbox(files) => files.send(message).await.map(drop)?,
            Transport::Smtp(smtp) => smtp.send(message).await.map(drop)?,
        }
        Ok(())
    }
}

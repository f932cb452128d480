//! The ticket email: composed with lettre's builder, sent through the
//! [`Mailer`] port.
//!
//! The message is `multipart/mixed`: first a `multipart/related` holding
//! the `multipart/alternative` text and HTML bodies and the QR code as an
//! inline PNG the HTML shows by `cid:`, then the `.ics` calendar entry as
//! an attachment.

use super::ics;
use super::recorder::Recorder;
use super::{TicketNotice, TransportError};
use async_trait::async_trait;
use lettre::message::header::{ContentType, Header, HeaderName, HeaderValue};
use lettre::message::{Attachment, Mailbox, MultiPart};
use lettre::{Address, Message, Transport};
use std::fmt::{Debug, Write as _};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// The header carrying the outbox message id: the key a receiver dedupes
/// by, since a message may be delivered more than once.
pub const MESSAGE_ID_HEADER: &str = "X-Booking-Message-Id";

/// How ticket emails are addressed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailSettings {
    /// The sender, as a mailbox (`Box Office <tickets@example.com>`); also
    /// the envelope sender.
    pub from: String,
    /// The domain that names this sender's messages: it ends every
    /// `Message-ID`, inline image `Content-ID` and calendar `UID`.
    pub domain: String,
}

impl EmailSettings {
    /// Settings sending from `from`, naming messages under `domain`.
    pub fn new(from: impl Into<String>, domain: impl Into<String>) -> Self {
        EmailSettings { from: from.into(), domain: domain.into() }
    }
}

/// A composed email, ready for any transport: the envelope and the whole
/// RFC 5322 message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    /// The envelope sender address.
    pub from: String,
    /// The envelope recipients.
    pub to: Vec<String>,
    /// The `Message-ID` (with its angle brackets), the same each time the
    /// same outbox message is composed.
    pub message_id: String,
    /// The outbox message id, also in the [`MESSAGE_ID_HEADER`] header.
    pub dedupe_key: String,
    /// The message, CRLF line endings.
    pub raw: Vec<u8>,
}

/// Why an email could not be composed. The notice or the settings must
/// change; sending it again as it is fails again.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EmailError {
    /// [`EmailSettings::from`] is not a mailbox.
    #[error("the sender {0:?} is not a mailbox")]
    BadSender(String),
    /// The recipient is not an address.
    #[error("the recipient is not an email address")]
    BadRecipient,
    /// [`EmailSettings::domain`] is not a domain name.
    #[error("{0:?} is not a domain name")]
    BadDomain(String),
    /// lettre refused to build the message.
    #[error("the message could not be built: {0}")]
    Build(String),
}

/// Sends composed emails: an SMTP relay, a mail API, a file, a stub.
///
/// `Ok` means the transport took the email; an error means it did not and
/// the caller may try again. A transport should pass the email on as it is
/// (its `raw` bytes), keeping the [`MESSAGE_ID_HEADER`] and `Message-ID`
/// headers receivers dedupe by.
#[async_trait]
pub trait Mailer: Send + Sync + Debug {
    /// Sends one email.
    async fn send(&self, email: &Email) -> Result<(), TransportError>;
}

/// Composes the ticket email for `notice`, addressed to `to` (the
/// directory's address for the holder), with `dedupe_key` (the outbox
/// message id) in its headers. The same inputs give the same message but
/// for its `Date` header.
pub fn compose_email(
    notice: &TicketNotice,
    to: &str,
    settings: &EmailSettings,
    dedupe_key: &str,
) -> Result<Email, EmailError> {
    let from = Mailbox::from_str(&settings.from).map_err(|_| EmailError::BadSender(settings.from.clone()))?;
    let to_address = Address::from_str(to).map_err(|_| EmailError::BadRecipient)?;
    let domain = &settings.domain;
    if !valid_domain(domain) {
        return Err(EmailError::BadDomain(domain.clone()));
    }
    let key_hash = short_hash(dedupe_key);
    let message_id = format!("<{key_hash}@{domain}>");
    let qr_cid = format!("qr.{key_hash}@{domain}");

    let html = html_body(notice, &qr_cid);
    let text = text_body(notice);
    let calendar = ics::calendar(notice, domain);

    let png = ContentType::parse("image/png").map_err(|e| EmailError::Build(e.to_string()))?;
    let calendar_type = ContentType::parse("text/calendar; charset=utf-8; method=PUBLISH")
        .map_err(|e| EmailError::Build(e.to_string()))?;
    let qr = Attachment::new_inline_with_name(qr_cid, "ticket-qr.png".to_owned()).body(notice.qr_png.clone(), png);
    let ics_part = Attachment::new("ticket.ics".to_owned()).body(calendar, calendar_type);

    let message = Message::builder()
        .from(from.clone())
        .to(Mailbox::new(notice.holder_name.clone(), to_address.clone()))
        .subject(format!("Your ticket: {}", notice.show_title))
        .message_id(Some(message_id.clone()))
        .header(DedupeKey(dedupe_key.to_owned()))
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::related().multipart(MultiPart::alternative_plain_html(text, html)).singlepart(qr))
                .singlepart(ics_part),
        )
        .map_err(|e| EmailError::Build(e.to_string()))?;

    Ok(Email {
        from: from.email.to_string(),
        to: vec![to_address.to_string()],
        message_id,
        dedupe_key: dedupe_key.to_owned(),
        raw: message.formatted(),
    })
}

/// The outbox message id as a header; lettre encodes the value, so no
/// character of it can start a header of its own.
#[derive(Clone, Debug)]
struct DedupeKey(String);

impl Header for DedupeKey {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(MESSAGE_ID_HEADER)
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(DedupeKey(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

/// The first 128 bits of SHA-256, hex: a stable, header-safe name for an
/// arbitrary key.
fn short_hash(key: &str) -> String {
    // The entity tag of the seat map renderer is exactly that, quoted.
    crate::seatmap::etag(key).trim_matches('"').to_owned()
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// Escapes text for HTML element content and quoted attribute values.
/// Not the seat map's XML escaper: its `&apos;` is not HTML 4, which some
/// mail clients still render by.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn when(notice: &TicketNotice) -> String {
    format!(
        "{} to {} UTC",
        notice.starts_at.format("%A %-d %B %Y, %H:%M"),
        if notice.ends_at.date_naive() == notice.starts_at.date_naive() {
            notice.ends_at.format("%H:%M").to_string()
        } else {
            notice.ends_at.format("%A %-d %B %Y, %H:%M").to_string()
        }
    )
}

fn html_body(notice: &TicketNotice, qr_cid: &str) -> String {
    let title = html_escape(&notice.show_title);
    let mut html = String::new();
    html.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    html.push_str(&title);
    html.push_str("</title></head>\n<body style=\"font-family:sans-serif\">\n");
    let _ = writeln!(html, "<h1>{title}</h1>");
    if let Some(name) = &notice.holder_name {
        let _ = writeln!(html, "<p>Ticket holder: {}</p>", html_escape(name));
    }
    let _ = writeln!(html, "<p><strong>{}</strong></p>", html_escape(&notice.venue));
    let _ = writeln!(html, "<p>{}</p>", html_escape(&when(notice)));
    let _ = writeln!(html, "<p>Seat: <strong>{}</strong></p>", html_escape(&notice.seat));
    let _ = writeln!(
        html,
        "<p><img src=\"cid:{}\" alt=\"Ticket QR code\" width=\"240\" height=\"240\"></p>",
        html_escape(qr_cid)
    );
    let _ = writeln!(html, "<p>Show this code at the entrance. Ticket {}.</p>", html_escape(&notice.ticket_id));
    if let Some(url) = &notice.wallet.apple {
        let _ = writeln!(html, "<p><a href=\"{}\">Add to Apple Wallet</a></p>", html_escape(url));
    }
    if let Some(url) = &notice.wallet.google {
        let _ = writeln!(html, "<p><a href=\"{}\">Add to Google Wallet</a></p>", html_escape(url));
    }
    html.push_str("<p>The attached calendar entry adds the show to your calendar.</p>\n</body></html>\n");
    html
}

fn text_body(notice: &TicketNotice) -> String {
    let mut text = format!("{}\n\n", notice.show_title);
    if let Some(name) = &notice.holder_name {
        let _ = writeln!(text, "Ticket holder: {name}");
    }
    let _ = writeln!(text, "{}\n{}\nSeat: {}\n", notice.venue, when(notice), notice.seat);
    let _ = writeln!(text, "Ticket {}: show the QR code in this email at the entrance.", notice.ticket_id);
    if let Some(url) = &notice.wallet.apple {
        let _ = writeln!(text, "Add to Apple Wallet: {url}");
    }
    if let Some(url) = &notice.wallet.google {
        let _ = writeln!(text, "Add to Google Wallet: {url}");
    }
    text
}

/// Writes each email as an `.eml` file in a directory (lettre's file
/// transport): for development, to open sent tickets in a mail reader.
#[derive(Debug, Clone)]
pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    /// Writes into `dir`, which must exist.
    pub fn new(dir: impl AsRef<Path>) -> Self {
        FileMailer { dir: dir.as_ref().to_path_buf() }
    }

    /// The directory written to.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for FileMailer {
    async fn send(&self, email: &Email) -> Result<(), TransportError> {
        let from = Address::from_str(&email.from).map_err(|e| TransportError::Rejected(e.to_string()))?;
        let to = email
            .to
            .iter()
            .map(|a| Address::from_str(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TransportError::Rejected(e.to_string()))?;
        let envelope =
            lettre::address::Envelope::new(Some(from), to).map_err(|e| TransportError::Rejected(e.to_string()))?;
        let transport = lettre::FileTransport::new(&self.dir);
        let raw = email.raw.clone();
        // The file transport writes synchronously: keep it off the runtime's
        // worker threads.
        tokio::task::spawn_blocking(move || transport.send_raw(&envelope, &raw))
            .await
            .map_err(|e| TransportError::Backend(Box::new(e)))?
            .map(|_| ())
            .map_err(|e| TransportError::Backend(Box::new(e)))
    }
}

/// Keeps the emails it is given, and fails on demand: the mailer of tests.
#[derive(Debug, Clone, Default)]
pub struct StubMailer {
    log: Recorder<Email>,
}

impl StubMailer {
    /// A mailer that accepts everything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` sends fail with [`TransportError::Unavailable`] (and
    /// keep nothing).
    pub fn fail_next(&self, n: u32) {
        self.log.fail_next(n);
    }

    /// The emails accepted so far, oldest first.
    pub fn sent(&self) -> Vec<Email> {
        self.log.accepted()
    }
}

#[async_trait]
impl Mailer for StubMailer {
    async fn send(&self, email: &Email) -> Result<(), TransportError> {
        if self.log.accept(email) {
            Ok(())
        } else {
            Err(TransportError::Unavailable("the stub was told to fail".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            html_escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn domains_are_checked() {
        assert!(valid_domain("tickets.example.com"));
        assert!(!valid_domain(""));
        assert!(!valid_domain("example..com"));
        assert!(!valid_domain("exa mple.com"));
        assert!(!valid_domain("example.com>\r\nBcc: x"));
        assert!(!valid_domain("-example.com"));
    }

    #[test]
    fn hashes_are_stable_and_short() {
        assert_eq!(short_hash("a"), short_hash("a"));
        assert_ne!(short_hash("a"), short_hash("b"));
        assert_eq!(short_hash("a").len(), 32);
    }
}

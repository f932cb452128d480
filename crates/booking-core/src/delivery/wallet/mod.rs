//! Wallet passes for a ticket (feature `wallet`): a signed Apple Wallet
//! `.pkpass` ([`apple_pass`]) and a Google Wallet "save" link
//! ([`google_save_link`]). Both carry the ticket's barcode text, shown as a
//! QR code by the wallet.
//!
//! The pass is built from a [`TicketNotice`](super::TicketNotice) and the
//! issuer's credentials: an Apple Pass Type ID certificate and key (with
//! Apple's WWDR intermediate certificate), a Google service account key.
//! Serve the `.pkpass` bytes as `application/vnd.apple.pkpass` and put its
//! URL and the save link in the notice's
//! [`WalletLinks`](super::WalletLinks).

mod apple;
mod google;

pub use apple::{APPLE_PASS_MEDIA_TYPE, ApplePassSettings, PassFile, PassSigner, apple_pass};
pub use google::{GOOGLE_SAVE_URL, GoogleWalletSettings, google_save_claims, google_save_link};

use super::NoticeError;
use thiserror::Error;

/// Why a pass could not be built. Nothing was produced.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WalletError {
    /// The ticket notice is malformed.
    #[error("invalid ticket notice: {0}")]
    Invalid(#[from] NoticeError),
    /// A setting is not acceptable.
    #[error("setting {field}: {reason}")]
    BadSetting {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A certificate or key could not be read (not PEM, not RSA, not a
    /// certificate).
    #[error("cannot read the {what}: {reason}")]
    Credential {
        /// Which credential.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A file given for the pass has a name it may not have (a path, a
    /// name the pass reserves, a duplicate).
    #[error("pass file {0:?}: not a plain image name, reserved, or given twice")]
    BadFile(String),
    /// Apple Wallet refuses a pass without `icon.png`.
    #[error("the pass needs an icon.png")]
    MissingIcon,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// Writing the archive failed.
    #[error("writing the pass failed: {0}")]
    Archive(String),
}

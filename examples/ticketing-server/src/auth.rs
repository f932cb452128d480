//! Accounts and sessions: demo users with argon2-hashed passwords, bearer
//! session tokens, roles.
//!
//! Accounts and sessions live in process (the library has no account
//! store: an embedder brings its own identity provider). A user's id is
//! the inventory's [`OwnerId`], derived from the email address, so it is
//! the same at every start and on every backend.

use crate::problem::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine as _;
use booking_core::OwnerId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};
use utoipa::ToSchema;
use uuid::Uuid;

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Buys tickets.
    Buyer,
    /// Scans tickets at the gates.
    Scanner,
    /// Runs venues, events and shows (and may scan).
    Admin,
}

/// A user as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct User {
    /// The user's id (also the owner of their holds and orders).
    #[schema(value_type = String, format = Uuid)]
    pub id: Uuid,
    /// Email address (the login).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Role.
    pub role: Role,
}

impl User {
    /// The inventory owner this user acts as.
    pub fn owner(&self) -> OwnerId {
        OwnerId(self.id)
    }
}

/// The demo accounts: (email, password, name, role).
pub const DEMO_USERS: [(&str, &str, &str, Role); 4] = [
    ("alice@example.com", "alice-demo", "Alice", Role::Buyer),
    ("bob@example.com", "bob-demo", "Bob", Role::Buyer),
    ("admin@example.com", "admin-demo", "Admin", Role::Admin),
    ("scanner@example.com", "scanner-demo", "Gate scanner", Role::Scanner),
];

/// How long a session lasts without use.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

struct Account {
    user: User,
    hash: String,
}

/// Accounts by email and sessions by token.
pub struct Accounts {
    accounts: RwLock<HashMap<String, Account>>,
    sessions: RwLock<HashMap<String, (Uuid, Instant)>>,
    /// A valid hash to verify against for unknown emails, so that a
    /// missing account takes as long as a wrong password.
    decoy: String,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

/// The stable user id of an email address.
pub fn user_id(email: &str) -> Uuid {
    let digest = Sha256::digest(format!("booking-user:{}", email.to_ascii_lowercase()));
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(b).into_uuid()
}

fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    match Argon2::default().hash_password(password.as_bytes(), &salt) {
        Ok(h) => h.to_string(),
        // Hashing only fails for parameters out of range; the defaults are not.
        Err(e) => panic!("argon2: {e}"),
    }
}

impl Accounts {
    /// The demo accounts, passwords hashed with argon2id.
    pub fn demo() -> Self {
        let accounts = Accounts {
            accounts: RwLock::new(HashMap::new()),
            sessions: RwLock::new(HashMap::new()),
            decoy: hash("decoy password"),
        };
        for (email, password, name, role) in DEMO_USERS {
            accounts.add(email, password, name, role);
        }
        accounts
    }

    /// Adds (or replaces) an account.
    pub fn add(&self, email: &str, password: &str, name: &str, role: Role) -> User {
        let email = email.to_ascii_lowercase();
        let user = User { id: user_id(&email), email: email.clone(), name: name.to_owned(), role };
        let account = Account { user: user.clone(), hash: hash(password) };
        self.accounts.write().unwrap_or_else(|e| e.into_inner()).insert(email, account);
        user
    }

    /// Every account.
    pub fn users(&self) -> Vec<User> {
        self.accounts.read().unwrap_or_else(|e| e.into_inner()).values().map(|a| a.user.clone()).collect()
    }

    /// Checks a password and opens a session: its token and the user.
    ///
    /// Errors: 401 `invalid_credentials` (the same for an unknown email).
    pub fn login(&self, email: &str, password: &str) -> Result<(String, User), ApiError> {
        let found = {
            let accounts = self.accounts.read().unwrap_or_else(|e| e.into_inner());
            accounts.get(&email.to_ascii_lowercase()).map(|a| (a.user.clone(), a.hash.clone()))
        };
        let stored = found.as_ref().map_or(self.decoy.as_str(), |(_, h)| h.as_str());
        let ok =
            PasswordHash::new(stored).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        match found {
            Some((user, _)) if ok => {
                let mut raw = [0u8; 32];
                rand::fill(&mut raw);
                let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
                self.sessions
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(token.clone(), (user.id, Instant::now() + SESSION_TTL));
                Ok((token, user))
            }
            _ => Err(ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong email or password",
            )),
        }
    }

    /// Ends a session; ending an unknown one changes nothing.
    pub fn logout(&self, token: &str) {
        self.sessions.write().unwrap_or_else(|e| e.into_inner()).remove(token);
    }

    /// The user of a live session token.
    pub fn session(&self, token: &str) -> Option<User> {
        let id = {
            let sessions = self.sessions.read().unwrap_or_else(|e| e.into_inner());
            match sessions.get(token) {
                Some((id, until)) if *until > Instant::now() => *id,
                _ => return None,
            }
        };
        let accounts = self.accounts.read().unwrap_or_else(|e| e.into_inner());
        accounts.values().find(|a| a.user.id == id).map(|a| a.user.clone())
    }
}

//! Configuration: defaults, then an optional TOML file, then environment
//! variables and flags (clap reads both; flags win).

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the stores live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
pub enum Backend {
    /// Everything in process (the default; nothing survives a restart).
    #[serde(rename = "memory")]
    #[value(name = "memory")]
    Memory,
    /// Every store on PostgreSQL (`DATABASE_URL`).
    #[serde(rename = "postgres")]
    #[value(name = "postgres")]
    Postgres,
    /// Every store with a Redis implementation on Redis (`REDIS_URL`); the
    /// catalog stays in process.
    #[serde(rename = "redis")]
    #[value(name = "redis")]
    Redis,
    /// PostgreSQL for everything, with the Redis seat lock in front of the
    /// PostgreSQL inventory.
    #[serde(rename = "redis+postgres")]
    #[value(name = "redis+postgres")]
    RedisPostgres,
}

impl Backend {
    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Memory => "memory",
            Backend::Postgres => "postgres",
            Backend::Redis => "redis",
            Backend::RedisPostgres => "redis+postgres",
        }
    }
}

/// Per-route rate limits: requests per minute and burst, per account.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Holds (create, extend, release) per account per minute.
    pub holds_per_minute: u32,
    /// Burst of holds.
    pub holds_burst: u32,
    /// Checkouts per account per minute.
    pub checkouts_per_minute: u32,
    /// Burst of checkouts.
    pub checkouts_burst: u32,
    /// Queue joins and status reads per account per minute.
    pub queue_per_minute: u32,
    /// Burst of queue requests.
    pub queue_burst: u32,
    /// Login attempts per client address per minute.
    pub logins_per_minute: u32,
    /// Burst of login attempts.
    pub logins_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            holds_per_minute: 60,
            holds_burst: 20,
            checkouts_per_minute: 20,
            checkouts_burst: 10,
            queue_per_minute: 240,
            queue_burst: 60,
            logins_per_minute: 20,
            logins_burst: 10,
        }
    }
}

/// A Google Wallet issuer: tickets get "save to Google Wallet" links,
/// signed with the service account's key.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoogleWallet {
    /// The issuer id (digits, from the Google Pay & Wallet console).
    pub issuer_id: String,
    /// The service account that signs the links.
    pub service_account_email: String,
    /// The name shown on the passes.
    pub issuer_name: String,
    /// A PEM file with the service account's RSA private key.
    pub key_file: PathBuf,
}

/// An Apple Wallet pass issuer: tickets get an "Add to Apple Wallet" link
/// to `/api/tickets/{ticket_id}/wallet.pkpass`, a pass signed with the
/// Pass Type ID certificate.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppleWallet {
    /// The Pass Type ID (`pass.com.example.tickets`), as in the certificate.
    pub pass_type_id: String,
    /// The Apple Developer team id (`A1B2C3D4E5`).
    pub team_id: String,
    /// The organisation shown on the passes.
    pub organization_name: String,
    /// A PEM file with the Pass Type ID certificate.
    pub certificate_file: PathBuf,
    /// A PEM file with the certificate's RSA key (unencrypted PKCS#8 or
    /// PKCS#1).
    pub key_file: PathBuf,
    /// PEM files of the intermediate certificates sent with the signature:
    /// Apple's WWDR certificate (none for a test certificate).
    #[serde(default)]
    pub intermediate_files: Vec<PathBuf>,
    /// A PNG shown as the pass's icon; the ticket's QR code without it.
    #[serde(default)]
    pub icon_file: Option<PathBuf>,
}

/// The server's settings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The stores.
    pub backend: Backend,
    /// PostgreSQL for the `postgres` and `redis+postgres` backends.
    pub database_url: Option<String>,
    /// Redis for the `redis` and `redis+postgres` backends.
    pub redis_url: Option<String>,
    /// Prefix of every Redis key (no braces).
    pub redis_prefix: String,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Where the file mailer writes ticket emails (`<data_dir>/mail`).
    pub data_dir: PathBuf,
    /// Create the demo venues, events, shows when the catalog is empty.
    pub demo: bool,
    /// Secret from which the ticket-signing and admission keys derive.
    /// Unset: random at each start (tickets of an earlier run stop
    /// verifying).
    pub secret: Option<String>,
    /// Seconds before a request is answered 408 (streams excepted).
    pub request_timeout_secs: u64,
    /// Largest request body, in bytes.
    pub body_limit_bytes: usize,
    /// Rate limits.
    pub limits: Limits,
    /// Google Wallet save links on tickets (TOML only); none without it.
    pub google_wallet: Option<GoogleWallet>,
    /// Apple Wallet passes for tickets (TOML only); none without it.
    pub apple_wallet: Option<AppleWallet>,
    /// Run the background workers (sweeper, completer, outbox relay,
    /// waves, availability). Tests turn them off and call
    /// [`crate::AppState::tick`].
    pub workers: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            backend: Backend::Memory,
            database_url: None,
            redis_url: None,
            redis_prefix: "booking:".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("target/ticketing-data"),
            demo: true,
            secret: None,
            request_timeout_secs: 15,
            body_limit_bytes: 1 << 20,
            limits: Limits::default(),
            google_wallet: None,
            apple_wallet: None,
            workers: true,
        }
    }
}

/// Command-line flags; each can also be set by its environment variable.
#[derive(Debug, clap::Parser)]
#[command(name = "ticketing-server", version, about = "A ticketing server on the booking library")]
pub struct Flags {
    /// A TOML file with any of the settings (flags and variables win).
    #[arg(long, env = "BOOKING_CONFIG")]
    pub config: Option<PathBuf>,
    /// memory | postgres | redis | redis+postgres.
    #[arg(long, env = "BOOKING_BACKEND")]
    pub backend: Option<Backend>,
    /// PostgreSQL URL.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Redis URL.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, env = "BOOKING_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Data directory (ticket emails go to <dir>/mail).
    #[arg(long, env = "BOOKING_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Key-derivation secret for tickets and admission tokens.
    #[arg(long, env = "BOOKING_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Do not create the demo data.
    #[arg(long)]
    pub no_demo: bool,
}

impl Flags {
    /// The configuration these flags (and the file they name) give.
    ///
    /// Errors: the file cannot be read or is not valid TOML of [`Config`].
    pub fn config(&self) -> Result<Config, String> {
        let mut c = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => Config::default(),
        };
        if let Some(b) = self.backend {
            c.backend = b;
        }
        if self.database_url.is_some() {
            c.database_url.clone_from(&self.database_url);
        }
        if self.redis_url.is_some() {
            c.redis_url.clone_from(&self.redis_url);
        }
        if let Some(l) = self.listen {
            c.listen = l;
        }
        if let Some(d) = &self.data_dir {
            c.data_dir.clone_from(d);
        }
        if self.secret.is_some() {
            c.secret.clone_from(&self.secret);
        }
        if self.no_demo {
            c.demo = false;
        }
        Ok(c)
    }
}

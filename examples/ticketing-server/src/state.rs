//! The application state: the stores, the library's services over them,
//! and the few things the server keeps in process (sessions, hold tokens,
//! seat-map drawings, live-feed hubs).

use crate::auth::Accounts;
use crate::config::{Config, Limits};
use crate::live::Hubs;
use crate::payments::DemoCards;
use crate::stores::Stores;
use booking_core::admission::{Keyring, RoomId, TokenVerifier, WaitingRoom, WaitingRoomStore};
use booking_core::catalog::AvailabilitySync;
use booking_core::checkout::{Checkout, CheckoutConfig, Completer, OutboxRelay, PriceTable};
use booking_core::delivery::wallet::{ApplePassSettings, GoogleWalletSettings, PassSigner};
use booking_core::delivery::{ContactBook, EmailSettings, FileMailer, OtherTopics, TicketDelivery};
use booking_core::fulfilment::TicketFulfilment;
use booking_core::ids::VenueId;
use booking_core::limits::{AbuseGuard, LimitError, Quota, RateLimiter};
use booking_core::maintenance::{Maintenance, MaintenanceConfig};
use booking_core::seatmap::SeatMap;
use booking_core::testkit::payments::SimulatedProvider;
use booking_core::tickets::{KeyId, SigningKeyring, TicketIssuer};
use booking_core::worker::Worker;
use booking_core::{Clock, HoldId, HoldToken, OwnerId, SeatInventory, ShowId, ShowSpec, SystemClock};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// How long a hold is remembered after it ends: a checkout replayed
/// within this time still finds its hold.
pub const HOLD_MEMORY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// A hold the server handed out: its owner and newest token.
#[derive(Clone, Debug)]
pub struct HoldEntry {
    /// Who holds it.
    pub owner: OwnerId,
    /// The newest token (the one a checkout presents).
    pub token: HoldToken,
    /// Until when it is held, as the inventory said.
    pub held_until: chrono::DateTime<chrono::Utc>,
}

/// The guards per route family.
#[derive(Clone, Debug)]
pub struct Guards {
    /// Holds: create, extend, release.
    pub holds: AbuseGuard,
    /// Checkouts.
    pub checkout: AbuseGuard,
    /// Queue joins and status.
    pub queue: AbuseGuard,
    /// Logins, per client address.
    pub login: AbuseGuard,
}

impl Guards {
    fn new(stores: &Stores, l: &Limits) -> Result<Self, LimitError> {
        let guard = |name: &str, per_minute: u32, burst: u32, by_ip: bool| -> Result<AbuseGuard, LimitError> {
            let quota = Quota::per_minute(per_minute.max(1), burst.max(1))?;
            let limiter = RateLimiter::new(stores.rates.clone(), name)?;
            let limiter = if by_ip { limiter.per_ip(quota) } else { limiter.per_account(quota) };
            Ok(AbuseGuard::new(stores.blacklist.clone()).with_limits(limiter))
        };
        Ok(Guards {
            holds: guard("holds", l.holds_per_minute, l.holds_burst, false)?,
            checkout: guard("checkout", l.checkouts_per_minute, l.checkouts_burst, false)?,
            queue: guard("queue", l.queue_per_minute, l.queue_burst, false)?,
            login: guard("login", l.logins_per_minute, l.logins_burst, true)?,
        })
    }
}

/// Everything a handler needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState(pub Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The shared state behind [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// The configuration it was built from.
    pub config: Config,
    /// The stores.
    pub stores: Stores,
    /// The server's clock (tokens, availability stamps).
    pub clock: Arc<dyn Clock>,
    /// The checkout saga.
    pub checkout: Checkout,
    /// The simulated card provider behind the checkout.
    pub provider: SimulatedProvider,
    /// Prices per show (from the catalog's price levels).
    pub prices: Arc<PriceTable>,
    /// The waiting rooms.
    pub rooms: Arc<WaitingRoom<dyn WaitingRoomStore>>,
    /// Admission-token checks, revocations cached for a second.
    pub verifier: TokenVerifier<dyn WaitingRoomStore>,
    /// Ticket signing.
    pub issuer: Arc<TicketIssuer>,
    /// Accounts and sessions.
    pub accounts: Accounts,
    /// Holders' email addresses, for ticket delivery.
    pub contacts: Arc<ContactBook>,
    /// Rate limits and blacklist.
    pub guards: Guards,
    /// Holds handed out, by id.
    pub holds: Mutex<HashMap<HoldId, HoldEntry>>,
    /// Seat-map drawings per venue (as uploaded) and per show.
    pub venue_maps: RwLock<HashMap<VenueId, Arc<SeatMap>>>,
    /// Seat-map drawings per show.
    pub show_maps: RwLock<HashMap<ShowId, Arc<SeatMap>>>,
    /// Show specifications (they never change once created).
    pub specs: RwLock<HashMap<ShowId, Arc<ShowSpec>>>,
    /// Live seat feeds per show.
    pub hubs: Hubs,
    /// Background work: sweeper, completer, relay, availability.
    pub maintenance: Maintenance<dyn SeatInventory>,
    /// The saga completer.
    pub completer: Completer,
    /// The outbox relay (ticket fulfilment and email).
    pub relay: OutboxRelay,
    /// Catalog availability refresh.
    pub availability: Arc<AvailabilitySync<dyn booking_core::catalog::Catalog, dyn SeatInventory>>,
    /// Running workers (and one wave worker per waiting room).
    pub workers: Mutex<Vec<Worker>>,
    /// Waiting rooms with a wave worker.
    pub waves: Mutex<HashSet<ShowId>>,
    /// Set when shutting down: readiness fails, live streams end.
    pub stopping: AtomicBool,
    /// Tells live streams to end.
    pub shutdown: tokio::sync::watch::Sender<bool>,
    /// How many checkouts are running now (see
    /// [`AppState::checkout_started`]); shutdown waits for none.
    pub checkouts_in_flight: tokio::sync::watch::Sender<usize>,
    /// Google Wallet signing, when configured.
    pub google_wallet: Option<GoogleWalletSettings>,
    /// Apple Wallet signing, when configured.
    pub apple_wallet: Option<AppleWalletIssuer>,
}

/// What signs Apple Wallet passes: the issuer, its certificate and key,
/// the pass's icon (`None`: the ticket's QR code).
#[derive(Clone, Debug)]
pub struct AppleWalletIssuer {
    /// Who the passes are from.
    pub settings: ApplePassSettings,
    /// The certificate and key.
    pub signer: PassSigner,
    /// The `icon.png` of every pass, when configured.
    pub icon_png: Option<Vec<u8>>,
}

impl AppleWalletIssuer {
    /// The issuer the `[apple_wallet]` settings describe.
    ///
    /// Errors: a file cannot be read, a certificate or key is not valid.
    pub fn from_config(a: &crate::config::AppleWallet) -> Result<Self, String> {
        let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let cert = read(&a.certificate_file)?;
        let key = read(&a.key_file)?;
        let intermediates = a.intermediate_files.iter().map(|p| read(p)).collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&str> = intermediates.iter().map(String::as_str).collect();
        let signer = PassSigner::from_pem(&cert, &key, &refs).map_err(|e| format!("apple_wallet: {e}"))?;
        let icon_png = match &a.icon_file {
            None => None,
            Some(p) => Some(std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()))?),
        };
        let settings = ApplePassSettings {
            pass_type_identifier: a.pass_type_id.clone(),
            team_identifier: a.team_id.clone(),
            organization_name: a.organization_name.clone(),
            description: "Ticket".into(),
        };
        Ok(AppleWalletIssuer { settings, signer, icon_png })
    }
}

/// How long shutdown waits for running checkouts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A running checkout, counted in [`Inner::checkouts_in_flight`] until
/// dropped.
#[derive(Debug)]
pub struct CheckoutInFlight(AppState);

impl Drop for CheckoutInFlight {
    fn drop(&mut self) {
        self.0.checkouts_in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// A 32-byte key derived from the configured secret (or random).
fn derive(secret: &[u8], label: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0]);
    h.update(secret);
    h.finalize().into()
}

impl AppState {
    /// The state over `stores`, configured by `config`: services built,
    /// workers not started (see [`AppState::start_workers`]).
    ///
    /// Errors: a bad limit setting, the data directory cannot be made.
    pub fn new(config: Config, stores: Stores) -> Result<Self, String> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let secret: Vec<u8> = match &config.secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                let mut b = [0u8; 32];
                rand::fill(&mut b);
                b.to_vec()
            }
        };
        let prices = Arc::new(PriceTable::new());
        let provider = SimulatedProvider::new(clock.clone());
        let checkout = Checkout::new(
            stores.inventory.clone(),
            Arc::new(DemoCards::new(provider.clone())),
            stores.saga_log.clone(),
            stores.outbox.clone(),
            stores.keys.clone(),
            prices.clone(),
            clock.clone(),
            CheckoutConfig::default(),
        );
        let keyring = Keyring::new("k1", &derive(&secret, "admission")).map_err(|e| e.to_string())?;
        let rooms: Arc<WaitingRoom<dyn WaitingRoomStore>> =
            Arc::new(WaitingRoom::new(stores.rooms.clone(), clock.clone(), keyring));
        let verifier = rooms.verifier(Duration::from_secs(1));
        let issuer = Arc::new(TicketIssuer::new(SigningKeyring::new(KeyId(1), derive(&secret, "tickets"))));
        let accounts = Accounts::demo();
        let contacts = Arc::new(ContactBook::new());
        for user in accounts.users() {
            contacts.set(user.owner(), booking_core::delivery::Contact::email(user.email.clone()));
        }
        let guards = Guards::new(&stores, &config.limits).map_err(|e| e.to_string())?;
        let maintenance = Maintenance::new(
            stores.inventory.clone(),
            MaintenanceConfig { sweep_limit: 10_000, feed_retention: Duration::from_secs(3600) },
        );
        let completer = Completer::new(checkout.clone(), Duration::from_secs(30), 100);
        let mail_dir = config.data_dir.join("mail");
        std::fs::create_dir_all(&mail_dir).map_err(|e| format!("{}: {e}", mail_dir.display()))?;
        let fulfilment = TicketFulfilment::new(
            issuer.clone(),
            stores.checkins.clone(),
            stores.catalog.clone(),
            stores.inventory.clone(),
            contacts.clone(),
            stores.outbox.clone(),
        )
        .other_topics(OtherTopics::Acknowledge);
        let delivery = TicketDelivery::new(contacts.clone())
            .with_email(
                Arc::new(FileMailer::new(&mail_dir)),
                EmailSettings::new("Box Office <tickets@example.com>", "example.com"),
            )
            .other_topics(OtherTopics::Forward(Arc::new(fulfilment)));
        let relay = OutboxRelay::new(stores.outbox.clone(), Arc::new(delivery), Duration::from_secs(30), 100);
        let availability =
            Arc::new(AvailabilitySync::new(stores.catalog.clone(), stores.inventory.clone(), clock.clone()));
        let google_wallet = match &config.google_wallet {
            None => None,
            Some(g) => {
                let pem = std::fs::read_to_string(&g.key_file).map_err(|e| format!("{}: {e}", g.key_file.display()))?;
                let settings = GoogleWalletSettings::new(&g.issuer_id, &g.service_account_email, &g.issuer_name, &pem)
                    .map_err(|e| format!("google_wallet: {e}"))?;
                Some(settings)
            }
        };
        let apple_wallet = config.apple_wallet.as_ref().map(AppleWalletIssuer::from_config).transpose()?;
        let (shutdown, _) = tokio::sync::watch::channel(false);
        Ok(AppState(Arc::new(Inner {
            hubs: Hubs::new(stores.inventory.clone()),
            config,
            stores,
            clock,
            checkout,
            provider,
            prices,
            rooms,
            verifier,
            issuer,
            accounts,
            contacts,
            guards,
            holds: Mutex::new(HashMap::new()),
            venue_maps: RwLock::new(HashMap::new()),
            show_maps: RwLock::new(HashMap::new()),
            specs: RwLock::new(HashMap::new()),
            maintenance,
            completer,
            relay,
            availability,
            workers: Mutex::new(Vec::new()),
            waves: Mutex::new(HashSet::new()),
            stopping: AtomicBool::new(false),
            shutdown,
            checkouts_in_flight: tokio::sync::watch::Sender::new(0),
            google_wallet,
            apple_wallet,
        })))
    }

    /// Starts the background workers: the sweeper (every second), the
    /// saga completer (2 s), the outbox relay (0.5 s), the availability
    /// refresh (2 s), and a wave worker for every show with a waiting room.
    pub async fn start_workers(&self) {
        let state = Arc::downgrade(&self.0);
        let started = vec![
            self.maintenance.clone().spawn(Duration::from_secs(1)),
            self.completer.clone().spawn(Duration::from_secs(2)),
            self.relay.clone().spawn(Duration::from_millis(500)),
            self.availability.clone().spawn(Duration::from_secs(2)),
            Worker::spawn(Duration::from_secs(60), move || {
                let pruned = state.upgrade().map_or(0, |s| AppState(s).prune_holds());
                async move { Ok(pruned) }
            }),
        ];
        self.workers.lock().unwrap_or_else(|e| e.into_inner()).extend(started);
        if let Ok(shows) = self.stores.inventory.list_shows().await {
            for show in shows {
                if self.stores.rooms.room(RoomId::for_show(show)).await.is_ok() {
                    self.start_waves(show);
                }
            }
        }
    }

    /// Starts admitting waves for `show`'s waiting room, once.
    pub fn start_waves(&self, show: ShowId) {
        if !self.config.workers {
            return;
        }
        let mut waves = self.waves.lock().unwrap_or_else(|e| e.into_inner());
        if waves.insert(show) {
            let worker = self.rooms.clone().spawn_waves(RoomId::for_show(show), Duration::from_secs(1));
            self.workers.lock().unwrap_or_else(|e| e.into_inner()).push(worker);
        }
    }

    /// One round of every background task, in order: sweep, complete
    /// sagas, admit a wave in every room, deliver the outbox (twice: the
    /// receipts issue tickets, which enqueue their emails), refresh
    /// availability. What the workers do over time, at once: for tests.
    pub async fn tick(&self) {
        let _ = self.maintenance.run_once().await;
        let _ = self.completer.run_once().await;
        if let Ok(shows) = self.stores.inventory.list_shows().await {
            for show in shows {
                let _ = self.rooms.admit_wave(RoomId::for_show(show)).await;
            }
        }
        let _ = self.relay.run_once().await;
        let _ = self.relay.run_once().await;
        let _ = self.availability.refresh_listed().await;
        self.prune_holds();
    }

    /// Forgets holds that ended more than [`HOLD_MEMORY`] ago (a replayed
    /// checkout names its hold, so holds are kept a while after they end);
    /// returns how many.
    pub fn prune_holds(&self) -> u64 {
        let cutoff = self.clock.now() - HOLD_MEMORY;
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let before = holds.len();
        holds.retain(|_, h| h.held_until > cutoff);
        (before - holds.len()) as u64
    }

    /// Counts a checkout as running until the returned guard is dropped.
    pub fn checkout_started(&self) -> CheckoutInFlight {
        self.checkouts_in_flight.send_modify(|n| *n += 1);
        CheckoutInFlight(self.clone())
    }

    /// Stops taking work: readiness fails, live streams end, then waits
    /// for the running checkouts to finish (at most [`SHUTDOWN_GRACE`]) and
    /// stops the workers.
    pub async fn shut_down(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _ = self.shutdown.send(true);
        let mut in_flight = self.checkouts_in_flight.subscribe();
        if tokio::time::timeout(SHUTDOWN_GRACE, in_flight.wait_for(|n| *n == 0)).await.is_err() {
            tracing::warn!(
                running = *self.checkouts_in_flight.borrow(),
                "checkouts still running at shutdown; on a persistent backend the saga completer finishes them at the next start"
            );
        }
        let workers: Vec<Worker> = std::mem::take(&mut *self.workers.lock().unwrap_or_else(|e| e.into_inner()));
        for w in workers {
            w.stop().await;
        }
    }

    /// The seat-map drawing of `show`: the venue's uploaded map, or, after
    /// a restart on a persistent backend, one drawn from the inventory's
    /// layout.
    pub async fn show_map(&self, show: ShowId) -> Result<Arc<SeatMap>, crate::problem::ApiError> {
        if let Some(m) = self.show_maps.read().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return Ok(m.clone());
        }
        let spec = self.stores.inventory.show_spec(show).await?;
        let map = Arc::new(SeatMap::from_layout(spec.name.clone(), &spec.layout, &spec.pools));
        self.show_maps.write().unwrap_or_else(|e| e.into_inner()).insert(show, map.clone());
        Ok(map)
    }

    /// A show's specification (cached: it never changes).
    pub async fn spec(&self, show: ShowId) -> Result<Arc<ShowSpec>, crate::problem::ApiError> {
        if let Some(s) = self.specs.read().unwrap_or_else(|e| e.into_inner()).get(&show) {
            return Ok(s.clone());
        }
        let spec = Arc::new(self.stores.inventory.show_spec(show).await?);
        self.specs.write().unwrap_or_else(|e| e.into_inner()).insert(show, spec.clone());
        Ok(spec)
    }
}

/// A seat's label, "Section, row R, seat N", from the show's layout.
pub fn seat_label(spec: &ShowSpec, seat: booking_core::SeatId) -> String {
    let mut first = 0u32;
    for section in &spec.layout.sections {
        for row in &section.rows {
            let len = row.seats.len() as u32;
            if seat.0 < first + len {
                let s = &row.seats[(seat.0 - first) as usize];
                return format!("{}, row {}, seat {}", section.name, row.name, s.label);
            }
            first += len;
        }
    }
    format!("seat {}", seat.0)
}

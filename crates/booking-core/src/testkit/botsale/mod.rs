//! A bot on-sale, simulated on the library's own parts and on virtual
//! time: a waiting room with a recorded draw, the [`AbuseGuard`]
//! (blacklist, bot scoring with a captcha, per-account / per-IP /
//! per-card rate limits), holds under a per-identity cap, and a hold
//! then a sell for each purchase (the checkout saga's inventory steps,
//! with the payment taken as captured).
//!
//! Every store reads one [`ManualClock`]; the simulation is a queue of
//! events run one at a time in time order, moving the clock to each, so a
//! run is deterministic from its seed (on the memory backend) and takes
//! seconds for minutes of on-sale. [`run_bot_sale`] runs it and returns a
//! [`BotSaleReport`] with the figures and what a test asserts.

mod agents;
mod report;

pub use agents::Kind;
pub use report::{BotSaleReport, Refusals};

use crate::admission::{Keyring, LateOrder};
use crate::admission::{RoomConfig, RoomId, Seed, SessionId, VisitorId, WaitingRoom, WaitingRoomStore, draw_order};
use crate::clock::{Clock, ManualClock, millis_to_datetime};
use crate::error::InventoryError;
use crate::ids::{OrderId, PaymentRef, PriceCategory, SeatId};
use crate::inventory::{HoldBest, SeatInventory, Sell};
use crate::layout::{HoldPolicy, ShowSpec, VenueLayout};
use crate::limits::{
    AbuseGuard, BlacklistEntry, BlacklistStore, BotPolicy, CaptchaSecret, Evidence, IpGrouping, Quota, RateLimitStore,
    RateLimiter, Refused, TestCaptcha,
};
use agents::{Agent, Dice};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The most tickets one identity may get.
pub const CAP: u32 = 4;

/// The show's hold policy, carrying the per-identity cap ([`CAP`]).
///
/// The per-identity cap is `max_tickets_per_owner` (held plus sold, decided
/// by the inventory with every hold); `max_held_per_owner` is set to the
/// same number, so neither a hold nor a second purchase gets past it.
fn hold_policy() -> HoldPolicy {
    HoldPolicy {
        max_held_per_owner: Some(CAP),
        max_tickets_per_owner: Some(CAP),
        hold_ttl: HOLD_TTL,
        max_hold_time: HOLD_TTL * 2,
        ..HoldPolicy::default()
    }
}

/// How long a hold lasts: abandoned carts come back within the sale.
const HOLD_TTL: Duration = Duration::from_secs(90);

/// A simulation's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotSaleConfig {
    /// Seeds every draw of the run (who is a bot, arrivals, timing, the
    /// waiting room's lottery).
    pub seed: u64,
    /// Identities taking part.
    pub identities: u32,
    /// Seats on sale (one row per 50).
    pub seats: u32,
    /// Percent of identities that are bots.
    pub bot_percent: u32,
    /// Whether requests go through the [`AbuseGuard`]; `false` sends them
    /// straight to the inventory (to see what the guard is worth).
    pub guard: bool,
}

impl Default for BotSaleConfig {
    /// 2,000 identities (30% bots) for 500 seats, guarded.
    fn default() -> Self {
        BotSaleConfig { seed: 7, identities: 2_000, seats: 500, bot_percent: 30, guard: true }
    }
}

/// The stores a simulation runs on; every one must read `clock`.
#[derive(Clone, Debug)]
pub struct BotSaleStores {
    /// The seat inventory.
    pub inventory: Arc<dyn SeatInventory>,
    /// The rate-limit store.
    pub rates: Arc<dyn RateLimitStore>,
    /// The blacklist.
    pub blacklist: Arc<dyn BlacklistStore>,
    /// The waiting room's store.
    pub room: Arc<dyn WaitingRoomStore>,
    /// The clock every store reads; the simulation moves it.
    pub clock: ManualClock,
}

/// Cards seen on more accounts than this are blacklisted for a while.
const CARD_ACCOUNTS_LISTED: usize = 6;
/// How long such a card stays blacklisted.
const CARD_LISTING: Duration = Duration::from_secs(15 * 60);
/// Guarded requests an identity sends at most before giving up.
const MAX_ATTEMPTS: u32 = 80;
/// "No seats" answers a person takes before giving up (seats may come
/// back from abandoned carts; scripts keep trying).
const HUMAN_NO_SEATS: u32 = 6;
/// Percent of people who walk away from their hold.
const ABANDON_PERCENT: u64 = 15;
/// Refusals in a row (blacklist, bot block) before an identity gives up.
const MAX_TURNED_AWAY: u32 = 20;
/// How long before the start the first identities arrive (ms).
const EARLY_MS: i64 = 60_000;
/// Waves run this often (ms).
const WAVE_MS: i64 = 1_000;
/// The operator looks at cards this often (ms).
const REVIEW_MS: i64 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Join(u32),
    Poll(u32),
    Act(u32),
    Pay(u32),
    Wave,
    Review,
}

struct Sim {
    cfg: BotSaleConfig,
    stores: BotSaleStores,
    dice: Dice,
    agents: Vec<Agent>,
    queue: BinaryHeap<Reverse<(i64, u64, Event)>>,
    seq: u64,
    show: ShowSpec,
    room: WaitingRoom<dyn WaitingRoomStore>,
    room_id: RoomId,
    opens_at: i64,
    drawn: bool,
    /// Every seat is sold: the queue page says so.
    sold_out: bool,
    visitors: HashMap<VisitorId, u32>,
    visitor_of: Vec<Option<VisitorId>>,
    guard: AbuseGuard,
    captcha: TestCaptcha,
    holds: HashMap<u32, crate::inventory::Hold>,
    accounts_on_card: HashMap<String, BTreeSet<u128>>,
    listed_cards: BTreeSet<String>,
    sold_seats: BTreeMap<SeatId, u32>,
    report: BotSaleReport,
}

/// Runs a simulated on-sale on `stores` by `cfg` and reports on it.
///
/// Panics if a store fails (the simulation runs in tests and examples).
pub async fn run_bot_sale(stores: BotSaleStores, cfg: BotSaleConfig) -> BotSaleReport {
    let mut sim = Sim::new(stores, cfg).await;
    while let Some(Reverse((at, _, event))) = sim.queue.pop() {
        if at > sim.stores.clock.now_millis() {
            sim.stores.clock.set(millis_to_datetime(at));
        }
        sim.handle(event).await;
    }
    sim.finish().await
}

impl Sim {
    async fn new(stores: BotSaleStores, cfg: BotSaleConfig) -> Sim {
        let mut dice = Dice(ChaCha20Rng::seed_from_u64(cfg.seed));
        let clock = stores.clock.clone();
        let start = clock.now_millis();
        let opens_at = start + EARLY_MS;
        let rows = cfg.seats.div_ceil(50).max(1);
        let per_row = cfg.seats.clamp(1, 50);
        let layout = VenueLayout::grid(1, rows, per_row, PriceCategory(1));
        let show = ShowSpec::new("bot on-sale", layout).with_policy(hold_policy());
        stores.inventory.create_show(&show).await.expect("create the show");
        let extra: Vec<SeatId> = (cfg.seats..rows * per_row).map(SeatId).collect();
        if !extra.is_empty() {
            stores.inventory.block(show.id, &extra).await.expect("block the seats beyond the count");
        }
        let keys = Keyring::new("sim", &[7u8; 32]).expect("keyring");
        let room = WaitingRoom::new(stores.room.clone(), clock.shared(), keys);
        let room_id = RoomId::for_show(show.id);
        let mut config = RoomConfig::new(room_id, millis_to_datetime(opens_at), 300, 150);
        config.late_order = LateOrder::Arrival;
        room.create_room(&config).await.expect("create the room");
        let captcha = TestCaptcha::new("sim-secret", clock.shared());
        let guard = build_guard(&stores, &captcha);

        let bots = cfg.identities * cfg.bot_percent.min(100) / 100;
        let bot_cards = (bots / 10).max(1);
        let mut kinds: Vec<agents::Kind> = (0..cfg.identities)
            .map(|i| match i {
                i if i >= bots => agents::Kind::Human,
                i if i % 20 < 8 => agents::Kind::NaiveBot,
                i if i % 20 < 14 => agents::Kind::AgedBot,
                i if i % 20 < 19 => agents::Kind::CarefulBot,
                _ => agents::Kind::StealthBot,
            })
            .collect();
        for i in (1..kinds.len()).rev() {
            kinds.swap(i, dice.below(i as u64 + 1) as usize);
        }
        let mut agents = Vec::with_capacity(kinds.len());
        let mut queue = BinaryHeap::new();
        let mut seq = 0;
        for (i, kind) in kinds.into_iter().enumerate() {
            // Bots are all there well before the start; people arrive from
            // a minute before it to a minute after.
            let at = if kind.is_bot() {
                start + dice.below(EARLY_MS as u64 / 2) as i64
            } else {
                start + dice.below(EARLY_MS as u64 + 60_000) as i64
            };
            agents.push(Agent::new(kind, i as u32, &mut dice, CAP, bot_cards, at));
            seq += 1;
            queue.push(Reverse((at, seq, Event::Join(i as u32))));
        }
        queue.push(Reverse((opens_at, 0, Event::Wave)));
        queue.push(Reverse((opens_at, 0, Event::Review)));
        let report = BotSaleReport::new(&cfg, bots);
        Sim {
            visitor_of: vec![None; agents.len()],
            cfg,
            stores,
            dice,
            agents,
            queue,
            seq,
            show,
            room,
            room_id,
            opens_at,
            drawn: false,
            sold_out: false,
            visitors: HashMap::new(),
            guard,
            captcha,
            holds: HashMap::new(),
            accounts_on_card: HashMap::new(),
            listed_cards: BTreeSet::new(),
            sold_seats: BTreeMap::new(),
            report,
        }
    }

    fn now(&self) -> i64 {
        self.stores.clock.now_millis()
    }

    fn at(&mut self, after_ms: i64, event: Event) {
        self.seq += 1;
        let at = self.now() + after_ms.max(0);
        self.queue.push(Reverse((at, self.seq, event)));
    }

    fn waiting(&self) -> bool {
        self.agents.iter().any(|a| !a.done && a.admitted_at.is_none())
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Join(i) => self.join(i).await,
            Event::Poll(i) => self.poll(i).await,
            Event::Act(i) => self.act(i).await,
            Event::Pay(i) => self.pay(i).await,
            Event::Wave => self.wave().await,
            Event::Review => self.review().await,
        }
    }

    async fn join(&mut self, i: u32) {
        let session = session(i);
        let status = self.room.join(self.room_id, &session).await.expect("join");
        self.visitors.insert(status.visitor.id, i);
        self.visitor_of[i as usize] = Some(status.visitor.id);
        let now = self.now();
        self.agents[i as usize].request_at(now);
        let gap = self.agents[i as usize].cadence(&mut self.dice);
        self.at(gap, Event::Poll(i));
    }

    /// A status poll: the page refreshing while the client waits. It
    /// learns of its admission here.
    async fn poll(&mut self, i: u32) {
        if self.agents[i as usize].done {
            return;
        }
        if self.sold_out {
            self.leave(i).await;
            return;
        }
        let now = self.now();
        let agent = &mut self.agents[i as usize];
        agent.request_at(now);
        self.report.polls += 1;
        self.room.status(self.room_id, &session(i)).await.expect("status");
        let gap = self.agents[i as usize].cadence(&mut self.dice);
        if self.agents[i as usize].admitted_at.is_some() {
            self.at(gap, Event::Act(i));
        } else {
            self.at(gap, Event::Poll(i));
        }
    }

    async fn wave(&mut self) {
        if !self.drawn {
            // The lottery of the pre-queue, seeded from the run's seed so
            // that a run replays (the service draws a fresh seed).
            let arrivals = self.stores.room.pre_queue(self.room_id).await.expect("pre-queue");
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&self.cfg.seed.to_le_bytes());
            let seed = Seed(bytes);
            let order = draw_order(&seed, &arrivals);
            self.stores.room.record_draw(self.room_id, &seed, &order).await.expect("draw");
            self.drawn = true;
        }
        let wave = self.room.admit_wave(self.room_id).await.expect("wave");
        let now = self.now();
        for admission in wave.admitted {
            if let Some(&i) = self.visitors.get(&admission.visitor) {
                let agent = &mut self.agents[i as usize];
                agent.admitted_at = Some(now);
                self.report.waits_ms.push(now - agent.joined_at.max(self.opens_at));
            }
        }
        if self.waiting() || self.queue.iter().any(|Reverse((_, _, e))| matches!(e, Event::Join(_))) {
            self.at(WAVE_MS, Event::Wave);
        }
    }

    /// The operator blacklists, for a while, cards used by many accounts.
    async fn review(&mut self) {
        if !self.cfg.guard {
            return;
        }
        let until = millis_to_datetime(self.now()) + chrono::Duration::from_std(CARD_LISTING).expect("listing");
        let crowded: Vec<String> = self
            .accounts_on_card
            .iter()
            .filter(|(card, accounts)| accounts.len() >= CARD_ACCOUNTS_LISTED && !self.listed_cards.contains(*card))
            .map(|(card, _)| card.clone())
            .collect();
        for card in crowded {
            let fp = crate::limits::PaymentFingerprint::new(card.clone()).expect("card");
            let reason = format!("card on {}+ accounts", CARD_ACCOUNTS_LISTED);
            self.stores.blacklist.add(&BlacklistEntry::Fingerprint(fp), &reason, Some(until)).await.expect("list");
            self.listed_cards.insert(card);
        }
        if self.agents.iter().any(|a| !a.done) {
            self.at(REVIEW_MS, Event::Review);
        }
    }

    async fn leave(&mut self, i: u32) {
        let agent = &mut self.agents[i as usize];
        if agent.done {
            return;
        }
        agent.done = true;
        if let Some(visitor) = self.visitor_of[i as usize] {
            // A session that ran out has left already.
            let _ = self.room.leave(self.room_id, visitor, &session(i)).await;
        }
    }

    /// A guarded hold request.
    async fn act(&mut self, i: u32) {
        let now = self.now();
        let idx = i as usize;
        if self.agents[idx].done {
            return;
        }
        if self.agents[idx].attempts >= MAX_ATTEMPTS || self.agents[idx].turned_away >= MAX_TURNED_AWAY {
            self.report.gave_up += 1;
            self.leave(i).await;
            return;
        }
        let agent = &mut self.agents[idx];
        agent.request_at(now);
        agent.attempts += 1;
        self.report.requests += 1;
        let who = agent.identity();
        let card = agent.card.as_str().to_owned();
        let seen = self.accounts_on_card.entry(card).or_default();
        seen.insert(agent.account.as_uuid().as_u128());
        let mut evidence = Evidence::signals(agent.signals(seen.len() as u32));
        evidence.captcha = agent.token.take();
        let req =
            HoldBest { show: self.show.id, owner: agent.account, quantity: agent.want, section: None, category: None };
        let inventory = self.stores.inventory.clone();
        let outcome = if self.cfg.guard {
            self.guard.run_with(&who, &evidence, || inventory.hold_best(&req)).await
        } else {
            Ok(inventory.hold_best(&req).await)
        };
        let gap = self.agents[idx].cadence(&mut self.dice);
        match outcome {
            Ok(Ok(hold)) => {
                let agent = &mut self.agents[idx];
                agent.turned_away = 0;
                agent.held += req.quantity;
                agent.max_held = agent.max_held.max(agent.held);
                if agent.kind.is_bot() || !self.dice.chance(ABANDON_PERCENT) {
                    let think = agent.think_time(&mut self.dice);
                    self.holds.insert(i, hold);
                    self.at(think, Event::Pay(i));
                } else {
                    // Walks away: the hold expires and its seats come back.
                    self.report.abandoned += 1;
                    agent.held = 0;
                    self.leave(i).await;
                }
            }
            Ok(Err(InventoryError::LimitExceeded(_))) => {
                self.report.refused.cap += 1;
                let agent = &mut self.agents[idx];
                agent.want = agent.want.min(CAP);
                self.at(gap, Event::Act(i));
            }
            Ok(Err(InventoryError::NoSeatsAvailable { .. })) => {
                self.report.refused.sold_out += 1;
                let agent = &mut self.agents[idx];
                agent.no_seats += 1;
                if agent.want > 1 {
                    agent.want /= 2;
                    self.at(gap, Event::Act(i));
                } else if self.sold_out || (!agent.kind.is_bot() && agent.no_seats >= HUMAN_NO_SEATS) {
                    self.report.gave_up += 1;
                    self.leave(i).await;
                } else {
                    // Held seats may come back: try again.
                    self.at(gap, Event::Act(i));
                }
            }
            Ok(Err(e)) => panic!("hold: {e}"),
            Err(Refused::Blacklisted(_)) => {
                self.report.refused.blacklist += 1;
                self.turned_away(i, gap).await;
            }
            Err(Refused::Bot(_)) => {
                self.report.refused.bot_block += 1;
                self.turned_away(i, gap).await;
            }
            Err(Refused::Challenge { captcha, .. }) => {
                self.report.refused.challenge += 1;
                let agent = &mut self.agents[idx];
                if captcha.is_some() {
                    agent.failed_captchas += 1;
                    self.at(gap, Event::Act(i));
                } else {
                    // Shown a captcha: solve it (or send garbage) and retry.
                    let solved = agent.solves_captcha(&mut self.dice);
                    agent.token = Some(if solved {
                        self.captcha.solve("tickets.example", None)
                    } else {
                        format!("test.{:016x}.forged", self.dice.below(u64::MAX))
                    });
                    let delay = if agent.kind.is_bot() { gap } else { self.dice.between(5_000, 12_000) as i64 };
                    self.at(delay, Event::Act(i));
                }
            }
            Err(Refused::RateLimited { retry_after, .. }) => {
                self.report.refused.rate_limit += 1;
                // People wait as told; scripts keep their pace.
                let wait = if self.agents[idx].kind.is_bot() { gap } else { gap + retry_after.as_millis() as i64 };
                self.at(wait, Event::Act(i));
            }
            Err(e) => panic!("guard: {e}"),
        }
    }

    async fn turned_away(&mut self, i: u32, gap: i64) {
        let agent = &mut self.agents[i as usize];
        agent.turned_away += 1;
        if agent.kind.is_bot() {
            self.at(gap, Event::Act(i));
        } else {
            // People do not hammer a refusal.
            self.report.gave_up += 1;
            self.leave(i).await;
        }
    }

    /// Pays for the hold (taken as captured) and sells it.
    async fn pay(&mut self, i: u32) {
        let Some(hold) = self.holds.remove(&i) else { return };
        let owner = self.agents[i as usize].account;
        let order = OrderId(uuid::Uuid::from_u128(self.dice.id()));
        let sell = Sell { owner, token: hold.token, order, payment: PaymentRef(format!("sim-{i}")), payer: None };
        let sale = self.stores.inventory.sell(&sell).await.expect("sell a live hold");
        let seats = match &sale.items {
            crate::inventory::HoldItems::Seats(seats) => seats.clone(),
            other => panic!("a best-available hold sold {other:?}"),
        };
        for seat in &seats {
            if let Some(first) = self.sold_seats.insert(*seat, i) {
                self.report.seats_sold_twice.push((*seat, first, i));
            }
        }
        let agent = &mut self.agents[i as usize];
        agent.tickets += seats.len() as u32;
        agent.held = agent.held.saturating_sub(seats.len() as u32);
        self.sold_out = self.sold_seats.len() >= self.cfg.seats as usize;
        self.leave(i).await;
    }

    async fn finish(self) -> BotSaleReport {
        let mut report = self.report;
        let audit = self.stores.inventory.audit(self.show.id).await.expect("audit");
        report.record_audit(&audit, &self.agents);
        report.record_agents(&self.agents);
        report.virtual_ms = self.stores.clock.now_millis() - self.opens_at;
        report
    }
}

fn session(i: u32) -> SessionId {
    SessionId::new(format!("sim-session-{i}"))
}

/// The guard of the simulated site: the blacklist, bot scoring by the
/// default policy with the test captcha, and rate limits on holds per
/// account (20 a minute, bursts of 5), per IPv4 /24 (60 a minute, bursts
/// of 20) and per card (20 a minute, bursts of 6).
fn build_guard(stores: &BotSaleStores, captcha: &TestCaptcha) -> AbuseGuard {
    let per = |n, burst| Quota::per_minute(n, burst).expect("quota");
    let holds = RateLimiter::new(stores.rates.clone(), "hold")
        .expect("name")
        .per_account(per(20, 5))
        .per_ip(per(60, 20))
        .ip_grouping(IpGrouping::new(24, 64).expect("grouping"))
        .per_fingerprint(per(20, 6));
    AbuseGuard::new(stores.blacklist.clone())
        .with_bot_policy(BotPolicy::default(), Arc::new(captcha.clone()), CaptchaSecret("sim-secret".into()))
        .expect("policy")
        .with_limits(holds)
}

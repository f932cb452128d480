//! The simulated clients of a bot on-sale: who they are, how they pace
//! their requests, and the signals a site would gather about them.

use crate::ids::OwnerId;
use crate::limits::{BotSignals, PaymentFingerprint, RequestIdentity};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::Rng;
use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

/// Gaps kept per client for the timing signal.
const GAPS_KEPT: usize = 20;

/// What kind of client an identity is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A person: an older account, usually with past orders, its own card,
    /// irregular timing.
    Human,
    /// A script on fresh accounts sharing a few cards; never solves a
    /// captcha.
    NaiveBot,
    /// A script on bought, aged accounts sharing a few cards; never solves
    /// a captcha.
    AgedBot,
    /// A script on aged accounts with a card each, solving about half the
    /// captchas it meets (a captcha farm).
    CarefulBot,
    /// A script on aged accounts with past orders and a card each, its
    /// timing jittered like a person's: bot scoring lets it through, and
    /// only its pace (through a few proxy /24s) gives it away, to the
    /// rate limits.
    StealthBot,
}

impl Kind {
    /// Whether this is a bot.
    pub fn is_bot(self) -> bool {
        self != Kind::Human
    }
}

/// Small deterministic draws over a seeded ChaCha20 stream.
#[derive(Debug)]
pub(super) struct Dice(pub(super) ChaCha20Rng);

impl Dice {
    /// A number in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.0.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    pub(super) fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True `percent` times in a hundred.
    pub(super) fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// A fresh id from the stream.
    pub(super) fn id(&mut self) -> u128 {
        (u128::from(self.0.next_u64()) << 64) | u128::from(self.0.next_u64())
    }
}

/// One simulated identity.
#[derive(Debug)]
pub(super) struct Agent {
    pub(super) kind: Kind,
    pub(super) account: OwnerId,
    pub(super) ip: IpAddr,
    pub(super) card: PaymentFingerprint,
    pub(super) account_age: Duration,
    pub(super) completed_orders: u32,
    /// Tickets wanted (bots first ask for more than the cap).
    pub(super) want: u32,
    /// When it joined the room (Unix ms).
    pub(super) joined_at: i64,
    /// When it was admitted (Unix ms), by the wave that admitted it.
    pub(super) admitted_at: Option<i64>,
    last_request: Option<i64>,
    gaps: VecDeque<u64>,
    pub(super) failed_captchas: u32,
    /// A captcha token to send with the next request.
    pub(super) token: Option<String>,
    /// Guarded requests sent.
    pub(super) attempts: u32,
    /// Refusals in a row by the blacklist or bot scoring.
    pub(super) turned_away: u32,
    /// "No seats" answers so far.
    pub(super) no_seats: u32,
    /// Tickets bought.
    pub(super) tickets: u32,
    /// Seats held now.
    pub(super) held: u32,
    /// Most seats held at once.
    pub(super) max_held: u32,
    pub(super) done: bool,
}

impl Agent {
    /// Identity number `i`, of `kind`, joining at `joined_at`; bots that
    /// share cards share `bot_cards` of them.
    pub(super) fn new(kind: Kind, i: u32, dice: &mut Dice, cap: u32, bot_cards: u32, joined_at: i64) -> Agent {
        let account = OwnerId(uuid::Uuid::from_u128(dice.id()));
        let day = Duration::from_secs(86_400);
        let (ip, card, age, orders, want) = match kind {
            Kind::Human => {
                // A household per /24: people rarely share one.
                let ip = Ipv4Addr::new(10, (i >> 8) as u8, (i & 0xff) as u8, 1 + dice.below(250) as u8);
                let age = if dice.chance(10) { dice.between(0, 20) * 3_600 } else { dice.between(30, 1_800) * 86_400 };
                let orders = if dice.chance(70) { dice.between(1, 12) as u32 } else { 0 };
                let want = [1, 2, 2, 2, 3, 4][dice.below(6) as usize].min(cap);
                (IpAddr::V4(ip), format!("card-h{i}"), Duration::from_secs(age), orders, want)
            }
            Kind::NaiveBot | Kind::AgedBot | Kind::CarefulBot | Kind::StealthBot => {
                // Residential proxies: a few dozen /24s for the bots, three
                // for the stealthy ones.
                let net = if kind == Kind::StealthBot { 200 + dice.below(3) as u8 } else { dice.below(30) as u8 };
                let ip = IpAddr::V4(Ipv4Addr::new(198, 18, net, 1 + dice.below(250) as u8));
                let card = if matches!(kind, Kind::CarefulBot | Kind::StealthBot) {
                    format!("card-b{i}")
                } else {
                    format!("card-shared{}", dice.below(u64::from(bot_cards.max(1))))
                };
                let (age, orders) = match kind {
                    Kind::NaiveBot => (Duration::from_secs(dice.between(60, 20 * 3_600)), 0),
                    Kind::StealthBot => (day * dice.between(200, 900) as u32, dice.between(1, 5) as u32),
                    _ => (day * dice.between(200, 900) as u32, 0),
                };
                (ip, card, age, orders, cap + 2)
            }
        };
        Agent {
            kind,
            account,
            ip,
            card: PaymentFingerprint::new(card).expect("card names are printable ASCII"),
            account_age: age,
            completed_orders: orders,
            want,
            joined_at,
            admitted_at: None,
            last_request: None,
            gaps: VecDeque::with_capacity(GAPS_KEPT),
            failed_captchas: 0,
            token: None,
            attempts: 0,
            turned_away: 0,
            no_seats: 0,
            tickets: 0,
            held: 0,
            max_held: 0,
            done: false,
        }
    }

    /// The gap to its next request: bots send one every 500 ms on average,
    /// ten times as often as people, who take 2 to 8 s; most tick (±1%),
    /// the stealthy ones jitter (250 to 750 ms).
    pub(super) fn cadence(&self, dice: &mut Dice) -> i64 {
        match self.kind {
            Kind::Human => dice.between(2_000, 8_000) as i64,
            Kind::StealthBot => dice.between(250, 750) as i64,
            _ => 495 + dice.below(11) as i64,
        }
    }

    /// Notes a request (a status poll or a guarded request) at `now`.
    pub(super) fn request_at(&mut self, now: i64) {
        if let Some(last) = self.last_request {
            if self.gaps.len() == GAPS_KEPT {
                self.gaps.pop_front();
            }
            self.gaps.push_back(u64::try_from(now - last).unwrap_or(0));
        }
        self.last_request = Some(now);
    }

    /// Who the request comes from.
    pub(super) fn identity(&self) -> RequestIdentity {
        RequestIdentity::account(self.account).with_ip(self.ip).with_fingerprint(self.card.clone())
    }

    /// What the site knows of this client, `accounts_on_card` being how
    /// many accounts it has seen paying with its card.
    pub(super) fn signals(&self, accounts_on_card: u32) -> BotSignals {
        BotSignals {
            account_age: Some(self.account_age),
            completed_orders: self.completed_orders,
            request_gaps_ms: self.gaps.iter().copied().collect(),
            accounts_on_fingerprint: accounts_on_card,
            failed_captchas: self.failed_captchas,
        }
    }

    /// Whether it solves the captcha it was just shown.
    pub(super) fn solves_captcha(&self, dice: &mut Dice) -> bool {
        match self.kind {
            Kind::Human => true,
            Kind::CarefulBot | Kind::StealthBot => dice.chance(50),
            Kind::NaiveBot | Kind::AgedBot => false,
        }
    }

    /// How long from a hold to paying for it.
    pub(super) fn think_time(&self, dice: &mut Dice) -> i64 {
        if self.kind.is_bot() { 200 } else { dice.between(20_000, 60_000) as i64 }
    }
}

//! The blacklist's behaviours: matching, ranges, paging, expiry.

use super::{LimitsFixture, advance, ip};
use crate::clock::Clock;
use crate::ids::OwnerId;
use crate::limits::{BlacklistEntry, LimitError, MAX_REASON_BYTES, PaymentFingerprint, RequestIdentity};
use std::time::Duration;

pub(super) fn account(a: OwnerId) -> BlacklistEntry {
    BlacklistEntry::Account(a)
}

pub(super) fn network(s: &str) -> BlacklistEntry {
    BlacklistEntry::Network(s.parse().expect("network"))
}

pub(super) fn fingerprint(s: &str) -> BlacklistEntry {
    BlacklistEntry::Fingerprint(PaymentFingerprint::new(s).expect("fingerprint"))
}

pub(super) async fn matched(fx: &LimitsFixture, who: &RequestIdentity) -> Option<BlacklistEntry> {
    fx.blacklist.check(who).await.expect("check").map(|r| r.entry)
}

/// Entries by account, address, IPv4 range and fingerprint are matched,
/// reported (the account's first, then the fingerprint's, then the
/// narrowest range), and gone once removed.
pub async fn blacklist_matches_and_removes(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    let (mallory, alice) = (OwnerId::new(), OwnerId::new());
    let rec = bl.add(&account(mallory), "chargebacks", None).await.expect("add");
    assert_eq!((rec.reason.as_str(), rec.added_at), ("chargebacks", fx.clock.now()));
    bl.add(&network("203.0.113.0/24"), "scalper farm", None).await.expect("add");
    bl.add(&network("203.0.113.64/26"), "the worst part of it", None).await.expect("add");
    bl.add(&network("192.0.2.9"), "one address", None).await.expect("add");
    bl.add(&fingerprint("fp_stolen"), "stolen card", None).await.expect("add");
    let clean = RequestIdentity::account(alice).with_ip(ip("198.51.100.1"));
    assert_eq!(matched(fx, &clean).await, None);
    assert_eq!(matched(fx, &RequestIdentity::default()).await, None, "an identity of nothing");
    assert_eq!(matched(fx, &RequestIdentity::account(mallory)).await, Some(account(mallory)));
    let r = bl.check(&RequestIdentity::account(alice).with_ip(ip("203.0.113.7"))).await.expect("check");
    assert_eq!(r.map(|r| (r.entry, r.reason)), Some((network("203.0.113.0/24"), "scalper farm".into())));
    let r = matched(fx, &RequestIdentity::account(alice).with_ip(ip("203.0.113.100"))).await;
    assert_eq!(r, Some(network("203.0.113.64/26")), "the narrowest range is reported");
    assert_eq!(matched(fx, &RequestIdentity::account(alice).with_ip(ip("203.0.114.1"))).await, None);
    assert_eq!(matched(fx, &clean.clone().with_ip(ip("192.0.2.9"))).await, Some(network("192.0.2.9/32")));
    assert_eq!(matched(fx, &clean.clone().with_ip(ip("192.0.2.10"))).await, None);
    let paying = clean.clone().with_fingerprint(PaymentFingerprint::new("fp_stolen").expect("fp"));
    assert_eq!(matched(fx, &paying).await, Some(fingerprint("fp_stolen")));
    let everything = RequestIdentity::account(mallory)
        .with_ip(ip("203.0.113.100"))
        .with_fingerprint(PaymentFingerprint::new("fp_stolen").expect("fp"));
    assert_eq!(matched(fx, &everything).await, Some(account(mallory)), "the account's entry first");
    assert!(bl.remove(&account(mallory)).await.expect("remove"));
    assert!(!bl.remove(&account(mallory)).await.expect("remove"), "removed once");
    assert_eq!(matched(fx, &everything).await, Some(fingerprint("fp_stolen")), "then the fingerprint's");
    assert!(bl.remove(&fingerprint("fp_stolen")).await.expect("remove"));
    assert_eq!(matched(fx, &everything).await, Some(network("203.0.113.64/26")));
    assert!(bl.remove(&network("203.0.113.64/26")).await.expect("remove"));
    assert_eq!(matched(fx, &everything).await, Some(network("203.0.113.0/24")));
    assert!(bl.remove(&network("203.0.113.0/24")).await.expect("remove"));
    assert_eq!(matched(fx, &everything).await, None);
    // Adding again replaces the reason.
    advance(&fx.clock, Duration::from_secs(60));
    bl.add(&network("192.0.2.9"), "still bad", None).await.expect("add again");
    let r = bl.check(&clean.with_ip(ip("192.0.2.9"))).await.expect("check").expect("match");
    assert_eq!((r.reason.as_str(), r.added_at), ("still bad", fx.clock.now()));
}

/// IPv6 addresses and ranges; an IPv4-mapped IPv6 address is its IPv4
/// address; an IPv4 range never matches an IPv6 address.
pub async fn blacklist_matches_ipv6_ranges(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    bl.add(&network("2001:db8:abcd::/48"), "hosting range", None).await.expect("add");
    bl.add(&network("2001:db8:ffff::1"), "one host", None).await.expect("add");
    bl.add(&network("100.64.0.0/10"), "carrier NAT", None).await.expect("add");
    let from = |s: &str| RequestIdentity { ip: Some(ip(s)), ..RequestIdentity::default() };
    assert_eq!(matched(fx, &from("2001:db8:abcd:12::5")).await, Some(network("2001:db8:abcd::/48")));
    assert_eq!(matched(fx, &from("2001:db8:abce::5")).await, None);
    assert_eq!(matched(fx, &from("2001:db8:ffff::1")).await, Some(network("2001:db8:ffff::1/128")));
    assert_eq!(matched(fx, &from("2001:db8:ffff::2")).await, None);
    assert_eq!(matched(fx, &from("::ffff:100.100.1.1")).await, Some(network("100.64.0.0/10")));
    assert_eq!(matched(fx, &from("::6440:101")).await, None, "an IPv6 address with the same bits");
    bl.add(&network("::/0"), "every IPv6 client", None).await.expect("add");
    assert_eq!(matched(fx, &from("2001:db8:abce::5")).await, Some(network("::/0")));
    assert_eq!(matched(fx, &from("2001:db8:abcd::1")).await, Some(network("2001:db8:abcd::/48")));
    assert_eq!(matched(fx, &from("198.51.100.1")).await, None);
}

/// A reason too long is refused and stores nothing; entries list in pages.
pub async fn blacklist_refuses_bad_input_and_lists_in_pages(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    let victim = OwnerId::new();
    let r = bl.add(&account(victim), &"x".repeat(MAX_REASON_BYTES + 1), None).await;
    assert!(matches!(r, Err(LimitError::InvalidReason)), "{r:?}");
    assert_eq!(matched(fx, &RequestIdentity::account(victim)).await, None, "nothing was stored");
    assert!(bl.list(None, 10).await.expect("list").is_empty());
    let mut added =
        vec![account(victim), network("10.0.0.0/8"), network("fe80::/10"), fingerprint("fp_a"), fingerprint("fp_b")];
    for e in &added {
        bl.add(e, "", None).await.expect("add");
    }
    added.sort_by_key(|e| e.field());
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = bl.list(after.as_ref(), 2).await.expect("list");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = Some(last.entry.clone());
        seen.extend(page.into_iter().map(|r| r.entry));
    }
    assert_eq!(seen, added, "every entry once, in field order");
    assert!(bl.list(None, 0).await.expect("list").is_empty());
}

/// An entry added with an expiry refuses until then, by the store's
/// clock, and from that millisecond on matches nothing (a wider range
/// still there is reported instead) and is not listed; re-adding without
/// an expiry makes it permanent, re-adding with one sets the new one;
/// removing a lapsed entry answers that nothing was there; an expiry not
/// after now lifts an entry at once; an expiry outside the countable range
/// is refused and changes nothing.
pub async fn blacklist_entries_expire_by_the_store_clock(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    let t0 = fx.clock.now();
    let at = |secs: i64| t0 + chrono::Duration::seconds(secs);
    let (temp, perm, later) = (OwnerId::new(), OwnerId::new(), OwnerId::new());
    let rec = bl.add(&account(temp), "cooling off", Some(at(60))).await.expect("add");
    assert_eq!((rec.added_at, rec.expires_at), (t0, Some(at(60))));
    bl.add(&account(perm), "for good", None).await.expect("add");
    bl.add(&account(later), "until later", Some(at(600))).await.expect("add");
    bl.add(&network("198.51.0.0/16"), "wide and permanent", None).await.expect("add");
    bl.add(&network("198.51.100.0/24"), "narrow, ten seconds", Some(at(10))).await.expect("add");
    let from = |s: &str| RequestIdentity { ip: Some(ip(s)), ..RequestIdentity::default() };
    let r = bl.check(&RequestIdentity::account(temp)).await.expect("check").expect("match");
    assert_eq!((r.reason.as_str(), r.expires_at), ("cooling off", Some(at(60))));
    assert_eq!(matched(fx, &from("198.51.100.7")).await, Some(network("198.51.100.0/24")));
    let listed = bl.list(None, 10).await.expect("list");
    assert_eq!(listed.len(), 5);
    assert!(listed.iter().any(|r| r.entry == account(temp) && r.expires_at == Some(at(60))));
    assert!(listed.iter().any(|r| r.entry == account(perm) && r.expires_at.is_none()));

    advance(&fx.clock, Duration::from_millis(9_999));
    assert_eq!(matched(fx, &from("198.51.100.7")).await, Some(network("198.51.100.0/24")), "a ms before");
    advance(&fx.clock, Duration::from_millis(1));
    assert_eq!(matched(fx, &from("198.51.100.7")).await, Some(network("198.51.0.0/16")), "lapsed at its expiry");
    assert_eq!(bl.list(None, 10).await.expect("list").len(), 4, "a lapsed entry is not listed");

    advance(&fx.clock, Duration::from_secs(50));
    assert_eq!(matched(fx, &RequestIdentity::account(temp)).await, None, "the account's entry lapsed");
    assert_eq!(matched(fx, &RequestIdentity::account(perm)).await, Some(account(perm)));
    assert!(!bl.remove(&account(temp)).await.expect("remove"), "a lapsed entry is not there");
    assert!(!bl.remove(&network("198.51.100.0/24")).await.expect("remove"));
    let page: Vec<BlacklistEntry> = bl.list(None, 10).await.expect("list").into_iter().map(|r| r.entry).collect();
    let mut want = vec![account(perm), account(later), network("198.51.0.0/16")];
    want.sort_by_key(|e| e.field());
    assert_eq!(page, want, "only live entries, in field order");
    let first = bl.list(None, 1).await.expect("list");
    let rest = bl.list(first.last().map(|r| &r.entry), 10).await.expect("list");
    assert_eq!((first.len(), rest.len()), (1, 2), "pages skip lapsed entries");

    // Re-adding: permanent, or a new expiry.
    bl.add(&account(temp), "back for good", None).await.expect("add");
    bl.add(&account(later), "shorter now", Some(at(90))).await.expect("add");
    advance(&fx.clock, Duration::from_secs(30));
    let r = bl.check(&RequestIdentity::account(temp)).await.expect("check").expect("match");
    assert_eq!((r.reason.as_str(), r.expires_at), ("back for good", None));
    assert_eq!(matched(fx, &RequestIdentity::account(later)).await, None, "the new, earlier expiry holds");
    // An expiry not after now lifts the entry.
    bl.add(&account(perm), "lifted", Some(fx.clock.now())).await.expect("add");
    assert_eq!(matched(fx, &RequestIdentity::account(perm)).await, None);
    assert!(!bl.remove(&account(perm)).await.expect("remove"));
    // Bad expiries change nothing.
    for bad in
        [chrono::DateTime::UNIX_EPOCH - chrono::Duration::milliseconds(1), chrono::DateTime::<chrono::Utc>::MAX_UTC]
    {
        let r = bl.add(&account(temp), "nope", Some(bad)).await;
        assert!(matches!(r, Err(LimitError::InvalidExpiry(_))), "{bad}: {r:?}");
    }
    let r = bl.check(&RequestIdentity::account(temp)).await.expect("check").expect("match");
    assert_eq!((r.reason.as_str(), r.expires_at), ("back for good", None), "unchanged");
}

/// Many entries that lapse (more than one add forgets at once) are all
/// gone from checks and listings, and new entries keep working.
pub async fn blacklist_many_lapsed_entries_stay_gone(fx: &LimitsFixture) {
    let bl = &*fx.blacklist;
    let until = fx.clock.now() + chrono::Duration::seconds(5);
    let accounts: Vec<OwnerId> = (0..250).map(|_| OwnerId::new()).collect();
    for a in &accounts {
        bl.add(&account(*a), "brief", Some(until)).await.expect("add");
    }
    assert_eq!(bl.list(None, 1_000).await.expect("list").len(), 250);
    advance(&fx.clock, Duration::from_secs(5));
    let fresh = OwnerId::new();
    bl.add(&account(fresh), "new", None).await.expect("add");
    bl.add(&network("192.0.2.0/24"), "new range", None).await.expect("add");
    for a in accounts.iter().step_by(25) {
        assert_eq!(matched(fx, &RequestIdentity::account(*a)).await, None);
    }
    let listed: Vec<BlacklistEntry> = bl.list(None, 1_000).await.expect("list").into_iter().map(|r| r.entry).collect();
    let mut want = vec![account(fresh), network("192.0.2.0/24")];
    want.sort_by_key(|e| e.field());
    assert_eq!(listed, want);
    assert_eq!(matched(fx, &RequestIdentity::account(fresh)).await, Some(account(fresh)));
}

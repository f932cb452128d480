use super::*;
use proptest::prelude::*;

fn signals(age_h: Option<u64>, orders: u32, gaps: Vec<u64>) -> BotSignals {
    BotSignals {
        account_age: age_h.map(|h| Duration::from_secs(h * 3600)),
        completed_orders: orders,
        request_gaps_ms: gaps,
        ..BotSignals::default()
    }
}

fn points(a: &BotAssessment) -> Vec<(Signal, u32)> {
    a.contributions.iter().map(|c| (c.signal, c.points)).collect()
}

#[test]
fn a_person_is_allowed() {
    let gaps = vec![1_800, 4_200, 900, 12_000, 2_500, 7_100, 3_300, 650, 5_000];
    let a = BotPolicy::default().assess(&signals(Some(24 * 400), 3, gaps)).expect("assess");
    assert_eq!((a.score, a.verdict), (0, BotVerdict::Allow));
    assert!(a.contributions.is_empty());
}

#[test]
fn a_metronome_on_a_fresh_account_is_challenged_then_blocked() {
    let slow = vec![1_000; 20];
    let a = BotPolicy::default().assess(&signals(Some(2), 0, slow)).expect("assess");
    assert_eq!(points(&a), vec![(Signal::NewAccount, 150), (Signal::NoHistory, 100), (Signal::RegularTiming, 300)]);
    assert_eq!((a.score, a.verdict), (550, BotVerdict::Challenge));
    assert_eq!(a.contributions[2].detail, "gap CV 0.000 over 20 gaps");
    let fast: Vec<u64> = (0..20).map(|i| 100 + i % 3).collect();
    let a = BotPolicy::default().assess(&signals(Some(2), 0, fast)).expect("assess");
    assert_eq!((a.score, a.verdict), (750, BotVerdict::Block));
    assert!(points(&a).contains(&(Signal::RapidRequests, 200)));
}

#[test]
fn shared_fingerprints_and_failed_captchas_add_up_to_their_caps() {
    let s = BotSignals {
        account_age: Some(Duration::from_secs(86_400 * 30)),
        completed_orders: 1,
        accounts_on_fingerprint: 40,
        failed_captchas: 9,
        ..BotSignals::default()
    };
    let a = BotPolicy::default().assess(&s).expect("assess");
    assert_eq!(points(&a), vec![(Signal::SharedFingerprint, 400), (Signal::FailedCaptchas, 450)]);
    assert_eq!(a.verdict, BotVerdict::Block);
    let few = BotSignals { accounts_on_fingerprint: 3, failed_captchas: 0, ..s };
    assert_eq!(BotPolicy::default().assess(&few).expect("assess").score, 0, "up to 3 accounts is normal");
}

#[test]
fn timing_needs_enough_gaps_and_policies_are_checked() {
    let a = BotPolicy::default().assess(&signals(Some(1_000), 2, vec![1_000; 7])).expect("assess");
    assert_eq!(a.score, 0, "7 gaps are too few to judge");
    let bad = BotPolicy { challenge_at: 800, block_at: 700, ..BotPolicy::default() };
    assert!(matches!(bad.assess(&BotSignals::default()), Err(LimitError::InvalidPolicy(_))));
    let bad = BotPolicy { min_gaps: 1, ..BotPolicy::default() };
    assert!(matches!(bad.validate(), Err(LimitError::InvalidPolicy(_))));
}

#[test]
fn coefficient_of_variation_is_exact() {
    // Gaps 1, 3: mean 2, standard deviation 1: CV 0.5.
    assert_eq!(gap_stats(&[1, 3]), (500, 2));
    // 10, 10, 10, 30: mean 15, variance 75, sd 8.66: CV 0.577.
    assert_eq!(gap_stats(&[10, 10, 10, 30]), (577, 15));
    assert_eq!(gap_stats(&[0, 0, 0]), (0, 0));
    assert_eq!(gap_stats(&[]), (0, 0));
    assert_eq!(gap_stats(&[u64::MAX, 0]).0, 1_000, "huge gaps are capped, not overflowed");
}

proptest! {
    /// Absurd inputs never panic; the score is the sum of its parts; the
    /// same input gives the same assessment.
    #[test]
    fn assessments_are_total_and_deterministic(
        age in prop::option::of(any::<u64>()),
        orders in any::<u32>(),
        gaps in prop::collection::vec(any::<u64>(), 0..1_200),
        shared in any::<u32>(),
        failed in any::<u32>(),
    ) {
        let s = BotSignals {
            account_age: age.map(Duration::from_millis),
            completed_orders: orders,
            request_gaps_ms: gaps,
            accounts_on_fingerprint: shared,
            failed_captchas: failed,
        };
        let p = BotPolicy::default();
        let a = p.assess(&s).expect("assess");
        prop_assert_eq!(a.score, a.contributions.iter().map(|c| c.points).sum::<u32>());
        prop_assert_eq!(&a, &p.assess(&s).expect("assess"));
    }
}

#[test]
fn signal_names_are_their_serialized_names() {
    use Signal::*;
    for s in [NoAccount, NewAccount, NoHistory, RegularTiming, RapidRequests, SharedFingerprint, FailedCaptchas] {
        assert_eq!(serde_json::to_value(s).expect("json"), serde_json::Value::from(s.as_str()));
    }
}

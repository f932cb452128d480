//! The waiting-room suite's behaviours, each a `pub async fn` taking an
//! [`AdmissionFixture`].

use super::*;

/// Bad settings are refused with the field named and create nothing;
/// every call on an unknown room says so; a room is created once.
pub async fn admission_rooms_refuse_bad_settings<S: WaitingRoomStore + ?Sized>(fx: &AdmissionFixture<S>) {
    let rooms = fx.rooms();
    let now = fx.clock.now();
    let good = room_config(now, 100, 50);
    let bad = [
        ("per_minute", RoomConfig { per_minute: 0, ..good.clone() }),
        ("per_minute", RoomConfig { per_minute: u64::MAX, ..good.clone() }),
        ("max_active", RoomConfig { max_active: 0, ..good.clone() }),
        ("max_active", RoomConfig { max_active: u64::MAX, ..good.clone() }),
        ("session_ttl", RoomConfig { session_ttl: std::time::Duration::ZERO, ..good.clone() }),
        ("session_ttl", RoomConfig { session_ttl: std::time::Duration::MAX, ..good.clone() }),
        ("session_ttl", RoomConfig { session_ttl: std::time::Duration::from_nanos(1_000_000_500), ..good.clone() }),
        ("inlet", RoomConfig { inlet: Some(51), ..good.clone() }),
        ("inlet", RoomConfig { inlet: Some(u64::MAX), ..good.clone() }),
        ("opens_at", RoomConfig { opens_at: DateTime::<Utc>::MIN_UTC, ..good.clone() }),
    ];
    for (field, config) in bad {
        for result in [rooms.create_room(&config).await, fx.store.create_room(&config).await] {
            assert!(
                matches!(result, Err(AdmissionError::InvalidConfig { field: f, .. }) if f == field),
                "{field}: {result:?}"
            );
        }
        assert!(matches!(fx.store.room(config.id).await, Err(AdmissionError::UnknownRoom(r)) if r == config.id));
    }
    let id = open_room(&rooms, good.clone()).await;
    assert!(matches!(rooms.create_room(&good).await, Err(AdmissionError::RoomExists(r)) if r == id));
    let state = fx.store.room(id).await.expect("room");
    assert_eq!(state.config, good, "the settings read back");
    assert_eq!((state.waiting, state.active, state.credits, state.generation), (0, 0, 0, 0));

    let unknown = RoomId::new();
    let s = session("nobody");
    let is_unknown = |r: Result<(), AdmissionError>| matches!(r, Err(AdmissionError::UnknownRoom(x)) if x == unknown);
    assert!(is_unknown(rooms.join(unknown, &s).await.map(drop)));
    assert!(is_unknown(rooms.status(unknown, &s).await.map(drop)));
    assert!(is_unknown(rooms.admit_wave(unknown).await.map(drop)));
    assert!(is_unknown(rooms.draw(unknown).await.map(drop)));
    assert!(is_unknown(rooms.token(unknown, &s).await.map(drop)));
    assert!(is_unknown(fx.store.set_mode(unknown, Mode::Closed).await));
    assert!(is_unknown(fx.store.pre_queue(unknown).await.map(drop)));
    assert!(is_unknown(fx.store.draw_record(unknown).await.map(drop)));
    assert!(is_unknown(fx.store.record_draw(unknown, &seed_of(1), &[]).await.map(drop)));
    assert!(is_unknown(fx.store.leave(unknown, VisitorId::new(), &s).await));
    assert!(is_unknown(fx.store.revoke(unknown, VisitorId::new()).await));
    assert!(is_unknown(fx.store.revoke_all(unknown).await.map(drop)));
    assert!(is_unknown(fx.store.revocations(unknown).await.map(drop)));
    assert!(is_unknown(fx.store.add_credits(unknown, 1).await.map(drop)));
    assert!(is_unknown(fx.store.admit(unknown).await.map(drop)));
}

/// The pre-queue's draw is uniform: over 10,000 seeded draws of the
/// recorded arrivals, where each arrival lands passes a chi-square test
/// (49 degrees of freedom, p = 0.001). The draw the store records replays
/// from its seed, sets the queue's order, and happens once; a forged
/// order (missing, duplicated or foreign visitors) is refused.
pub async fn admission_draw_is_uniform_and_replays<S: WaitingRoomStore + ?Sized>(fx: &AdmissionFixture<S>) {
    let rooms = fx.rooms();
    let opens_at = fx.clock.now() + Duration::minutes(5);
    let room = open_room(&rooms, room_config(opens_at, 1_000, 1_000)).await;
    let joined = join_many(&rooms, room, SHUFFLED).await;
    for (s, _) in &joined {
        let status = rooms.status(room, s).await.expect("status");
        assert_eq!(status.visitor.state, VisitorState::PreQueue { arrivals: SHUFFLED as u64 });
        assert_eq!((status.opens_at, status.estimated_wait), (opens_at, None));
    }
    let arrivals = fx.store.pre_queue(room).await.expect("pre_queue");
    let ids: Vec<VisitorId> = joined.iter().map(|(_, v)| *v).collect();
    assert_eq!(arrivals, ids, "the pre-queue is recorded in arrival order");

    // Uniformity over the recorded arrivals.
    let index = |v: &VisitorId| arrivals.iter().position(|a| a == v).expect("a drawn visitor arrived");
    let stat = position_chi_square(SHUFFLED, DRAWS, |i| draw_order(&seed_of(i), &arrivals).iter().map(index).collect());
    assert!(stat < CHI_SQUARE_CRITICAL, "chi-square {stat:.1} >= {CHI_SQUARE_CRITICAL} (49 df, p = 0.001)");

    // Too early, then forged orders: refused, nothing recorded.
    let seed = seed_of(DRAWS);
    let order = draw_order(&seed, &arrivals);
    assert!(matches!(
        fx.store.record_draw(room, &seed, &order).await,
        Err(AdmissionError::NotOpen { opens_at: t }) if t == opens_at
    ));
    assert!(fx.store.admit(room).await.expect("admit before the start").is_empty());
    fx.clock.set(opens_at);
    let mut missing = order.clone();
    missing.pop();
    let mut twice = order.clone();
    twice[0] = twice[1];
    let mut foreign = order.clone();
    foreign[3] = VisitorId::new();
    let mut extra = order.clone();
    extra.push(VisitorId::new());
    for forged in [missing, twice, foreign, extra, Vec::new()] {
        let r = fx.store.record_draw(room, &seed, &forged).await;
        assert!(matches!(r, Err(AdmissionError::DrawMismatch(x)) if x == room), "{r:?}");
    }
    assert_eq!(fx.store.draw_record(room).await.expect("draw_record"), None);
    assert!(matches!(fx.store.admit(room).await, Err(AdmissionError::NotDrawn(x)) if x == room));

    // The first wave draws; the record replays and audits.
    let wave = rooms.admit_wave(room).await.expect("wave");
    let record = wave.drawn.expect("the first wave draws");
    assert_eq!(record.arrivals, arrivals);
    assert_eq!(record.order, replay(&record.seed, &record.arrivals), "the recorded order replays from its seed");
    assert!(audit_draw(&record).passed());
    assert_eq!(record.drawn_at, opens_at);
    assert_eq!(fx.store.draw_record(room).await.expect("draw_record"), Some(record.clone()));
    let admitted: Vec<VisitorId> = wave.admitted.iter().map(|a| a.visitor).collect();
    assert_eq!(admitted, record.order, "waves admit in the drawn order");
    let tampered = crate::admission::DrawRecord { seed: seed_of(1), ..record.clone() };
    assert!(!audit_draw(&tampered).passed(), "another seed does not explain the order");

    // Once only: neither another draw nor the service's retry changes it.
    assert!(matches!(
        fx.store.record_draw(room, &seed, &order).await,
        Err(AdmissionError::AlreadyDrawn(x)) if x == room
    ));
    assert_eq!(rooms.draw(room).await.expect("draw again"), record);
}

/// Before the draw visitors wait unordered; after it, positions follow
/// the drawn order, then late arrivals (in arrival order, or at random in
/// a random room), and a late arrival before the draw still queues behind
/// the whole pre-queue.
pub async fn admission_positions_follow_the_draw_then_arrivals<S: WaitingRoomStore + ?Sized>(fx: &AdmissionFixture<S>) {
    let rooms = fx.rooms();
    let opens_at = fx.clock.now() + Duration::minutes(1);
    let room = open_room(&rooms, room_config(opens_at, 2, 100)).await;
    let early = join_many(&rooms, room, 5).await;
    fx.clock.set(opens_at);
    let late_before_draw = join_many(&rooms, room, 1).await;
    assert_eq!(position(&*fx.store, room, &late_before_draw[0].0).await, 6, "behind the whole pre-queue");
    let record = rooms.draw(room).await.expect("draw");
    for (s, v) in &early {
        let place = record.order.iter().position(|o| o == v).expect("drawn") as u64 + 1;
        assert_eq!(position(&*fx.store, room, s).await, place);
        let status = rooms.status(room, s).await.expect("status");
        // Two a minute: places 1-2 go in the first wave, 3-4 a minute on.
        assert_eq!(status.estimated_wait, Some(std::time::Duration::from_secs(60 * ((place - 1) / 2))));
    }
    let late = join_many(&rooms, room, 3).await;
    assert_eq!(position(&*fx.store, room, &late_before_draw[0].0).await, 6);
    for (i, (s, _)) in late.iter().enumerate() {
        assert_eq!(position(&*fx.store, room, s).await, 7 + i as u64, "late arrivals in arrival order");
    }
    let state = fx.store.room(room).await.expect("room");
    assert_eq!((state.pre_queue, state.waiting), (5, 9));

    // A random room: late arrivals take every order, always behind the
    // drawn pre-queue.
    let config = RoomConfig { late_order: LateOrder::Random, ..room_config(fx.clock.now(), 10, 10) };
    let random = open_room(&rooms, config).await;
    rooms.draw(random).await.expect("draw");
    let late = join_many(&rooms, random, 24).await;
    let mut places = Vec::new();
    for (s, _) in &late {
        places.push(position(&*fx.store, random, s).await);
    }
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(sorted, (1..=24).collect::<Vec<u64>>(), "places are 1..=24, each once");
    assert_ne!(places, sorted, "24 random places are not in arrival order (odds 1 in 24!)");
}

/// A session joining again (a retry) keeps its one place and id; a closed
/// room refuses new sessions but keeps those inside; a pass-through room
/// admits at once.
pub async fn admission_joins_keep_one_place_per_session<S: WaitingRoomStore + ?Sized>(fx: &AdmissionFixture<S>) {
    let rooms = fx.rooms();
    let room = open_room(&rooms, room_config(fx.clock.now(), 1, 100)).await;
    rooms.draw(room).await.expect("draw");
    let joined = join_many(&rooms, room, 3).await;
    let again = fx
        .store
        .join(&Join { room, session: joined[1].0.clone(), visitor: VisitorId::new(), random_key: 5 })
        .await
        .expect("join again");
    assert!(!again.new);
    assert_eq!(again.visitor.id, joined[1].1, "the first id stands");
    assert_eq!(again.visitor.state, VisitorState::Waiting { position: 2 });
    assert_eq!(fx.store.room(room).await.expect("room").waiting, 3);

    fx.store.set_mode(room, Mode::Closed).await.expect("close");
    let outsider = session("late");
    assert!(matches!(rooms.join(room, &outsider).await, Err(AdmissionError::Closed(x)) if x == room));
    assert!(matches!(fx.store.visitor(room, &outsider).await, Err(AdmissionError::UnknownVisitor(_))));
    assert_eq!(position(&*fx.store, room, &joined[2].0).await, 3, "those inside keep their places");
    assert_eq!(rooms.join(room, &joined[2].0).await.expect("a retry inside").visitor.id, joined[2].1);
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 1, "waves go on while closed");
    assert_eq!(fx.store.room(room).await.expect("room").config.mode, Mode::Closed);

    fx.store.set_mode(room, Mode::PassThrough).await.expect("pass-through");
    let walk_in = session("walk-in");
    let status = rooms.join(room, &walk_in).await.expect("join");
    let until = fx.clock.now() + Duration::minutes(5);
    assert_eq!(status.visitor.state, VisitorState::Admitted { until }, "admitted at once, past the queue");
    assert!(rooms.token(room, &walk_in).await.is_ok());
    assert_eq!(position(&*fx.store, room, &joined[2].0).await, 2, "the queue is unchanged");
}

/// Waves never exceed the room's rates: at most `per_minute` in any 60
/// seconds and at most `max_active` active sessions; sessions that end
/// (expired, left, revoked) make room under the cap.
pub async fn admission_waves_respect_the_rate_and_the_cap<S: WaitingRoomStore + ?Sized>(fx: &AdmissionFixture<S>) {
    let rooms = fx.rooms();
    let start = fx.clock.now();
    let room = open_room(&rooms, room_config(start, 5, 12)).await;
    let joined = join_many(&rooms, room, 30).await;
    let mut admitted = HashSet::new();
    let wave = |n: usize, got: Vec<crate::admission::Admission>, admitted: &mut HashSet<VisitorId>| {
        assert_eq!(got.len(), n, "wave size");
        for a in got {
            assert!(admitted.insert(a.visitor), "admitted twice");
        }
    };
    wave(5, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    wave(0, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    fx.clock.advance(Duration::seconds(59));
    wave(0, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    fx.clock.advance(Duration::seconds(1));
    wave(5, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    fx.clock.advance(Duration::seconds(60));
    wave(2, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    let state = fx.store.room(room).await.expect("room");
    assert_eq!((state.active, state.admitted_last_minute, state.waiting), (12, 2, 18));
    fx.clock.advance(Duration::seconds(60));
    wave(0, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);

    // Ending sessions makes room: one leaves, one is revoked.
    let (s0, v0) = &joined[0];
    let first = rooms.token(room, s0).await.expect("token");
    assert!(!first.0.is_empty());
    rooms.leave(room, *v0, s0).await.expect("leave");
    rooms.leave(room, *v0, s0).await.expect("leaving twice changes nothing");
    assert_eq!(fx.store.visitor(room, s0).await.expect("visitor").state, VisitorState::Left);
    rooms.revoke(room, joined[1].1).await.expect("revoke");
    wave(2, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    assert_eq!(fx.store.room(room).await.expect("room").active, 12);

    // The first five sessions end 5 minutes after their admission.
    fx.clock.set(start + Duration::minutes(5));
    let state = fx.store.room(room).await.expect("room");
    assert_eq!(state.active, 9, "three of the first wave expired (two had ended)");
    assert_eq!(fx.store.visitor(room, &joined[2].0).await.expect("visitor").state, VisitorState::Expired);
    wave(3, rooms.admit_wave(room).await.expect("wave").admitted, &mut admitted);
    assert_eq!(fx.store.room(room).await.expect("room").active, 12);
}

/// The inlet admits only as the inventory serves: each admission spends a
/// credit, and credits come back for holds released or expired, for
/// sales (through the change feed), and for admitted sessions that expire.
pub async fn admission_inlet_follows_the_inventory<S: WaitingRoomStore + ?Sized + 'static>(fx: &AdmissionFixture<S>) {
    let rooms = Arc::new(fx.rooms());
    let config = RoomConfig { inlet: Some(2), ..room_config(fx.clock.now(), 100, 100) };
    let room = open_room(&rooms, config).await;
    join_many(&rooms, room, 10).await;
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 2, "the starting credits");
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 0, "no credit left");
    assert_eq!(fx.store.room(room).await.expect("room").credits, 0);

    let spec = create(&*fx.inventory, 1, 1, 10, 0, test_policy()).await;
    let feed = fx.inventory.subscribe(spec.id).await.expect("subscribe");
    let follower = {
        let rooms = rooms.clone();
        tokio::spawn(async move { rooms.follow_changes(room, feed).await })
    };
    let credits = async |want: u64| {
        for _ in 0..2_000 {
            if fx.store.room(room).await.expect("room").credits == want {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        panic!("the inlet never reached {want} credits");
    };
    let buyer = OwnerId::new();
    let released = hold(&*fx.inventory, spec.id, buyer, &[0]).await;
    fx.inventory.release(&action(&released)).await.expect("release");
    credits(1).await;
    let sold = hold(&*fx.inventory, spec.id, buyer, &[1, 2]).await;
    fx.inventory.sell(&sell_req(&sold, OrderId::new())).await.expect("sell");
    credits(2).await;
    follower.abort();
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 2, "one admission per credit");
    assert_eq!(fx.store.room(room).await.expect("room").credits, 0);

    // The four admitted sessions expire: four credits back.
    fx.clock.advance(Duration::minutes(5));
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 4, "expired sessions give credits back");

    // Credits are capped at the active cap, and come back as sessions expire.
    assert_eq!(fx.store.add_credits(room, u64::MAX).await.expect("credits"), 100);
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 2, "the last two waiting");
    assert_eq!(fx.store.room(room).await.expect("room").credits, 98);
    let plain = open_room(&rooms, room_config(fx.clock.now(), 1, 1)).await;
    assert_eq!(fx.store.add_credits(plain, 5).await.expect("credits"), 0, "no inlet, no credits");
}

/// Admission tokens verify without the store, and are refused when
/// forged, edited, for another room or session, expired, revoked (one
/// visitor, or the whole room), with typed errors.
pub async fn admission_tokens_refuse_forgery_expiry_revocation_and_other_sessions<S: WaitingRoomStore + ?Sized>(
    fx: &AdmissionFixture<S>,
) {
    let rooms = fx.rooms();
    let room = open_room(&rooms, room_config(fx.clock.now(), 10, 10)).await;
    let joined = join_many(&rooms, room, 4).await;
    let waiting = session("waiting");
    assert!(matches!(rooms.token(room, &waiting).await, Err(AdmissionError::UnknownVisitor(_))));
    rooms.admit_wave(room).await.expect("wave");
    let verifier = rooms.verifier(std::time::Duration::ZERO);
    let (s0, v0) = &joined[0];
    let token = rooms.token(room, s0).await.expect("token");
    let claims = verifier.verify(&token, room, s0).await.expect("a fresh token verifies");
    assert_eq!((claims.room, claims.visitor, claims.key.0.as_str()), (room, *v0, "test-1"));
    assert_eq!(claims.expires_at, fx.clock.now() + Duration::minutes(5));
    assert_eq!(claims.session, SessionDigest::of(s0));

    let refused = async |t: &AdmissionToken, r: RoomId, s: &SessionId| match verifier.verify(t, r, s).await {
        Err(AdmissionError::Token(e)) => e,
        other => panic!("expected a refused token, got {other:?}"),
    };
    // Another session presenting it: passed on, or stolen.
    assert_eq!(refused(&token, room, &joined[1].0).await, TokenError::WrongSession);
    // Another room.
    assert_eq!(refused(&token, RoomId::new(), s0).await, TokenError::WrongRoom);
    // Forged: claims of our own, signed with a key of the same id.
    let forger = Keyring::new("test-1", &[7; 32]).expect("ring");
    let forged_claims = Claims {
        key: KeyId(String::new()),
        room,
        visitor: VisitorId::new(),
        session: SessionDigest::of(&waiting),
        issued_at: fx.clock.now(),
        expires_at: fx.clock.now() + Duration::hours(1),
        generation: 0,
    };
    let forged = AdmissionToken::sign(&forger, &forged_claims);
    assert_eq!(refused(&forged, room, &waiting).await, TokenError::BadSignature);
    let unknown_key = AdmissionToken::sign(&Keyring::new("other", &[7; 32]).expect("ring"), &forged_claims);
    assert_eq!(refused(&unknown_key, room, &waiting).await, TokenError::UnknownKey("other".into()));
    // Edited: the expiry pushed out, the signature kept.
    let parts: Vec<&str> = token.0.split('.').collect();
    let mut payload = parts[2].to_owned();
    payload.replace_range(150..152, "ff");
    let edited = AdmissionToken(format!("{}.{}.{}.{}", parts[0], parts[1], payload, parts[3]));
    assert_eq!(refused(&edited, room, s0).await, TokenError::BadSignature);
    for partial in [&token.0[..token.0.len() - 2], &token.0[..40], "", "wr1", "wr1.test-1..."] {
        let e = refused(&AdmissionToken(partial.to_owned()), room, s0).await;
        assert!(matches!(e, TokenError::Malformed | TokenError::BadSignature), "{partial:?}: {e:?}");
    }

    // Revoked: one visitor, then the whole room.
    let t1 = rooms.token(room, &joined[1].0).await.expect("token");
    rooms.revoke(room, joined[1].1).await.expect("revoke");
    assert_eq!(refused(&t1, room, &joined[1].0).await, TokenError::Revoked);
    assert!(matches!(rooms.token(room, &joined[1].0).await, Err(AdmissionError::NotAdmitted(VisitorState::Revoked))));
    assert_eq!(fx.store.revocations(room).await.expect("revocations").revoked, vec![joined[1].1]);
    // A visitor who left: its session ended, so does its token.
    let t2 = rooms.token(room, &joined[2].0).await.expect("token");
    rooms.leave(room, joined[2].1, &joined[2].0).await.expect("leave");
    assert_eq!(refused(&t2, room, &joined[2].0).await, TokenError::Revoked);
    verifier.verify(&token, room, s0).await.expect("others stay valid");
    assert_eq!(fx.store.revoke_all(room).await.expect("revoke_all"), 1);
    assert_eq!(refused(&token, room, s0).await, TokenError::Revoked);
    assert!(matches!(rooms.token(room, s0).await, Err(AdmissionError::NotAdmitted(VisitorState::Revoked))));

    // Expired: a fresh admission's token, five minutes on.
    let newcomer = join_many(&rooms, room, 1).await;
    assert_eq!(rooms.admit_wave(room).await.expect("wave").admitted.len(), 1);
    let s3 = &newcomer[0].0;
    let t3 = rooms.token(room, s3).await.expect("token after revoke_all");
    verifier.verify(&t3, room, s3).await.expect("issued under the new generation");
    fx.clock.advance(Duration::minutes(5));
    assert!(matches!(refused(&t3, room, s3).await, TokenError::Expired(_)));
    assert!(matches!(rooms.token(room, s3).await, Err(AdmissionError::NotAdmitted(VisitorState::Expired))));
    assert!(fx.store.revocations(room).await.expect("revocations").revoked.is_empty(), "expired entries go");
}

/// Bad input gets a typed error and changes nothing: empty, huge or
/// control-character session ids, a visitor id with another visitor's
/// session, an unknown visitor.
pub async fn admission_bad_requests_change_nothing<S: WaitingRoomStore + ?Sized>(fx: &AdmissionFixture<S>) {
    let rooms = fx.rooms();
    let room = open_room(&rooms, room_config(fx.clock.now(), 10, 10)).await;
    let joined = join_many(&rooms, room, 2).await;
    let before = fx.store.room(room).await.expect("room");
    let bad_sessions = [String::new(), "x".repeat(257), "a\nb".to_owned(), "\u{0}".to_owned(), "é".repeat(129)];
    for bad in bad_sessions {
        let s = SessionId(bad);
        let req = Join { room, session: s.clone(), visitor: VisitorId::new(), random_key: 0 };
        assert!(matches!(fx.store.join(&req).await, Err(AdmissionError::InvalidSession)), "{s:?}");
        assert!(matches!(rooms.join(room, &s).await, Err(AdmissionError::InvalidSession)));
        assert!(matches!(fx.store.visitor(room, &s).await, Err(AdmissionError::InvalidSession)));
        assert!(matches!(fx.store.leave(room, joined[0].1, &s).await, Err(AdmissionError::InvalidSession)));
    }
    let max = SessionId("s".repeat(256));
    assert!(rooms.join(room, &max).await.is_ok(), "256 bytes is allowed");
    let before = crate::admission::RoomState { waiting: before.waiting + 1, ..before };

    // Another visitor's session.
    let (s0, v0) = &joined[0];
    let (s1, _) = &joined[1];
    assert!(matches!(rooms.leave(room, *v0, s1).await, Err(AdmissionError::SessionMismatch)));
    assert!(matches!(
        rooms.leave(room, VisitorId::new(), s1).await,
        Err(AdmissionError::UnknownVisitor(x)) if x == room
    ));
    assert!(matches!(fx.store.revoke(room, VisitorId::new()).await, Err(AdmissionError::UnknownVisitor(_))));
    assert_eq!(position(&*fx.store, room, s0).await, 1, "nothing changed");
    // An arrival-order room ignores the random key, however absurd.
    let odd = session("odd");
    let req = Join { room, session: odd.clone(), visitor: VisitorId::new(), random_key: u64::MAX };
    fx.store.join(&req).await.expect("join");
    assert_eq!(position(&*fx.store, room, &odd).await, 4);
    let after = fx.store.room(room).await.expect("room");
    assert_eq!(after, crate::admission::RoomState { waiting: before.waiting + 1, ..before });
}

/// Concurrency on the real store: 64 sessions joining at once, each
/// racing its own retry, get one place each; 64 waves racing each other
/// admit exactly the cap, nobody twice.
pub async fn admission_races_keep_one_place_and_the_cap<S: WaitingRoomStore + ?Sized + 'static>(
    fx: &AdmissionFixture<S>,
) {
    let rooms = Arc::new(fx.rooms());
    let room = open_room(&rooms, room_config(fx.clock.now(), 1_000, 10)).await;
    rooms.draw(room).await.expect("draw");
    let sessions: Vec<SessionId> = (0..64).map(|i| session(&format!("racer{i}"))).collect();
    let mut tasks = Vec::new();
    for s in sessions.iter().chain(sessions.iter()) {
        let (rooms, s) = (rooms.clone(), s.clone());
        tasks.push(tokio::spawn(async move { rooms.join(room, &s).await.map(|st| (s, st.visitor.id)) }));
    }
    let mut ids = std::collections::HashMap::new();
    for t in tasks {
        let (s, id) = t.await.expect("task").expect("join");
        let first = *ids.entry(s).or_insert(id);
        assert_eq!(first, id, "a session racing its retry got two ids");
    }
    assert_eq!(ids.len(), 64);
    let state = fx.store.room(room).await.expect("room");
    assert_eq!(state.waiting, 64, "one place per session");
    let mut places = HashSet::new();
    for s in &sessions {
        assert!(places.insert(position(&*fx.store, room, s).await), "two visitors share a place");
    }

    let mut tasks = Vec::new();
    for _ in 0..64 {
        let rooms = rooms.clone();
        tasks.push(tokio::spawn(async move { rooms.admit_wave(room).await }));
    }
    let mut admitted = HashSet::new();
    for t in tasks {
        for a in t.await.expect("task").expect("wave").admitted {
            assert!(admitted.insert(a.visitor), "{} admitted twice", a.visitor);
        }
    }
    assert_eq!(admitted.len(), 10, "racing waves admit exactly the cap");
    let state = fx.store.room(room).await.expect("room");
    assert_eq!((state.active, state.waiting), (10, 54));
    let known: HashSet<VisitorId> = ids.values().copied().collect();
    assert!(admitted.is_subset(&known));
}

/// The ready worker admits waves on its own, counting the admitted; a
/// verifier caching revocations sees a revocation once its cache is as
/// old as its staleness (by the clock), and reads nothing for a forged
/// token.
pub async fn admission_worker_and_cached_verifier<S: WaitingRoomStore + ?Sized + 'static>(fx: &AdmissionFixture<S>) {
    let rooms = Arc::new(fx.rooms());
    let room = open_room(&rooms, room_config(fx.clock.now(), 100, 3)).await;
    let joined = join_many(&rooms, room, 5).await;
    let worker = rooms.clone().spawn_waves(room, std::time::Duration::from_millis(5));
    for _ in 0..2_000 {
        if worker.stats().items() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let stats = worker.stats().clone();
    worker.stop().await;
    assert_eq!(stats.items(), 3, "the worker admitted up to the cap, no more");
    assert_eq!(stats.errors(), 0);
    let state = fx.store.room(room).await.expect("room");
    assert_eq!((state.active, state.waiting), (3, 2));

    let verifier = rooms.verifier(std::time::Duration::from_secs(30));
    let (s0, v0) = &joined[0];
    let token = rooms.token(room, s0).await.expect("token");
    verifier.verify(&token, room, s0).await.expect("verifies, and caches the revocations");
    rooms.revoke(room, *v0).await.expect("revoke");
    verifier.verify(&token, room, s0).await.expect("the cache is not 30 s old yet");
    fx.clock.advance(Duration::seconds(30));
    assert!(matches!(verifier.verify(&token, room, s0).await, Err(AdmissionError::Token(TokenError::Revoked))));
    // A forged token for an unknown room is refused without a read.
    let forged = AdmissionToken(token.0.replace("wr1.test-1.", "wr1.test-1.00"));
    assert!(matches!(
        verifier.verify(&forged, RoomId::new(), s0).await,
        Err(AdmissionError::Token(TokenError::Malformed | TokenError::BadSignature))
    ));
}

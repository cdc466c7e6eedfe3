//! The store's contract, which every backend must keep: a new backend's tests call
//! [`conformance`] on a fresh store and [`concurrent_confirmations`] on two stores over one
//! database (the SQLite file's tests, and PostgreSQL's in `tests/cds_postgres.rs`). Public (but
//! hidden) so that the integration tests, which start a PostgreSQL server, can run it.

use super::*;
use crate::relay::DeliveryState;

pub fn row(id: u8, name: &str, now: u64, cdsk: u8) -> RequestRow {
    RequestRow {
        id: [id; 16],
        name: name.into(),
        x25519: [id; 32],
        ed25519: [id.wrapping_add(1); 32],
        email: format!("{name}@example.com"),
        oob: "sms:+15551234567".into(),
        created: now,
        expires: now + 600,
        cdsk: Some(Secret::from_slice(&[cdsk; 32]).unwrap()),
        attempts: 0,
        status: RequestStatus::Pending,
        prior_ed25519: None,
    }
}

pub fn bundle(recipient: &str, sender: &str, id: u8, size: u64, now: u64) -> StoredBundle {
    StoredBundle {
        recipient: recipient.into(),
        sender: sender.into(),
        bundle_id: [id; 8],
        size,
        path: format!("/mailbox/{id}"),
        created: now,
        expires: now + 3600,
    }
}

pub fn confirmed(c: Confirmation) -> Participant {
    match c {
        Confirmation::Confirmed(p) => p,
        other => panic!("not confirmed: {other:?}"),
    }
}

pub const ROOMY: MailboxLimits =
    MailboxLimits { quota: 1_000_000, per_sender: 1_000_000, sender_total: 1_000_000, total: 1_000_000 };

/// What every [`Store`] must do, whatever keeps it. A new backend calls this on a fresh store.
pub fn conformance(s: &dyn Store) {
    let now = 1_800_000_000;
    let rng = crate::crypto::system_rng();

    // The signing seed is made once and kept.
    let seed = s.sign_seed(&rng).unwrap();
    assert_eq!(s.sign_seed(&rng).unwrap().expose(), seed.expose());

    // A request: kept with its CDSK, attempts counted up to the maximum.
    s.insert_request(&row(1, "web1", now, 7)).unwrap();
    let got = s.request(&[1; 16]).unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.status, got.attempts), ("web1", RequestStatus::Pending, 0));
    assert_eq!(got.cdsk.as_ref().unwrap().expose(), &[7; 32]);
    assert!(s.request(&[9; 16]).unwrap().is_none());
    assert!(s.has_pending("web1", now).unwrap());
    assert!(!s.has_pending("web1", now + 600).unwrap(), "an expired request is not pending");
    assert_eq!(s.take_attempt(&[1; 16], 2).unwrap(), Some(1));
    assert_eq!(s.take_attempt(&[1; 16], 2).unwrap(), Some(2));
    assert_eq!(s.take_attempt(&[1; 16], 2).unwrap(), None, "no attempt past the maximum");

    // Confirming registers the participant and wipes the request's key; a replay gets None.
    let p = confirmed(s.confirm(&got, &[3; 32], "email,sms", Some("192.0.2.7"), now + 5, now + 86400).unwrap());
    assert_eq!(
        (p.name.as_str(), p.vsu_count, p.first_vsu, p.status),
        ("web1", 1, now + 5, ParticipantStatus::Confirmed)
    );
    assert_eq!(p.channels, "email,sms");
    let replay = s.confirm(&got, &[3; 32], "email,sms", None, now + 6, now + 86400).unwrap();
    assert!(matches!(replay, Confirmation::Replay), "{replay:?}");
    let after = s.request(&[1; 16]).unwrap().unwrap();
    assert_eq!(after.status, RequestStatus::Confirmed);
    assert!(after.cdsk.is_none(), "the confirmed request keeps no key");
    assert!(!s.has_pending("web1", now).unwrap());
    let (k, exp) = s.participant_cdsk("web1").unwrap().unwrap();
    assert_eq!((k.expose(), exp), (&[7; 32], now + 86400));
    assert_eq!(s.participant_source("web1").unwrap().as_deref(), Some("192.0.2.7"));
    assert!(s.participant("nobody").unwrap().is_none() && s.participant_cdsk("nobody").unwrap().is_none());

    // A second VSU of the same name counts on and keeps the first date.
    let mut again = row(2, "web1", now + 100, 8);
    again.ed25519 = [2; 32];
    s.insert_request(&again).unwrap();
    let second = s.request(&[2; 16]).unwrap().unwrap();
    let p = confirmed(s.confirm(&second, &[4; 32], "email", None, now + 200, now + 90000).unwrap());
    assert_eq!((p.vsu_count, p.first_vsu, p.last_vsu), (2, now + 5, now + 200));
    assert_eq!(s.participant_cdsk("web1").unwrap().unwrap().0.expose(), &[8; 32]);

    // Another key's request for web1 is refused at confirmation (first come wins) and changes
    // nothing; one that proved web1's key when it was opened (a rotation) takes the name.
    let mut other = row(10, "web1", now + 300, 11);
    other.ed25519 = [0xee; 32];
    s.insert_request(&other).unwrap();
    let other = s.request(&[10; 16]).unwrap().unwrap();
    let taken = s.confirm(&other, &[5; 32], "email", None, now + 301, now + 90000).unwrap();
    assert!(matches!(taken, Confirmation::NameTaken), "{taken:?}");
    assert_eq!(s.request(&[10; 16]).unwrap().unwrap().status, RequestStatus::Pending, "rolled back");
    assert_eq!(s.participant("web1").unwrap().unwrap().ed25519, [2; 32]);
    let mut rotation = row(11, "web1", now + 400, 12);
    rotation.ed25519 = [0xdd; 32];
    rotation.prior_ed25519 = Some([2; 32]);
    s.insert_request(&rotation).unwrap();
    let rotation = s.request(&[11; 16]).unwrap().unwrap();
    let p = confirmed(s.confirm(&rotation, &[6; 32], "email", None, now + 401, now + 90000).unwrap());
    assert_eq!((p.ed25519, p.vsu_count), ([0xdd; 32], 3));
    assert_eq!(p.key_renewed, None);

    // A renewal swaps the key only from the one it names, and is not a VSU.
    let key = |b: u8| Secret::<32>::from_slice(&[b; 32]).unwrap();
    assert!(!s.renew_key("web1", &key(99), &key(13), now + 500, now + 99999).unwrap(), "not its key");
    assert!(!s.renew_key("nobody", &key(12), &key(13), now + 500, now + 99999).unwrap());
    assert!(s.renew_key("web1", &key(12), &key(13), now + 500, now + 99999).unwrap());
    let (k, exp) = s.participant_cdsk("web1").unwrap().unwrap();
    assert_eq!((k.expose(), exp), (&[13; 32], now + 99999));
    let r = s.participant("web1").unwrap().unwrap();
    assert_eq!((r.vsu_count, r.last_vsu, r.key_renewed, r.channels.as_str()), (3, now + 401, Some(now + 500), "email"));
    assert!(!s.renew_key("web1", &key(12), &key(14), now + 501, now + 99999).unwrap(), "the old key is gone");
    assert_eq!(s.participant_cdsk("web1").unwrap().unwrap().0.expose(), &[13; 32]);

    // The KDC's key is made once; principals keep their keys, versions, costs and state.
    let kdc = s.kdc_key(&rng).unwrap();
    assert_eq!(s.kdc_key(&rng).unwrap().expose(), kdc.expose());
    assert!(!kdc.ct_eq(&s.sign_seed(&rng).unwrap()), "a key of its own");
    let argon2 = crate::kdc::Argon2Params { salt: [4; 16], m_kib: 64, t: 1, p: 1 };
    let alice = PrincipalRow {
        name: "alice".into(),
        kind: crate::kdc::PrincipalKind::User,
        kvno: 1,
        key: key(20),
        previous: None,
        argon2: Some(argon2),
        disabled: false,
        created: now,
    };
    assert!(s.principal_add(&alice).unwrap());
    assert!(!s.principal_add(&PrincipalRow { key: key(21), ..alice.clone() }).unwrap(), "the name is taken");
    let host = PrincipalRow {
        name: "web1".into(),
        kind: crate::kdc::PrincipalKind::Host,
        argon2: None,
        key: key(30),
        ..alice.clone()
    };
    assert!(s.principal_add(&host).unwrap());
    let got = s.principal("alice").unwrap().unwrap();
    assert_eq!((got.kvno, got.key.expose(), got.argon2, got.disabled), (1, &[20; 32], Some(argon2), false));
    assert!(s.principal("nobody").unwrap().is_none());
    // A rotation keeps the old key for its grace; a new password does not.
    assert_eq!(s.principal_rekey("web1", &key(31), None, now + 60).unwrap(), Some(2));
    let h = s.principal("web1").unwrap().unwrap();
    assert_eq!((h.kvno, h.key.expose()), (2, &[31; 32]));
    assert_eq!(h.key_of(1, now).map(|k| *k.expose()), Some([30; 32]));
    assert!(h.key_of(1, now + 60).is_none(), "the grace is over");
    let fresh = crate::kdc::Argon2Params { salt: [5; 16], ..argon2 };
    assert_eq!(s.principal_rekey("alice", &key(22), Some(fresh), 0).unwrap(), Some(2));
    let a = s.principal("alice").unwrap().unwrap();
    assert!(a.previous.is_none() && a.argon2 == Some(fresh) && a.key.expose() == &[22; 32]);
    assert_eq!(s.principal_rekey("nobody", &key(1), None, 0).unwrap(), None);
    assert!(s.principal_set_disabled("alice", true).unwrap());
    assert!(s.principal("alice").unwrap().unwrap().disabled);
    assert!(!s.principal_set_disabled("nobody", true).unwrap());
    let names: Vec<String> = s.principals().unwrap().into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["alice", "web1"]);
    assert!(s.principal_delete("alice").unwrap() && !s.principal_delete("alice").unwrap());

    // Denied for good: the key is wiped, no attempt is left.
    s.insert_request(&row(3, "db1", now, 9)).unwrap();
    s.deny_for_good(&[3; 16]).unwrap();
    let denied = s.request(&[3; 16]).unwrap().unwrap();
    assert!(denied.status == RequestStatus::Denied && denied.cdsk.is_none());
    assert_eq!(s.take_attempt(&[3; 16], 5).unwrap(), None);
    s.delete_request(&[3; 16]).unwrap();
    assert!(s.request(&[3; 16]).unwrap().is_none());

    // The billing tape, oldest first, each call's result as the tape shows it.
    s.call_started(&[5; 16], "web1", "db1", now + 10, &CallResult::new(CallOutcome::Connected, "")).unwrap();
    s.call_started(&[6; 16], "web1", "db2", now + 20, &CallResult::new(CallOutcome::Refused, "not listening")).unwrap();
    s.call_ended(&[5; 16], now + 30, 100, 200, &CallResult::new(CallOutcome::Cut, "idle")).unwrap();
    let calls = s.calls_since(now).unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].tracking_id, hex::encode([5; 16]));
    assert_eq!((calls[0].end, calls[0].bytes_up, calls[0].bytes_down), (Some(now + 30), 100, 200));
    assert_eq!((calls[0].outcome, calls[0].result.as_str()), (CallOutcome::Cut, "cut: idle"));
    assert_eq!((calls[1].outcome, calls[1].result.as_str()), (CallOutcome::Refused, "refused: not listening"));
    assert_eq!(calls[1].end, None);
    assert_eq!(s.calls_since(now + 15).unwrap().len(), 1);

    // Deposits: each limit refuses, a reservation holds room until cancelled or stored.
    let limits = MailboxLimits { quota: 100_000, per_sender: 60_000, sender_total: 80_000, total: 150_000 };
    let a = s.bundle_reserve(&bundle("db1", "web1", 1, 50_000, now), limits).unwrap().unwrap();
    let why = s.bundle_reserve(&bundle("db1", "web1", 2, 20_000, now), limits).unwrap().unwrap_err();
    assert!(why.contains("at most 60000 from one sender"), "{why}");
    let why = s.bundle_reserve(&bundle("db1", "app1", 2, 51_000, now), limits).unwrap().unwrap_err();
    assert!(why.contains("mailbox is full: 50000 of 100000"), "{why}");
    let why = s.bundle_reserve(&bundle("db2", "web1", 2, 31_000, now), limits).unwrap().unwrap_err();
    assert!(why.contains("at most 80000 from one sender"), "{why}");
    let b = s.bundle_reserve(&bundle("db2", "app1", 3, 60_000, now), limits).unwrap().unwrap();
    let why = s.bundle_reserve(&bundle("db3", "app2", 4, 41_000, now), limits).unwrap().unwrap_err();
    assert!(why.contains("the CDS's mailbox is full (110000 of 150000"), "{why}");
    assert!(s.bundle_reserve(&bundle("db3", "app2", 4, u64::MAX, now), ROOMY).unwrap().is_err(), "no overflow");
    // Empty bundles weigh BUNDLE_FLOOR (4096): they do not pass the quotas without end; the
    // room they held is given back exactly when they go.
    let ten_k = MailboxLimits { quota: 10_000, ..ROOMY };
    for round in 0..2u8 {
        let e1 = s.bundle_reserve(&bundle("db7", "app3", 21 + round, 0, now), ten_k).unwrap().unwrap();
        let e2 = s.bundle_reserve(&bundle("db7", "app3", 23 + round, 0, now), ten_k).unwrap().unwrap();
        let why = s.bundle_reserve(&bundle("db7", "app3", 25, 0, now), ten_k).unwrap().unwrap_err();
        assert!(why.contains("mailbox is full: 8192 of 10000") && why.contains("counts as 4096"), "{why}");
        s.bundle_cancel(e1).unwrap();
        s.bundle_cancel(e2).unwrap();
    }
    s.bundle_cancel(b).unwrap();
    assert!(
        s.bundle_stored(b, &bundle("db2", "app1", 3, 60_000, now)).is_err(),
        "a cancelled reservation stores nothing"
    );
    assert_eq!(s.delivery_states("app1", &[[3; 8]]).unwrap(), vec![(DeliveryState::Unknown, 0)]);
    let (none, _) = s.bundle_next("db2", now, &HashSet::new()).unwrap();
    assert!(none.is_none(), "a reservation is not a bundle to collect");
    assert_eq!(s.delivery_states("web1", &[[1; 8], [9; 8]]).unwrap(), vec![(DeliveryState::Unknown, 0); 2]);

    // Stored: queued for its sender; collected in order, kept ones skipped, expired dropped.
    s.bundle_stored(a, &bundle("db1", "web1", 1, 50_000, now)).unwrap();
    let mut old = bundle("db1", "app1", 7, 10, now - 7200);
    old.expires = now - 1;
    let o = s.bundle_reserve(&old, ROOMY).unwrap().unwrap();
    s.bundle_stored(o, &old).unwrap();
    let c = s.bundle_reserve(&bundle("db1", "app1", 8, 10, now), ROOMY).unwrap().unwrap();
    s.bundle_stored(c, &bundle("db1", "app1", 8, 10, now)).unwrap();
    assert_eq!(s.delivery_states("web1", &[[1; 8]]).unwrap(), vec![(DeliveryState::Queued, now)]);
    let (next, gone) = s.bundle_next("db1", now, &HashSet::new()).unwrap();
    let (id, got) = next.unwrap();
    assert_eq!((id, got), (a, bundle("db1", "web1", 1, 50_000, now)));
    assert!(gone.is_empty(), "the expired one lies behind the first: not met yet");
    let (next, gone) = s.bundle_next("db1", now, &HashSet::from([a])).unwrap();
    assert_eq!(next.unwrap().0, c);
    assert_eq!(gone, vec!["/mailbox/7".to_owned()]);
    assert_eq!(s.delivery_states("app1", &[[7; 8]]).unwrap(), vec![(DeliveryState::Expired, now)]);
    assert_eq!(s.bundle_done("db2", a, DeliveryState::Delivered, now + 1).unwrap(), None, "not db2's");
    assert_eq!(s.bundle_done("db1", a, DeliveryState::Delivered, now + 1).unwrap().as_deref(), Some("/mailbox/1"));
    assert_eq!(s.bundle_done("db1", a, DeliveryState::Delivered, now + 1).unwrap(), None, "done once");
    assert_eq!(s.delivery_states("web1", &[[1; 8]]).unwrap(), vec![(DeliveryState::Delivered, now + 1)]);
    s.bundle_done("db1", c, DeliveryState::Refused, now + 2).unwrap();
    // The highest id is gone: the next bundle gets a new one, so a late acknowledgement of the
    // old id names nothing.
    let n = s.bundle_reserve(&bundle("db1", "app1", 11, 10, now), ROOMY).unwrap().unwrap();
    assert!(n > c, "ids are never given out again ({n} after {c})");
    s.bundle_stored(n, &bundle("db1", "app1", 11, 10, now)).unwrap();
    assert_eq!(s.bundle_done("db1", c, DeliveryState::Delivered, now + 3).unwrap(), None);
    assert_eq!(s.bundle_done("db1", n, DeliveryState::Delivered, now + 3).unwrap().as_deref(), Some("/mailbox/11"));
    assert_eq!(s.delivery_states("app1", &[[8; 8]]).unwrap(), vec![(DeliveryState::Refused, now + 2)]);

    // A recipient with more bundles than a page: the expired ones met on the way leave, the kept
    // ones are passed over, across pages.
    let big = MailboxLimits { quota: 1 << 30, per_sender: 1 << 30, sender_total: 1 << 30, total: 1 << 40 };
    let mut live = Vec::new();
    for i in 0..150u8 {
        let mut b = bundle("db10", "app10", 100 + i, 10, now);
        if i < 70 {
            b.expires = now - 1;
        }
        let id = s.bundle_reserve(&b, big).unwrap().unwrap();
        s.bundle_stored(id, &b).unwrap();
        if i >= 70 {
            live.push(id);
        }
    }
    let kept: HashSet<i64> = live[..75].iter().copied().collect();
    let (next, gone) = s.bundle_next("db10", now, &kept).unwrap();
    assert_eq!(next.map(|(id, _)| id), Some(live[75]), "past 70 expired and 75 kept ones");
    assert_eq!(gone.len(), 70);
    assert_eq!(gone[69], "/mailbox/169");
    for id in live {
        s.bundle_done("db10", id, DeliveryState::Delivered, now).unwrap().unwrap();
    }
    let (none, gone) = s.bundle_next("db10", now, &HashSet::new()).unwrap();
    assert!(none.is_none() && gone.is_empty());

    // Rate limits: all keys or none, and when the full one frees up.
    let (one, two) = (Limit { count: 2, window: 60 }, Limit { count: 1, window: 60 });
    assert_eq!(s.rate_take(&[("a".into(), one)], now).unwrap(), None);
    assert_eq!(s.rate_take(&[("a".into(), one), ("b".into(), two)], now + 10).unwrap(), None);
    assert_eq!(s.rate_take(&[("b".into(), two), ("c".into(), one)], now + 20).unwrap(), Some(("b".into(), 50)));
    assert_eq!(s.rate_take(&[("c".into(), two)], now + 20).unwrap(), None, "c was not counted when b was full");
    assert_eq!(s.rate_take(&[("b".into(), two)], now + 70).unwrap(), None, "the window moved on");

    // The purge: expired requests' keys wiped, old ones forgotten, expired bundles dropped.
    s.insert_request(&row(4, "app9", now, 1)).unwrap();
    let e = s.bundle_reserve(&bundle("db5", "app1", 9, 5, now), ROOMY).unwrap().unwrap();
    s.bundle_stored(e, &bundle("db5", "app1", 9, 5, now)).unwrap();
    let stale = s.bundle_reserve(&bundle("db6", "app1", 10, 5, now), ROOMY).unwrap().unwrap();
    let purged = s.purge_expired(now + 600, 3600, 60).unwrap();
    assert_eq!(purged.requests, 0, "within the grace period");
    assert!(s.request(&[4; 16]).unwrap().unwrap().cdsk.is_none(), "but the key is wiped");
    let purged = s.purge_expired(now + 30_000, 3600, 60).unwrap();
    assert_eq!(purged.requests, 2, "app9's and the refused web1 request are forgotten; confirmed ones stay");
    assert!(s.request(&[1; 16]).unwrap().is_some());
    assert_eq!(purged.bundle_files, vec!["/mailbox/9".to_owned()]);
    assert_eq!(s.delivery_states("app1", &[[9; 8]]).unwrap()[0].0, DeliveryState::Expired);
    s.bundle_cancel(stale).unwrap();
    assert_eq!(s.rate_take(&[("a".into(), Limit { count: 1, window: 60 })], now + 30_000).unwrap(), None);

    // Release.
    // A restart forgets the reservations of deposits cut off by the stop.
    let r = s.bundle_reserve(&bundle("db7", "app1", 12, 5, now), ROOMY).unwrap().unwrap();
    assert_eq!(s.forget_reservations().unwrap(), 1);
    assert!(s.bundle_stored(r, &bundle("db7", "app1", 12, 5, now)).is_err());

    assert!(s.release("web1").unwrap());
    assert!(!s.release("web1").unwrap());
    assert!(s.participant("web1").unwrap().is_none());
}

/// Two stores over one database: concurrent confirmations of one name from two keys register it
/// once (the other hears the name is taken), round after round.
pub fn concurrent_confirmations(a: &dyn Store, b: &dyn Store) {
    let now = 1_800_000_000;
    for round in 0..20u8 {
        let name = format!("race{round}");
        let (one, two) = (row(2 * round + 1, &name, now, 1), row(2 * round + 2, &name, now, 2));
        a.insert_request(&one).unwrap();
        a.insert_request(&two).unwrap();
        let (one, two) = (a.request(&one.id).unwrap().unwrap(), b.request(&two.id).unwrap().unwrap());
        let results = std::thread::scope(|s| {
            let x = s.spawn(|| a.confirm(&one, &[1; 32], "email", None, now, now + 1).unwrap());
            let y = s.spawn(|| b.confirm(&two, &[2; 32], "email", None, now, now + 1).unwrap());
            [x.join().unwrap(), y.join().unwrap()]
        });
        let won = results.iter().filter(|r| matches!(r, Confirmation::Confirmed(_))).count();
        let lost = results.iter().filter(|r| matches!(r, Confirmation::NameTaken)).count();
        assert_eq!((won, lost), (1, 1), "round {round}: {results:?}");
    }
}

/// Leaves the mailbox busy, by every path that changes bundles: 1,500 deposits for five
/// recipients from four senders, of sizes under and over the floor; 1,200 of them expired (the
/// purge takes them in more than one batch), some collected, some reservations cancelled and
/// some left open. Afterwards a backend's running totals must equal a recount of its bundles.
/// `tag` keeps the bundles of two calls (two threads, say) apart. Returns what its purge took
/// (with two at once, one purge may find the other under way and take nothing).
pub fn mailbox_churn(s: &dyn Store, now: u64, tag: u8) -> Purged {
    let big = MailboxLimits { quota: 1 << 40, per_sender: 1 << 40, sender_total: 1 << 40, total: 1 << 50 };
    let sizes = [0, 100, 5000, 70_000];
    for i in 0..1500u32 {
        let (to, from) = (format!("churn{tag}-{}", i % 5), format!("sender{tag}-{}", i % 4));
        let mut b = bundle(&to, &from, 0, sizes[i as usize % 4], now);
        b.bundle_id = [&[tag][..], &i.to_be_bytes(), &[0, 0, 0]].concat().try_into().unwrap();
        b.path = format!("/mailbox/churn{tag}-{i}");
        if i < 1200 {
            b.expires = now - 1;
        }
        let id = s.bundle_reserve(&b, big).unwrap().unwrap();
        match i % 10 {
            0 => s.bundle_cancel(id).unwrap(),
            1 => {} // under way
            _ => s.bundle_stored(id, &b).unwrap(),
        }
        if i >= 1200 && i % 10 == 2 {
            assert!(s.bundle_done(&to, id, DeliveryState::Delivered, now).unwrap().is_some());
        }
    }
    s.purge_expired(now, 3600, 60).unwrap()
}

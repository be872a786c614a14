//! The store conformance suite: the same checks on every backend (feature `testing`).
//!
//! A backend's test opens a fresh, empty store and calls [`conformance`]; a second test opens two
//! handles on one database and calls [`concurrent_appends`]. The checks panic with a message
//! naming the method that misbehaved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    App, AppSettings, AuditEntry, AuditQuery, AuditRecord, Challenge, Disposal, DisposalLevel,
    Message, Store, StoreError, UnverifiedPolicy, UserCounts, Verification,
};
use hegui_audit::{PURGE_KIND, PurgeBody};

/// Runs every conformance check against an empty store.
pub async fn conformance(store: &dyn Store) {
    // Migrating an up-to-date schema again is a no-op.
    store.migrate().await.expect("migrate (again)");
    store.migrate().await.expect("migrate (third time)");
    apps(store).await;
    users(store).await;
    challenges(store).await;
    messages(store).await;
    audit(store).await;
    purge(store).await;
    commit_request(store).await;
    challenge_attempts(store).await;
}

/// Attempts are claimed atomically: concurrent claims never exceed the limit.
async fn challenge_attempts(store: &dyn Store) {
    let c = Challenge {
        app: "app_claim".into(),
        user: "u1".into(),
        code_hmac: "00".into(),
        issued_at: 1,
        subject_hmac: "11".into(),
        masked: "138****0000".into(),
        expires_at: 2,
        attempts: 0,
    };
    store.put_challenge(&c).await.unwrap();
    assert!(
        store
            .claim_challenge_attempt("app_claim", "nobody", 5)
            .await
            .unwrap()
            .is_none()
    );
    let claims = (0..10).map(|_| store.claim_challenge_attempt("app_claim", "u1", 5));
    let results = futures_util::future::join_all(claims).await;
    let mut seen: Vec<u32> = results
        .into_iter()
        .filter_map(|r| r.unwrap().map(|c| c.attempts))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        vec![0, 1, 2, 3, 4],
        "each attempt claimed once, five in all"
    );
    assert_eq!(
        store
            .challenge("app_claim", "u1")
            .await
            .unwrap()
            .unwrap()
            .attempts,
        5
    );
}

/// One request's messages and audit records land together, chained after what was there.
async fn commit_request(store: &dyn Store) {
    let head = store.audit_head().await.unwrap();
    let msgs = [("user", "提问"), ("assistant", "回答")].map(|(role, content)| Message {
        app: "app_commit".into(),
        user: "u1".into(),
        request_id: "req-commit".into(),
        role: role.into(),
        content: content.into(),
        at: 90_000,
    });
    let mut e = AuditEntry::new(90_000, "request.chat");
    e.request_id = Some("req-commit".into());
    let recs = store
        .commit_request(&msgs, vec![e, AuditEntry::new(90_001, "decision.output")])
        .await
        .expect("commit_request");
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].seq, head.as_ref().map_or(0, |(s, _)| s + 1));
    assert_eq!(recs[1].prev, recs[0].hash);
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((recs[1].seq, recs[1].hash.clone()))
    );
    assert_eq!(
        store.messages("app_commit", "u1").await.unwrap(),
        msgs.to_vec()
    );
    // Messages alone (an unaudited call) and audit alone both work.
    assert!(store.commit_request(&[], vec![]).await.unwrap().is_empty());
}

fn app(n: u32) -> App {
    App {
        id: format!("app_{n:04x}"),
        name: format!("应用 {n}"),
        key_hash: format!("{n:064x}"),
        created_at: 1_000 + i64::from(n),
        settings: AppSettings::default(),
    }
}

async fn apps(store: &dyn Store) {
    assert_eq!(
        store.apps().await.unwrap(),
        vec![],
        "apps() of an empty store"
    );
    let a = app(1);
    let b = App {
        settings: AppSettings {
            upstream: Some("http://127.0.0.1:8000/v1".into()),
            upstream_key: Some("sk-upstream".into()),
            unverified: UnverifiedPolicy {
                generate: false,
                publish: false,
            },
            service_kind: "companion".into(),
        },
        ..app(2)
    };
    store.create_app(&a).await.expect("create_app");
    store.create_app(&b).await.expect("create_app (second)");

    // Same name, other key: conflict. Same key, other name: conflict.
    let same_name = App {
        id: "app_other1".into(),
        key_hash: "f".repeat(64),
        ..a.clone()
    };
    assert!(
        matches!(
            store.create_app(&same_name).await,
            Err(StoreError::Conflict(_))
        ),
        "create_app with an existing name must be Conflict"
    );
    let same_key = App {
        id: "app_other2".into(),
        name: "another name".into(),
        ..a.clone()
    };
    assert!(
        matches!(
            store.create_app(&same_key).await,
            Err(StoreError::Conflict(_))
        ),
        "create_app with an existing key hash must be Conflict"
    );
    let same_id = App {
        name: "third name".into(),
        key_hash: "e".repeat(64),
        ..a.clone()
    };
    assert!(
        matches!(
            store.create_app(&same_id).await,
            Err(StoreError::Conflict(_))
        ),
        "create_app with an existing id must be Conflict"
    );

    assert_eq!(store.app(&a.id).await.unwrap(), Some(a.clone()), "app(id)");
    assert_eq!(
        store.app(&b.id).await.unwrap(),
        Some(b.clone()),
        "app(id) with settings"
    );
    assert_eq!(
        store.app("app_missing").await.unwrap(),
        None,
        "app(unknown)"
    );
    assert_eq!(
        store.app_by_key_hash(&b.key_hash).await.unwrap(),
        Some(b.clone()),
        "app_by_key_hash"
    );
    assert_eq!(
        store.app_by_key_hash(&"0".repeat(64)).await.unwrap(),
        None,
        "app_by_key_hash(unknown)"
    );
    assert_eq!(
        store.apps().await.unwrap(),
        vec![a.clone(), b.clone()],
        "apps() oldest first, conflicts not stored"
    );

    let settings = AppSettings {
        upstream: Some("http://upstream.example/v1".into()),
        unverified: UnverifiedPolicy {
            generate: true,
            publish: true,
        },
        ..AppSettings::default()
    };
    store
        .update_app_settings(&a.id, &settings)
        .await
        .expect("update_app_settings");
    let updated = store.app(&a.id).await.unwrap().unwrap();
    assert_eq!(updated.settings, settings, "settings replaced");
    assert_eq!(updated.name, a.name, "update_app_settings keeps the rest");
    assert_eq!(
        store
            .app_by_key_hash(&a.key_hash)
            .await
            .unwrap()
            .unwrap()
            .settings,
        settings
    );
    assert!(
        matches!(
            store.update_app_settings("app_missing", &settings).await,
            Err(StoreError::NotFound(_))
        ),
        "update_app_settings of an unknown app must be NotFound"
    );
}

async fn users(store: &dyn Store) {
    let app = "app_users";
    let other = "app_users_other";
    assert_eq!(
        store.user(app, "u1").await.unwrap(),
        None,
        "user before first sight"
    );
    assert_eq!(
        store.user_counts(app, 0).await.unwrap(),
        UserCounts::default(),
        "counts of an app without users"
    );

    // First sight registers.
    let u1 = store
        .touch_user(app, "u1", 10_000)
        .await
        .expect("touch_user");
    assert_eq!((u1.app.as_str(), u1.id.as_str()), (app, "u1"));
    assert_eq!(
        (u1.created_at, u1.last_seen),
        (10_000, 10_000),
        "first sight"
    );
    assert_eq!(u1.verification, None);
    assert_eq!(u1.disposal, Disposal::default());
    assert_eq!(u1.violations, 0);
    assert_eq!(store.user(app, "u1").await.unwrap(), Some(u1.clone()));

    // Later sight updates last_seen only.
    let again = store.touch_user(app, "u1", 20_000).await.unwrap();
    assert_eq!(
        (again.created_at, again.last_seen),
        (10_000, 20_000),
        "touch updates last_seen"
    );
    assert_eq!(store.user(app, "u1").await.unwrap(), Some(again));

    // Users of another app with the same id are different users.
    let same_id = store.touch_user(other, "u1", 15_000).await.unwrap();
    assert_eq!(same_id.created_at, 15_000, "users are per application");
    store.touch_user(app, "u2", 11_000).await.unwrap();
    store.touch_user(app, "u3", 12_000).await.unwrap();
    // Concurrent-looking first sights of one user register it once.
    let (x, y) = futures_join(
        store.touch_user(app, "u4", 13_000),
        store.touch_user(app, "u4", 13_001),
    )
    .await;
    let (x, y) = (x.unwrap(), y.unwrap());
    assert_eq!(x.created_at, y.created_at, "one registration, seen by both");

    let list = store.users(app, 0, 100).await.unwrap();
    let ids: Vec<&str> = list.iter().map(|u| u.id.as_str()).collect();
    assert_eq!(
        ids,
        ["u1", "u2", "u3", "u4"],
        "users() oldest first, per application"
    );
    let page: Vec<String> = store
        .users(app, 1, 2)
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.id)
        .collect();
    assert_eq!(page, ["u2", "u3"], "users() offset and limit");
    assert_eq!(
        store.users(app, 10, 10).await.unwrap(),
        vec![],
        "users() past the end"
    );

    // Counts: u1 seen at 20_000, u2 11_000, u3 12_000, u4 ≥ 13_000.
    assert_eq!(
        store.user_counts(app, 12_000).await.unwrap(),
        UserCounts {
            registered: 4,
            active: 3
        },
        "user_counts: active means last_seen >= cutoff"
    );
    assert_eq!(
        store.user_counts(app, 30_000).await.unwrap(),
        UserCounts {
            registered: 4,
            active: 0
        }
    );
    assert_eq!(
        store.user_counts(other, 0).await.unwrap(),
        UserCounts {
            registered: 1,
            active: 1
        },
        "user_counts per application"
    );

    // Verification, replaced by a later one.
    let v = Verification {
        method: "sms_otp".into(),
        verified_at: 21_000,
        subject_hmac: "a".repeat(64),
        masked: "138****5678".into(),
        birth_date: None,
        provider_ref: "sms:req-1".into(),
    };
    store
        .set_verification(app, "u1", &v)
        .await
        .expect("set_verification");
    assert_eq!(
        store.user(app, "u1").await.unwrap().unwrap().verification,
        Some(v)
    );
    let v2 = Verification {
        method: "three_element".into(),
        verified_at: 22_000,
        subject_hmac: "b".repeat(64),
        masked: "110105********002X".into(),
        birth_date: Some("1990-01-02".into()),
        provider_ref: "vendor:abc".into(),
    };
    store.set_verification(app, "u1", &v2).await.unwrap();
    let u1 = store.user(app, "u1").await.unwrap().unwrap();
    assert_eq!(
        u1.verification,
        Some(v2.clone()),
        "set_verification replaces"
    );
    assert_eq!(u1.last_seen, 20_000, "set_verification keeps the rest");
    assert_eq!(
        store.user(other, "u1").await.unwrap().unwrap().verification,
        None,
        "verification is per application"
    );
    assert!(
        matches!(
            store.set_verification(app, "nobody", &v2).await,
            Err(StoreError::NotFound(_))
        ),
        "set_verification of an unknown user must be NotFound"
    );

    // Disposal: ladder step, suspension with an end, back to none.
    let d = Disposal {
        level: DisposalLevel::Suspended,
        reason: Some("violations_threshold".into()),
        until: Some(99_000),
        by: Some("ladder".into()),
        at: Some(23_000),
    };
    store
        .set_disposal(app, "u2", &d)
        .await
        .expect("set_disposal");
    assert_eq!(store.user(app, "u2").await.unwrap().unwrap().disposal, d);
    for level in [
        DisposalLevel::Warning,
        DisposalLevel::Restricted,
        DisposalLevel::Closed,
        DisposalLevel::None,
    ] {
        let d = Disposal {
            level,
            reason: Some("manual".into()),
            until: None,
            by: Some("admin".into()),
            at: Some(24_000),
        };
        store.set_disposal(app, "u2", &d).await.unwrap();
        assert_eq!(
            store.user(app, "u2").await.unwrap().unwrap().disposal,
            d,
            "set_disposal {level:?}"
        );
    }
    store
        .set_disposal(app, "u2", &Disposal::default())
        .await
        .unwrap();
    assert_eq!(
        store.user(app, "u2").await.unwrap().unwrap().disposal,
        Disposal::default()
    );
    assert!(
        matches!(
            store.set_disposal(app, "nobody", &d).await,
            Err(StoreError::NotFound(_))
        ),
        "set_disposal of an unknown user must be NotFound"
    );

    // Violations count up atomically, per user.
    assert_eq!(
        store.add_violation(app, "u3", 25_000).await.unwrap(),
        1,
        "add_violation"
    );
    assert_eq!(store.add_violation(app, "u3", 25_001).await.unwrap(), 2);
    let (a, b) = futures_join(
        store.add_violation(app, "u3", 25_002),
        store.add_violation(app, "u3", 25_003),
    )
    .await;
    let mut got = [a.unwrap(), b.unwrap()];
    got.sort_unstable();
    assert_eq!(got, [3, 4], "concurrent add_violation counts each once");
    assert_eq!(store.user(app, "u3").await.unwrap().unwrap().violations, 4);
    assert_eq!(store.user(app, "u1").await.unwrap().unwrap().violations, 0);
    assert!(
        matches!(
            store.add_violation(app, "nobody", 1).await,
            Err(StoreError::NotFound(_))
        ),
        "add_violation of an unknown user must be NotFound"
    );
    // Touching a user keeps verification, disposal and violations.
    store.set_disposal(app, "u3", &d).await.unwrap();
    let u3 = store.touch_user(app, "u3", 26_000).await.unwrap();
    assert_eq!(
        (u3.violations, u3.disposal.clone()),
        (4, d),
        "touch_user keeps the state"
    );
    let u1 = store.touch_user(app, "u1", 26_000).await.unwrap();
    assert_eq!(u1.verification, Some(v2));
}

async fn challenges(store: &dyn Store) {
    let c = Challenge {
        app: "app_ch".into(),
        user: "u1".into(),
        code_hmac: "c".repeat(64),
        issued_at: 30_000,
        subject_hmac: "d".repeat(64),
        masked: "138****5678".into(),
        expires_at: 330_000,
        attempts: 0,
    };
    assert_eq!(
        store.challenge("app_ch", "u1").await.unwrap(),
        None,
        "no challenge yet"
    );
    store.put_challenge(&c).await.expect("put_challenge");
    assert_eq!(
        store.challenge("app_ch", "u1").await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.challenge("app_ch", "u2").await.unwrap(),
        None,
        "challenge per user"
    );
    assert_eq!(
        store.challenge("app_other", "u1").await.unwrap(),
        None,
        "challenge per app"
    );
    // Replacing: a wrong answer bumps attempts; a resend replaces the code.
    let c2 = Challenge {
        attempts: 1,
        ..c.clone()
    };
    store.put_challenge(&c2).await.unwrap();
    assert_eq!(
        store.challenge("app_ch", "u1").await.unwrap(),
        Some(c2),
        "put_challenge replaces"
    );
    let c3 = Challenge {
        code_hmac: "e".repeat(64),
        issued_at: 40_000,
        expires_at: 340_000,
        attempts: 0,
        ..c.clone()
    };
    store.put_challenge(&c3).await.unwrap();
    assert_eq!(store.challenge("app_ch", "u1").await.unwrap(), Some(c3));
    let other = Challenge {
        user: "u2".into(),
        ..c.clone()
    };
    store.put_challenge(&other).await.unwrap();
    store
        .delete_challenge("app_ch", "u1")
        .await
        .expect("delete_challenge");
    assert_eq!(
        store.challenge("app_ch", "u1").await.unwrap(),
        None,
        "deleted"
    );
    assert_eq!(
        store.challenge("app_ch", "u2").await.unwrap(),
        Some(other),
        "others kept"
    );
    store
        .delete_challenge("app_ch", "u1")
        .await
        .expect("deleting a missing challenge is not an error");
}

async fn messages(store: &dyn Store) {
    let app = "app_msg";
    assert_eq!(
        store.messages(app, "u1").await.unwrap(),
        vec![],
        "no messages yet"
    );
    let texts = [
        ("user", "你好，请帮我写一首诗。"),
        ("assistant", "床前明月光，疑是地上霜。"),
        ("user", ""),
        (
            "assistant",
            "emoji 🎉 and \"quotes\" and \\ backslash and \0 nul",
        ),
    ];
    let mut want = Vec::new();
    for (i, (role, content)) in texts.iter().enumerate() {
        let m = Message {
            app: app.into(),
            user: "u1".into(),
            request_id: format!("req-{}", i / 2),
            role: (*role).into(),
            content: (*content).into(),
            at: 40_000 + i as i64,
        };
        store.put_message(&m).await.expect("put_message");
        want.push(m);
    }
    store
        .put_message(&Message {
            app: app.into(),
            user: "u2".into(),
            request_id: "req-x".into(),
            role: "user".into(),
            content: "other user".into(),
            at: 40_001,
        })
        .await
        .unwrap();
    let long = "长".repeat(50_000);
    let m = Message {
        app: app.into(),
        user: "u1".into(),
        request_id: "req-long".into(),
        role: "assistant".into(),
        content: long,
        at: 40_100,
    };
    store.put_message(&m).await.unwrap();
    want.push(m);
    assert_eq!(
        store.messages(app, "u1").await.unwrap(),
        want,
        "messages() opens what put_message sealed, oldest first"
    );
    assert_eq!(
        store.messages(app, "u2").await.unwrap().len(),
        1,
        "messages per user"
    );
    assert_eq!(
        store.messages("app_none", "u1").await.unwrap(),
        vec![],
        "messages per app"
    );
}

fn entry(
    at: i64,
    kind: &str,
    app: Option<&str>,
    subject: Option<&str>,
    req: Option<&str>,
) -> AuditEntry {
    let mut e = AuditEntry::new(at, kind);
    e.app = app.map(Into::into);
    e.subject = subject.map(Into::into);
    e.request_id = req.map(Into::into);
    e.body = serde_json::json!({"n": at, "text": "已掩码 138****5678", "nested": {"b": [1, 2], "a": null}});
    e
}

/// All records, in seq order.
async fn all_records(store: &dyn Store) -> Vec<AuditRecord> {
    let mut out: Vec<AuditRecord> = Vec::new();
    let mut from = 0;
    loop {
        let page = store.audit_range(from, 1_000).await.expect("audit_range");
        let Some(last) = page.last() else {
            return out;
        };
        from = last.seq + 1;
        out.extend(page);
    }
}

/// Verifies the whole stored chain against the stored head.
async fn assert_verifies(store: &dyn Store, what: &str) -> hegui_audit::VerifyReport {
    let records = all_records(store).await;
    let head = store.audit_head().await.expect("audit_head");
    hegui_audit::verify(&records, head.as_ref().map(|(s, h)| (*s, h.as_str())))
        .unwrap_or_else(|e| panic!("{what}: chain does not verify: {e}"))
}

async fn audit(store: &dyn Store) {
    assert_eq!(
        store.audit_head().await.unwrap(),
        None,
        "audit_head of an empty chain"
    );
    assert_eq!(
        store.audit_range(0, 10).await.unwrap(),
        vec![],
        "audit_range of an empty chain"
    );
    assert_eq!(
        store.append_audit_batch(vec![]).await.unwrap(),
        vec![],
        "empty batch"
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        None,
        "empty batch appends nothing"
    );

    let first = store
        .append_audit(entry(
            50_000,
            "request.chat",
            Some("app_a"),
            Some("u1"),
            Some("r1"),
        ))
        .await
        .expect("append_audit");
    assert_eq!(first.seq, 0, "first record is seq 0");
    assert_eq!(first.prev, hegui_audit::GENESIS);
    assert_eq!(
        first,
        AuditRecord::chain(
            None,
            entry(
                50_000,
                "request.chat",
                Some("app_a"),
                Some("u1"),
                Some("r1")
            )
        )
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((0, first.hash.clone()))
    );

    let batch = store
        .append_audit_batch(vec![
            entry(
                50_001,
                "decision.input",
                Some("app_a"),
                Some("u1"),
                Some("r1"),
            ),
            entry(
                50_002,
                "decision.output",
                Some("app_a"),
                Some("u1"),
                Some("r1"),
            ),
            entry(
                50_003,
                "request.chat",
                Some("app_b"),
                Some("u2"),
                Some("r2"),
            ),
        ])
        .await
        .expect("append_audit_batch");
    assert_eq!(
        batch.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [1, 2, 3],
        "batch in order"
    );
    assert_eq!(batch[0].prev, first.hash, "batch links to the head");
    assert_eq!(batch[1].prev, batch[0].hash);
    let mut last = batch[2].clone();
    for i in 0..16 {
        let (app, subject) = if i % 2 == 0 {
            ("app_a", "u1")
        } else {
            ("app_b", "u2")
        };
        let kind = if i % 4 == 0 {
            "disposal.set"
        } else {
            "request.chat"
        };
        let r = store
            .append_audit(entry(
                50_010 + i,
                kind,
                Some(app),
                Some(subject),
                Some(&format!("r{}", i + 3)),
            ))
            .await
            .unwrap();
        assert_eq!(r.seq, last.seq + 1);
        assert_eq!(r.prev, last.hash);
        last = r;
    }
    let mut system = AuditEntry::new(50_100, "admin.app.create");
    system.body = serde_json::json!({});
    let sys = store.append_audit(system).await.unwrap();
    assert_eq!(
        (sys.app.clone(), sys.subject.clone(), sys.request_id.clone()),
        (None, None, None)
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((sys.seq, sys.hash.clone())),
        "head moves"
    );

    // Range: seq order, from, limit; records come back exactly as appended.
    let all = all_records(store).await;
    assert_eq!(all.len(), 21);
    assert_eq!(all[0], first, "stored record equals the appended one");
    assert_eq!(all[1..4], batch[..]);
    assert_eq!(*all.last().unwrap(), sys);
    for r in &all {
        assert_eq!(r.hash, r.compute_hash(), "record {} rehashes", r.seq);
    }
    let page = store.audit_range(5, 3).await.unwrap();
    assert_eq!(
        page.iter().map(|r| r.seq).collect::<Vec<_>>(),
        [5, 6, 7],
        "audit_range(from, limit)"
    );
    assert_eq!(
        store.audit_range(21, 10).await.unwrap(),
        vec![],
        "audit_range past the end"
    );
    assert_eq!(
        store.audit_range(0, 0).await.unwrap(),
        vec![],
        "audit_range limit 0"
    );

    let report = assert_verifies(store, "after appends").await;
    assert_eq!(report.records, 21);
    assert_eq!(report.last_seq, Some(20));

    // Query: filters combine; newest first; limit; 0 means 100.
    let seqs = |v: Vec<AuditRecord>| v.into_iter().map(|r| r.seq).collect::<Vec<_>>();
    let q = |f: fn(&mut AuditQuery)| {
        let mut q = AuditQuery::default();
        f(&mut q);
        q
    };
    let everything = store.audit_query(&AuditQuery::default()).await.unwrap();
    assert_eq!(
        seqs(everything),
        (0..21).rev().collect::<Vec<u64>>(),
        "audit_query newest first"
    );
    let by_app = store
        .audit_query(&q(|q| q.app = Some("app_b".into())))
        .await
        .unwrap();
    assert!(by_app.iter().all(|r| r.app.as_deref() == Some("app_b")));
    assert_eq!(by_app.len(), 9, "audit_query by app");
    assert!(
        by_app.windows(2).all(|w| w[0].seq > w[1].seq),
        "newest first"
    );
    let by_subject = store
        .audit_query(&q(|q| q.subject = Some("u1".into())))
        .await
        .unwrap();
    assert_eq!(by_subject.len(), 11, "audit_query by subject");
    let by_request = store
        .audit_query(&q(|q| q.request_id = Some("r1".into())))
        .await
        .unwrap();
    assert_eq!(seqs(by_request), [2, 1, 0], "audit_query by request");
    let by_kind = store
        .audit_query(&q(|q| q.kind_prefix = Some("decision.".into())))
        .await
        .unwrap();
    assert_eq!(seqs(by_kind), [2, 1], "audit_query by kind prefix");
    let by_kind = store
        .audit_query(&q(|q| q.kind_prefix = Some("request".into())))
        .await
        .unwrap();
    assert_eq!(by_kind.len(), 14, "audit_query by kind prefix");
    let wildcard = store
        .audit_query(&q(|q| q.kind_prefix = Some("%".into())))
        .await
        .unwrap();
    assert_eq!(wildcard, vec![], "a kind prefix is literal, not a pattern");
    let since = store
        .audit_query(&q(|q| q.since = Some(50_020)))
        .await
        .unwrap();
    assert_eq!(
        seqs(since),
        [20, 19, 18, 17, 16, 15, 14],
        "audit_query since (inclusive)"
    );
    let combined = store
        .audit_query(&q(|q| {
            q.app = Some("app_a".into());
            q.kind_prefix = Some("disposal".into());
            q.since = Some(50_011);
        }))
        .await
        .unwrap();
    assert_eq!(seqs(combined), [16, 12, 8], "audit_query filters combine");
    let limited = store
        .audit_query(&q(|q| {
            q.app = Some("app_a".into());
            q.limit = 2;
        }))
        .await
        .unwrap();
    assert_eq!(
        seqs(limited),
        [18, 16],
        "audit_query limit keeps the newest"
    );
    assert_eq!(
        store
            .audit_query(&q(|q| q.app = Some("app_none".into())))
            .await
            .unwrap(),
        vec![]
    );
    // limit 0 means 100.
    let many: Vec<AuditEntry> = (0..110)
        .map(|i| entry(60_000 + i, "bulk.test", None, None, None))
        .collect();
    let appended = store.append_audit_batch(many).await.unwrap();
    assert_eq!(appended.len(), 110);
    assert_eq!(appended[0].seq, 21);
    assert_eq!(appended[0].prev, sys.hash);
    let default_limit = store
        .audit_query(&q(|q| q.kind_prefix = Some("bulk.".into())))
        .await
        .unwrap();
    assert_eq!(default_limit.len(), 100, "audit_query limit 0 means 100");
    assert_eq!(default_limit[0].seq, 130);
    assert_verifies(store, "after a large batch").await;
}

async fn purge(store: &dyn Store) {
    let head = store
        .audit_head()
        .await
        .unwrap()
        .expect("audit appended before purge");
    assert_eq!(head.0, 130);
    // Nothing older than the oldest record: nothing happens.
    assert_eq!(
        store.purge_audit(1, 70_000).await.unwrap(),
        0,
        "nothing to purge"
    );
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some(head.clone()),
        "purge of 0 appends nothing"
    );

    // Records 0..=2 are at 50_000..=50_002.
    let deleted = store
        .purge_audit(50_003, 70_000)
        .await
        .expect("purge_audit");
    assert_eq!(deleted, 3, "purge deletes the records before the cutoff");
    let records = all_records(store).await;
    assert_eq!(records[0].seq, 3, "oldest survivor");
    let purge = records.last().unwrap();
    assert_eq!(
        (purge.seq, purge.kind.as_str(), purge.at),
        (131, PURGE_KIND, 70_000)
    );
    let body: PurgeBody = serde_json::from_str(&purge.body).expect("purge body is a PurgeBody");
    assert_eq!(body.through_seq, 2);
    assert_eq!(
        body.through_hash, records[0].prev,
        "purge names the last deleted record"
    );
    assert_eq!((body.deleted, body.before), (3, 50_003));
    assert_eq!(
        store.audit_head().await.unwrap(),
        Some((131, purge.hash.clone()))
    );
    let report = assert_verifies(store, "after a purge").await;
    assert_eq!(report.purged, 3);

    // Appending after a purge continues the chain.
    let next = store
        .append_audit(entry(80_000, "request.chat", None, None, None))
        .await
        .unwrap();
    assert_eq!((next.seq, next.prev.as_str()), (132, purge.hash.as_str()));

    // A second purge relies on its own purge record (the first one survives) and verifies.
    let deleted = store.purge_audit(60_050, 90_000).await.unwrap();
    assert_eq!(deleted, 68, "records 3..=70 (at < 60_050)");
    let records = all_records(store).await;
    assert_eq!(records[0].seq, 71);
    assert_verifies(store, "after a second purge").await;

    // A cutoff after everything never deletes the newest record.
    let head_before = store.audit_head().await.unwrap().unwrap();
    let deleted = store.purge_audit(i64::MAX, 100_000).await.unwrap();
    assert_eq!(deleted, head_before.0 - 71, "all but the newest record");
    let records = all_records(store).await;
    assert_eq!(
        records.len(),
        2,
        "the newest record and the purge record remain"
    );
    assert_eq!(records[0].seq, head_before.0);
    assert_eq!(records[1].kind, PURGE_KIND);
    let report = assert_verifies(store, "after purging everything").await;
    assert_eq!(report.purged, head_before.0);
    // With one record left (plus the purge record), again: only the purge record's predecessor
    // can go.
    let deleted = store.purge_audit(i64::MAX, 100_001).await.unwrap();
    assert_eq!(deleted, 1);
    assert_verifies(store, "after purging again").await;

    // Out-of-order times: a record newer than the cutoff stops the purge there (only a prefix
    // can be deleted without leaving a hole).
    let base = store.audit_head().await.unwrap().unwrap().0;
    store
        .append_audit_batch(vec![
            entry(200_000, "late.a", None, None, None),
            entry(300_000, "late.b", None, None, None),
            entry(200_001, "late.c", None, None, None),
        ])
        .await
        .unwrap();
    let deleted = store.purge_audit(250_000, 400_000).await.unwrap();
    assert_eq!(
        deleted, 3,
        "the two purge records before the cutoff and late.a"
    );
    let records = all_records(store).await;
    assert_eq!(
        records[0].seq,
        base + 2,
        "late.b (at 300_000) and everything after survive"
    );
    assert_eq!(records[0].kind, "late.b");
    assert_verifies(store, "after an out-of-order purge").await;
}

/// Appends from two handles on the same database at once (2 × 200 records, some in batches) and
/// checks they built one unbroken chain: the cross-process lock of the trait's contract.
pub async fn concurrent_appends(a: &dyn Store, b: &dyn Store) {
    const EACH: usize = 200;
    let before = a.audit_head().await.expect("audit_head").map(|(s, _)| s);
    async fn writer(store: &dyn Store, name: &str) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < EACH {
            if i % 10 == 0 && i + 3 <= EACH {
                let batch: Vec<AuditEntry> = (0..3)
                    .map(|k| {
                        entry(
                            1_000_000 + (i + k) as i64,
                            &format!("concurrent.{name}"),
                            Some(name),
                            None,
                            None,
                        )
                    })
                    .collect();
                let got = store
                    .append_audit_batch(batch)
                    .await
                    .expect("concurrent batch");
                assert!(
                    got.windows(2)
                        .all(|w| w[1].seq == w[0].seq + 1 && w[1].prev == w[0].hash),
                    "a batch is contiguous"
                );
                out.extend(got);
                i += 3;
            } else {
                let e = entry(
                    1_000_000 + i as i64,
                    &format!("concurrent.{name}"),
                    Some(name),
                    None,
                    None,
                );
                out.push(store.append_audit(e).await.expect("concurrent append"));
                i += 1;
            }
        }
        out
    }
    let (ra, rb) = tokio::join!(writer(a, "a"), writer(b, "b"));
    assert_eq!((ra.len(), rb.len()), (EACH, EACH));
    let mut seqs: Vec<u64> = ra.iter().chain(&rb).map(|r| r.seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(
        seqs.len(),
        2 * EACH,
        "no seq handed out twice (the chain did not fork)"
    );
    let start = before.map_or(0, |s| s + 1);
    assert_eq!(seqs.first(), Some(&start));
    assert_eq!(seqs.last(), Some(&(start + 2 * EACH as u64 - 1)));

    let head_a = a.audit_head().await.unwrap();
    let head_b = b.audit_head().await.unwrap();
    assert_eq!(head_a, head_b, "both handles see one head");
    let records = all_records(b).await;
    let report = hegui_audit::verify(&records, head_a.as_ref().map(|(s, h)| (*s, h.as_str())))
        .unwrap_or_else(|e| panic!("concurrent appends broke the chain: {e}"));
    assert_eq!(report.last_seq, Some(start + 2 * EACH as u64 - 1));
    // What each writer was told is what is stored.
    for r in ra.iter().chain(&rb) {
        let stored = records
            .iter()
            .find(|s| s.seq == r.seq)
            .expect("returned record is stored");
        assert_eq!(stored, r, "stored record {} equals the one returned", r.seq);
    }
}

/// Polls two futures together (the suite's own small join, so it needs only tokio's macros).
async fn futures_join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    tokio::join!(a, b)
}

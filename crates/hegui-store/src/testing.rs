//! The store conformance suite: the same checks on every backend (feature `testing`).
//!
//! A backend's test opens a fresh, empty store and calls [`conformance`]; a second test opens two
//! handles on one database and calls [`concurrent_appends`]. The checks panic with a message
//! naming the method that misbehaved.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    App, AppSettings, AuditEntry, AuditQuery, AuditRecord, Challenge, Character, CompanionProfile,
    CompanionStats, ConsentRecord, DeletionReport, Disposal, DisposalLevel, Incident,
    IncidentQuery, Message, OutboxAttempt, OutboxItem, OutboxStatus, SessionRecord, Store,
    StoreError, UnverifiedPolicy, UserCounts, Verification,
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
    companion(store).await;
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
            session_policy: Some(hegui_session::SessionPolicy {
                reminder_every_ms: 3_000,
                ..Default::default()
            }),
            alert_webhook: Some("http://127.0.0.1:9/alerts".into()),
            shutdown: Some(crate::ShutdownNotice {
                announced_at: 1,
                effective_at: 2,
                text: "停服公告".into(),
            }),
            aiai9_alerted: vec!["registered".into()],
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

// ---- companion duties (AIAI, DVH-10, DVH-18) ----

/// Every companion-duty method. Outbox claims see the whole store, so the order matters: the
/// outbox checks leave nothing claimable behind them.
async fn companion(store: &dyn Store) {
    companion_state(store).await;
    aiai_7_1_outbox_delivery(store).await;
    aiai_7_1_outbox_concurrent_claims(store).await;
    aiai_7_1_incidents(store).await;
    aiai_9_companion_stats(store).await;
    aiai_6_delete_user_data(store).await;
}

fn session_record(app: &str, user: &str, day: i64, used: i64) -> SessionRecord {
    SessionRecord {
        app: app.into(),
        user: user.into(),
        state: format!(r#"{{"day":{day},"used":{used}}}"#),
        day,
        used_today_ms: used,
        updated_at: 1_000 + used,
    }
}

fn profile(app: &str, user: &str, band: &str, guardian: Option<&str>) -> CompanionProfile {
    CompanionProfile {
        app: app.into(),
        user: user.into(),
        age_band: band.into(),
        guardian: guardian.map(Into::into),
        updated_at: 7,
        ..Default::default()
    }
}

fn outbox_item(id: &str, app: &str, user: Option<&str>, created: i64, next: i64) -> OutboxItem {
    OutboxItem {
        id: id.into(),
        app: app.into(),
        user: user.map(Into::into),
        kind: "guardian_alert".into(),
        url: "http://127.0.0.1:9/alerts".into(),
        payload: format!(r#"{{"id":"{id}","text":"提醒"}}"#),
        created_at: created,
        next_attempt_at: next,
        attempts: 0,
        status: OutboxStatus::Pending,
    }
}

fn attempt(item: &str, n: u32, status: Option<u16>) -> OutboxAttempt {
    OutboxAttempt {
        item: item.into(),
        n,
        at: 10_000 + i64::from(n),
        status,
        error: status.is_none().then(|| "connection refused".into()),
        duration_ms: 12,
    }
}

fn incident(id: &str, app: &str, user: Option<&str>, opened: i64, status: &str) -> Incident {
    Incident {
        id: id.into(),
        app: app.into(),
        user: user.map(Into::into),
        subject: format!("hmac-{}", user.unwrap_or("none")),
        kind: "crisis".into(),
        signal: "intent".into(),
        request_id: Some(format!("req-{id}")),
        opened_at: opened,
        status: status.into(),
        note: None,
        handled_by: None,
        updated_at: opened,
    }
}

fn ids<'a>(items: impl IntoIterator<Item = &'a OutboxItem>) -> Vec<&'a str> {
    items.into_iter().map(|i| i.id.as_str()).collect()
}

/// Session state, profiles, wards and characters: round trips and replace semantics.
async fn companion_state(store: &dyn Store) {
    let app = "app_comp";
    assert_eq!(store.session_state(app, "u1").await.unwrap(), None);
    let s = session_record(app, "u1", 19_000, 60_000);
    store
        .put_session_state(&s)
        .await
        .expect("put_session_state");
    assert_eq!(store.session_state(app, "u1").await.unwrap(), Some(s));
    let s2 = session_record(app, "u1", 19_001, 5);
    store.put_session_state(&s2).await.unwrap();
    assert_eq!(
        store.session_state(app, "u1").await.unwrap(),
        Some(s2),
        "put_session_state replaces"
    );
    assert_eq!(store.session_state("app_other", "u1").await.unwrap(), None);

    assert_eq!(store.profile(app, "u1").await.unwrap(), None);
    let consent = ConsentRecord {
        by: "g1".into(),
        at: 5,
        scope: "minor_service".into(),
        text_version: "v1".into(),
    };
    let p = CompanionProfile {
        declared_age: Some(12),
        elderly: false,
        guardian_consent: Some(consent.clone()),
        emergency_contact: Some("contact-ref-1".into()),
        limits: hegui_session::GuardianLimits {
            daily_limit_ms: Some(3_600_000),
            quiet_hours: Some((22, 7)),
            monthly_spend_fen: Some(5_000),
            blocked_characters: vec!["c9".into()],
        },
        sharing_consent: Some(ConsentRecord {
            scope: "third_party_sharing".into(),
            ..consent
        }),
        ..profile(app, "u1", "under_14", Some("g1"))
    };
    store.put_profile(&p).await.expect("put_profile");
    assert_eq!(store.profile(app, "u1").await.unwrap(), Some(p.clone()));
    assert_eq!(store.wards(app, "g1").await.unwrap(), vec!["u1".to_owned()]);
    let replaced = CompanionProfile {
        declared_age: Some(70),
        elderly: true,
        ..profile(app, "u1", "60_plus", None)
    };
    store.put_profile(&replaced).await.unwrap();
    assert_eq!(
        store.profile(app, "u1").await.unwrap(),
        Some(replaced),
        "put_profile replaces"
    );
    assert!(
        store.wards(app, "g1").await.unwrap().is_empty(),
        "a replaced profile drops the old guardian link"
    );
    for ward in ["w3", "w1", "w2"] {
        store
            .put_profile(&profile(app, ward, "14_17", Some("g2")))
            .await
            .unwrap();
    }
    store
        .put_profile(&profile("app_other", "w0", "14_17", Some("g2")))
        .await
        .unwrap();
    assert_eq!(
        store.wards(app, "g2").await.unwrap(),
        vec!["w1".to_owned(), "w2".into(), "w3".into()],
        "wards sorted, of one application"
    );
    assert!(store.wards(app, "nobody").await.unwrap().is_empty());

    let character = |id: &str, name: &str, rel| Character {
        app: app.into(),
        id: id.into(),
        name: name.into(),
        relationship: rel,
        updated_at: 3,
    };
    use hegui_session::Relationship;
    assert!(store.characters(app).await.unwrap().is_empty());
    let c2 = character("c2", "小伴", Relationship::Partner);
    let c1 = character("c1", "老师", Relationship::Tutor);
    store.put_character(&c2).await.expect("put_character");
    store.put_character(&c1).await.unwrap();
    store
        .put_character(&Character {
            app: "app_other".into(),
            ..character("c0", "其他", Relationship::Friend)
        })
        .await
        .unwrap();
    assert_eq!(
        store.characters(app).await.unwrap(),
        vec![c1.clone(), c2.clone()],
        "characters by id, of one application"
    );
    let c1b = Character {
        name: "朋友".into(),
        relationship: Relationship::Friend,
        updated_at: 4,
        ..c1
    };
    store.put_character(&c1b).await.unwrap();
    assert_eq!(
        store.character(app, "c1").await.unwrap(),
        Some(c1b),
        "put_character replaces"
    );
    assert_eq!(store.character(app, "nope").await.unwrap(), None);
    assert_eq!(store.character("app_other", "c1").await.unwrap(), None);
}

/// Webhook alerts (guardian, emergency contact, help requests) are queued, claimed under a
/// lease, retried and recorded; delivered and dead items are never claimed again.
async fn aiai_7_1_outbox_delivery(store: &dyn Store) {
    let app = "app_ob";
    let a = outbox_item("ob_a", app, Some("u1"), 10, 100);
    let b = outbox_item("ob_b", app, Some("u2"), 20, 50);
    let c = OutboxItem {
        kind: "aiai9_threshold".into(),
        ..outbox_item("ob_c", app, None, 30, 5_000)
    };
    for item in [&a, &b, &c] {
        store.enqueue_outbox(item).await.expect("enqueue_outbox");
    }
    assert!(
        matches!(store.enqueue_outbox(&a).await, Err(StoreError::Conflict(_))),
        "enqueue_outbox of an existing id is a Conflict"
    );
    assert!(
        store
            .claim_due_outbox(40, 1_000, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let claimed = store.claim_due_outbox(150, 1_000, 10).await.unwrap();
    assert_eq!(ids(&claimed), ["ob_b", "ob_a"], "oldest due first");
    assert!(claimed.iter().all(|i| i.next_attempt_at == 1_000));
    assert_eq!(
        claimed[1],
        OutboxItem {
            next_attempt_at: 1_000,
            ..a.clone()
        },
        "claimed as stored, with the lease"
    );
    assert!(
        store
            .claim_due_outbox(150, 2_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "a leased item is not claimed again"
    );
    assert!(
        store
            .claim_due_outbox(999, 2_000, 10)
            .await
            .unwrap()
            .is_empty(),
        "nor before its lease ends"
    );
    let claimed = store.claim_due_outbox(1_000, 3_000, 1).await.unwrap();
    assert_eq!(
        ids(&claimed),
        ["ob_a"],
        "claimable when the lease ends; limit kept"
    );
    assert!(
        store
            .claim_due_outbox(1_000, 3_000, 0)
            .await
            .unwrap()
            .is_empty()
    );

    let b1 = attempt("ob_b", 1, Some(500));
    store
        .record_outbox_attempt(&b1, OutboxStatus::Pending, 1_500)
        .await
        .expect("record_outbox_attempt");
    store
        .record_outbox_attempt(&attempt("ob_a", 1, Some(200)), OutboxStatus::Delivered, 0)
        .await
        .unwrap();
    let claimed = store.claim_due_outbox(10_000, 20_000, 10).await.unwrap();
    assert_eq!(
        ids(&claimed),
        ["ob_b", "ob_c"],
        "a delivered item is never claimed"
    );
    assert_eq!(claimed[0].attempts, 1);
    let b2 = attempt("ob_b", 2, None);
    store
        .record_outbox_attempt(&b2, OutboxStatus::Dead, 0)
        .await
        .unwrap();
    store
        .record_outbox_attempt(&attempt("ob_c", 1, Some(204)), OutboxStatus::Delivered, 0)
        .await
        .unwrap();
    assert!(
        store
            .claim_due_outbox(i64::MAX / 2, i64::MAX / 2, 10)
            .await
            .unwrap()
            .is_empty(),
        "delivered and dead items are never claimed"
    );
    assert_eq!(
        store.outbox_attempts("ob_b").await.unwrap(),
        vec![b1, b2],
        "attempts in order"
    );
    assert!(store.outbox_attempts("ob_none").await.unwrap().is_empty());
    assert!(
        matches!(
            store
                .record_outbox_attempt(&attempt("ob_none", 1, None), OutboxStatus::Dead, 0)
                .await,
            Err(StoreError::NotFound(_))
        ),
        "record_outbox_attempt of an unknown item is NotFound"
    );

    let items = store.outbox_items(None, None, 0).await.unwrap();
    assert_eq!(ids(&items), ["ob_c", "ob_b", "ob_a"], "newest first");
    assert_eq!(
        items[1],
        OutboxItem {
            attempts: 2,
            status: OutboxStatus::Dead,
            next_attempt_at: 0,
            ..b
        }
    );
    assert_eq!(items[2].status, OutboxStatus::Delivered);
    assert_eq!(
        ids(&store.outbox_items(Some(app), Some("u1"), 0).await.unwrap()),
        ["ob_a"]
    );
    assert_eq!(
        ids(&store.outbox_items(Some(app), None, 2).await.unwrap()),
        ["ob_c", "ob_b"]
    );
    assert!(
        store
            .outbox_items(Some("app_none"), None, 0)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Concurrent claims never hand one item out twice.
async fn aiai_7_1_outbox_concurrent_claims(store: &dyn Store) {
    const N: usize = 20;
    for i in 0..N {
        let id = format!("ob_cc_{i:02}");
        store
            .enqueue_outbox(&outbox_item(&id, "app_cc", Some("u1"), 100, 100 + i as i64))
            .await
            .unwrap();
    }
    let claims = (0..8).map(|_| store.claim_due_outbox(1_000, 50_000, 3));
    let mut claimed: Vec<String> = futures_util::future::join_all(claims)
        .await
        .into_iter()
        .flat_map(|r| r.expect("concurrent claim_due_outbox"))
        .map(|i| i.id)
        .collect();
    // What a skipped lock left behind is claimable afterwards; nothing is claimable twice.
    claimed.extend(
        store
            .claim_due_outbox(1_000, 50_000, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id),
    );
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(total, claimed.len(), "an item was claimed twice");
    assert_eq!(claimed.len(), N, "every due item claimed once");
    assert!(
        store
            .claim_due_outbox(49_999, 60_000, 100)
            .await
            .unwrap()
            .is_empty()
    );
    for i in 0..N {
        store
            .record_outbox_attempt(
                &attempt(&format!("ob_cc_{i:02}"), 1, Some(200)),
                OutboxStatus::Delivered,
                0,
            )
            .await
            .unwrap();
    }
}

/// Two handles (two processes) claiming the same outbox at once never deliver one item twice.
pub async fn concurrent_outbox_claims(a: &dyn Store, b: &dyn Store) {
    const N: usize = 60;
    for i in 0..N {
        a.enqueue_outbox(&outbox_item(
            &format!("ob_two_{i:03}"),
            "app_two",
            None,
            1,
            1 + i as i64,
        ))
        .await
        .unwrap();
    }
    async fn worker(store: &dyn Store) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..40 {
            let got = store.claim_due_outbox(1_000, 1_000_000, 2).await.unwrap();
            out.extend(got.into_iter().map(|i| i.id));
        }
        out
    }
    let (ra, rb) = futures_join(worker(a), worker(b)).await;
    let mut all: Vec<String> = ra.into_iter().chain(rb).collect();
    all.extend(
        a.claim_due_outbox(1_000, 1_000_000, 1_000)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.id),
    );
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, all.len(), "an item was claimed by both handles");
    assert_eq!(all.len(), N, "every item claimed once");
}

/// Crises and help requests open incidents for human follow-up (人工接管).
async fn aiai_7_1_incidents(store: &dyn Store) {
    let i1 = incident("inc_1", "app_inc", Some("u1"), 100, "open");
    let i2 = incident("inc_2", "app_inc", Some("u2"), 200, "open");
    let i3 = Incident {
        kind: "help_request".into(),
        signal: "elderly_help".into(),
        request_id: None,
        ..incident("inc_3", "app_inc2", Some("u1"), 300, "open")
    };
    for i in [&i1, &i2, &i3] {
        store.open_incident(i).await.expect("open_incident");
    }
    assert!(
        matches!(store.open_incident(&i1).await, Err(StoreError::Conflict(_))),
        "open_incident of an existing id is a Conflict"
    );
    assert_eq!(store.incident("inc_1").await.unwrap(), Some(i1.clone()));
    assert_eq!(store.incident("inc_none").await.unwrap(), None);
    let ids = |v: Vec<Incident>| v.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let q = |app: Option<&str>, user: Option<&str>, status: Option<&str>, limit| IncidentQuery {
        app: app.map(Into::into),
        user: user.map(Into::into),
        status: status.map(Into::into),
        limit,
    };
    assert_eq!(
        ids(store.incidents(&IncidentQuery::default()).await.unwrap()),
        ["inc_3", "inc_2", "inc_1"],
        "newest first"
    );
    assert_eq!(
        store.incidents(&q(None, None, None, 1)).await.unwrap(),
        vec![i3.clone()]
    );
    assert_eq!(
        ids(store
            .incidents(&q(Some("app_inc"), None, None, 0))
            .await
            .unwrap()),
        ["inc_2", "inc_1"]
    );
    assert_eq!(
        ids(store
            .incidents(&q(None, Some("u1"), None, 0))
            .await
            .unwrap()),
        ["inc_3", "inc_1"]
    );
    assert_eq!(
        ids(store
            .incidents(&q(Some("app_inc"), Some("u1"), None, 0))
            .await
            .unwrap()),
        ["inc_1"]
    );
    assert!(
        store
            .incidents(&q(None, None, Some("acknowledged"), 0))
            .await
            .unwrap()
            .is_empty()
    );

    store
        .update_incident("inc_1", "acknowledged", Some("已致电"), "admin", 400)
        .await
        .expect("update_incident");
    let got = store.incident("inc_1").await.unwrap().unwrap();
    assert_eq!(
        got,
        Incident {
            status: "acknowledged".into(),
            note: Some("已致电".into()),
            handled_by: Some("admin".into()),
            updated_at: 400,
            ..i1.clone()
        }
    );
    store
        .update_incident("inc_1", "resolved", None, "admin2", 500)
        .await
        .unwrap();
    let got = store.incident("inc_1").await.unwrap().unwrap();
    assert_eq!(
        (
            got.status.as_str(),
            got.note.as_deref(),
            got.handled_by.as_deref()
        ),
        ("resolved", Some("已致电"), Some("admin2")),
        "a change without a note keeps the earlier note"
    );
    assert_eq!(got.opened_at, 100, "opened_at never changes");
    assert_eq!(
        ids(store
            .incidents(&q(None, None, Some("resolved"), 0))
            .await
            .unwrap()),
        ["inc_1"]
    );
    assert!(
        matches!(
            store
                .update_incident("inc_none", "resolved", None, "admin", 1)
                .await,
            Err(StoreError::NotFound(_))
        ),
        "update_incident of an unknown id is NotFound"
    );
}

/// AIAI-9 statistics: age structure, usage distribution of one day, incidents.
async fn aiai_9_companion_stats(store: &dyn Store) {
    let app = "app_stats";
    for (user, band) in [
        ("u1", "under_14"),
        ("u2", "14_17"),
        ("u3", "14_17"),
        ("u4", "60_plus"),
    ] {
        store
            .put_profile(&profile(app, user, band, None))
            .await
            .unwrap();
    }
    store
        .put_profile(&profile("app_stats2", "x", "18_59", None))
        .await
        .unwrap();
    for (user, used) in [
        ("u1", 0),
        ("u2", 1_799_999),
        ("u3", 1_800_000),
        ("u4", 3_599_999),
        ("u5", 3_600_000),
        ("u6", 10_000_000),
    ] {
        store
            .put_session_state(&session_record(app, user, 19_000, used))
            .await
            .unwrap();
    }
    // Another day and another application do not count.
    store
        .put_session_state(&session_record(app, "u7", 18_999, 100))
        .await
        .unwrap();
    store
        .put_session_state(&session_record("app_stats2", "u1", 19_000, 100))
        .await
        .unwrap();
    for (id, status) in [
        ("inc_s1", "open"),
        ("inc_s2", "acknowledged"),
        ("inc_s3", "resolved"),
    ] {
        store
            .open_incident(&incident(id, app, Some("u1"), 10, status))
            .await
            .unwrap();
    }
    store
        .open_incident(&incident("inc_s4", "app_stats2", None, 10, "open"))
        .await
        .unwrap();

    let stats = store
        .companion_stats(app, 19_000, &[1_800_000, 3_600_000])
        .await
        .expect("companion_stats");
    assert_eq!(
        stats,
        CompanionStats {
            age_bands: [("14_17", 2), ("60_plus", 1), ("under_14", 1)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
            usage_buckets: vec![2, 2, 2],
            incidents_open: 2,
            incidents_total: 3,
        }
    );
    assert_eq!(
        store
            .companion_stats(app, 19_000, &[])
            .await
            .unwrap()
            .usage_buckets,
        vec![6],
        "no edges: one bucket"
    );
    assert_eq!(
        store
            .companion_stats(app, 18_999, &[1_000])
            .await
            .unwrap()
            .usage_buckets,
        vec![1, 0]
    );
    assert_eq!(
        store
            .companion_stats("app_none", 19_000, &[1_800_000, 3_600_000])
            .await
            .unwrap(),
        CompanionStats {
            usage_buckets: vec![0, 0, 0],
            ..Default::default()
        }
    );
}

/// Deleting a user's data (AIAI-6, DVH-18) removes everything held about them in one go, keeps
/// incidents for the record without the user id, and unlinks the wards they were guardian of.
async fn aiai_6_delete_user_data(store: &dyn Store) {
    let app = "app_del";
    for user in ["victim", "other"] {
        store.touch_user(app, user, 1).await.unwrap();
        for (i, role) in ["user", "assistant"].into_iter().enumerate() {
            store
                .put_message(&Message {
                    app: app.into(),
                    user: user.into(),
                    request_id: format!("req-{user}"),
                    role: role.into(),
                    content: format!("{user} 的消息"),
                    at: 10 + i as i64,
                })
                .await
                .unwrap();
        }
        store
            .put_session_state(&session_record(app, user, 19_000, 10))
            .await
            .unwrap();
        store
            .put_profile(&profile(app, user, "18_59", Some("g")))
            .await
            .unwrap();
        store
            .put_challenge(&Challenge {
                app: app.into(),
                user: user.into(),
                code_hmac: "00".into(),
                issued_at: 1,
                subject_hmac: "11".into(),
                masked: "138****0000".into(),
                expires_at: 2,
                attempts: 0,
            })
            .await
            .unwrap();
    }
    // The victim is guardian of a ward here and of one in another application.
    let ward = CompanionProfile {
        declared_age: Some(13),
        emergency_contact: Some("contact-ref".into()),
        ..profile(app, "ward", "under_14", Some("victim"))
    };
    store.put_profile(&ward).await.unwrap();
    let far_ward = profile("app_del2", "ward", "under_14", Some("victim"));
    store.put_profile(&far_ward).await.unwrap();
    for item in [
        outbox_item("ob_del_1", app, Some("victim"), 1, i64::MAX / 2),
        outbox_item("ob_del_2", app, Some("victim"), 2, i64::MAX / 2),
        outbox_item("ob_del_3", app, Some("other"), 3, i64::MAX / 2),
        outbox_item("ob_del_4", app, None, 4, i64::MAX / 2),
    ] {
        store.enqueue_outbox(&item).await.unwrap();
    }
    store
        .record_outbox_attempt(
            &attempt("ob_del_1", 1, Some(503)),
            OutboxStatus::Pending,
            i64::MAX / 2,
        )
        .await
        .unwrap();
    store
        .record_outbox_attempt(
            &attempt("ob_del_3", 1, Some(503)),
            OutboxStatus::Pending,
            i64::MAX / 2,
        )
        .await
        .unwrap();
    for (id, user) in [
        ("inc_d1", "victim"),
        ("inc_d2", "victim"),
        ("inc_d3", "other"),
    ] {
        store
            .open_incident(&incident(id, app, Some(user), 5, "open"))
            .await
            .unwrap();
    }

    let report = store
        .delete_user_data(app, "victim")
        .await
        .expect("delete_user_data");
    assert_eq!(
        report,
        DeletionReport {
            messages: 2,
            session: true,
            profile: true,
            challenges: 1,
            outbox: 2,
            incidents_detached: 2,
            user: true,
        }
    );
    assert!(store.messages(app, "victim").await.unwrap().is_empty());
    assert_eq!(store.session_state(app, "victim").await.unwrap(), None);
    assert_eq!(store.profile(app, "victim").await.unwrap(), None);
    assert_eq!(store.challenge(app, "victim").await.unwrap(), None);
    assert_eq!(store.user(app, "victim").await.unwrap(), None);
    assert!(
        store
            .outbox_items(Some(app), Some("victim"), 0)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.outbox_attempts("ob_del_1").await.unwrap().is_empty());
    assert!(
        matches!(
            store
                .record_outbox_attempt(&attempt("ob_del_2", 1, None), OutboxStatus::Dead, 0)
                .await,
            Err(StoreError::NotFound(_))
        ),
        "a deleted item's attempt is NotFound"
    );
    for id in ["inc_d1", "inc_d2"] {
        let got = store.incident(id).await.unwrap().expect("incident kept");
        assert_eq!(got.user, None, "incident detached from the user");
        assert_eq!(got.subject, "hmac-victim", "subject kept for the record");
    }
    assert!(
        store
            .incidents(&IncidentQuery {
                user: Some("victim".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.profile(app, "ward").await.unwrap(),
        Some(CompanionProfile {
            guardian: None,
            ..ward
        }),
        "the ward keeps its profile without the guardian"
    );
    assert!(store.wards(app, "victim").await.unwrap().is_empty());
    assert_eq!(
        store.profile("app_del2", "ward").await.unwrap(),
        Some(far_ward),
        "another application's user of the same id is untouched"
    );

    // The other user is untouched.
    assert_eq!(store.messages(app, "other").await.unwrap().len(), 2);
    assert!(store.session_state(app, "other").await.unwrap().is_some());
    assert!(store.profile(app, "other").await.unwrap().is_some());
    assert!(store.challenge(app, "other").await.unwrap().is_some());
    assert!(store.user(app, "other").await.unwrap().is_some());
    assert_eq!(store.outbox_attempts("ob_del_3").await.unwrap().len(), 1);
    assert_eq!(
        ids(&store.outbox_items(Some(app), None, 0).await.unwrap()),
        ["ob_del_4", "ob_del_3"]
    );
    assert_eq!(
        store
            .incident("inc_d3")
            .await
            .unwrap()
            .unwrap()
            .user
            .as_deref(),
        Some("other")
    );

    assert_eq!(
        store.delete_user_data(app, "victim").await.unwrap(),
        DeletionReport::default(),
        "deleting again reports nothing"
    );
    assert_eq!(
        store.delete_user_data(app, "nobody").await.unwrap(),
        DeletionReport::default(),
        "deleting an unknown user reports nothing"
    );
}

//! Provider tests: acceptance tests D (AT-RN-*), AT-MO-03 and the log-sink check of AT-ID-12.

use std::sync::Arc;
use std::time::Duration;

use hegui_core::{Clock, ManualClock};
use jiff::civil::date;

use super::fake::{FakeNetworkIdentityApi, FakeThreeElementApi};
use super::vendor::{
    DEFAULT_FACE_THRESHOLD, aliyun_mobile_3meta, face_similarity, tencent_id_card_verification,
    tencent_phone_verification,
};
use super::*;
use crate::{SubjectHasher, normalize_mobile};

const NAME: &str = "张三";
const ID: &str = "11010519491231002X";
const MOBILE: &str = "13800138000";
const NETWORK_ID: &str = "WH0123456789ABCD";
const TOKEN: &str = "nnid-token-secret-xyz";

fn clock() -> Arc<ManualClock> {
    // 2026-03-03 12:00 in Beijing.
    let ms = "2026-03-03T04:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    Arc::new(ManualClock::new(ms))
}

fn hasher() -> SubjectHasher {
    SubjectHasher::new(b"test pepper, 32 bytes or more!!!")
}

fn sms(clock: &Arc<ManualClock>) -> (SmsOtp, Arc<MemorySender>) {
    let sender = Arc::new(MemorySender::new());
    let otp = SmsOtp::new(hasher(), sender.clone(), clock.clone());
    (otp, sender)
}

fn three(
    clock: &Arc<ManualClock>,
    api: FakeThreeElementApi,
) -> (ThreeElement, Arc<FakeThreeElementApi>) {
    let api = Arc::new(api);
    (ThreeElement::new(api.clone(), hasher(), clock.clone()), api)
}

fn carrier() -> FakeThreeElementApi {
    FakeThreeElementApi::new()
        .with_person(NAME, ID, MOBILE)
        .with_person("李四", "11010120120304001X", "17012345678")
}

fn three_req(name: &str, id: &str, mobile: &str) -> VerificationRequest {
    VerificationRequest::ThreeElement {
        name: name.into(),
        id_number: id.into(),
        mobile: mobile.into(),
    }
}

fn nnid(clock: &Arc<ManualClock>) -> (NetworkIdentity, Arc<FakeNetworkIdentityApi>) {
    let api = Arc::new(
        FakeNetworkIdentityApi::new()
            .with_token(TOKEN, NETWORK_ID)
            .with_refused_token("refused")
            .with_error("down", NnidError::Unavailable("timeout".into())),
    );
    (
        NetworkIdentity::new(api.clone(), hasher(), clock.clone()),
        api,
    )
}

fn invalid_input(field: &str, reason: &str) -> VerificationResult {
    VerificationResult::InvalidInput {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A full SMS round: issue, read the code from the outbox, answer.
fn sms_match(clock: &Arc<ManualClock>, mobile: &str) -> VerificationOutcome {
    let (otp, sender) = sms(clock);
    let m = normalize_mobile(mobile).unwrap();
    let pending = otp.issue(&m, clock.now_millis()).unwrap();
    let answer = sender.last_code(m.as_str()).unwrap();
    otp.verify(&VerificationRequest::SmsCode { pending, answer })
}

// ---- SMS one-time code ----

#[test]
fn ds_9_sms_code_round_trip() {
    let c = clock();
    let (otp, sender) = sms(&c);
    let m = normalize_mobile(MOBILE).unwrap();
    let now = c.now_millis();
    let pending = otp.issue(&m, now).unwrap();
    assert_eq!(pending.expires_at - now, 5 * 60 * 1000);
    assert_eq!(pending.attempts, 0);
    let sent = sender.messages();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].mobile, MOBILE);
    let code = sender.last_code(MOBILE).unwrap();
    assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()));
    assert!(sent[0].text.contains("5 分钟"));
    // The persisted form reveals neither the code nor the number.
    let persisted = serde_json::to_string(&pending).unwrap();
    assert!(!persisted.contains(MOBILE));
    assert_eq!(pending.subject, hasher().hash(MOBILE));

    assert_eq!(otp.check(&pending, &code, now + 1000), CodeCheck::Match);
    // Full-width digits typed on a Chinese keyboard still match.
    let wide: String = code
        .chars()
        .map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap())
        .collect();
    assert_eq!(otp.check(&pending, &wide, now), CodeCheck::Match);
    let wrong = if code == "000000" { "000001" } else { "000000" };
    assert_eq!(
        otp.check(&pending, wrong, now),
        CodeCheck::Wrong { attempts: 1 }
    );
    assert_eq!(
        otp.check(&pending, "12345", now),
        CodeCheck::Wrong { attempts: 1 }
    );
}

#[test]
fn ds_9_sms_code_expires_and_locks_after_five_attempts() {
    let c = clock();
    let (otp, sender) = sms(&c);
    let m = normalize_mobile(MOBILE).unwrap();
    let now = c.now_millis();
    let mut pending = otp.issue(&m, now).unwrap();
    let code = sender.last_code(MOBILE).unwrap();
    // Expiry: the instant `expires_at` is already too late.
    assert_eq!(
        otp.check(&pending, &code, pending.expires_at - 1),
        CodeCheck::Match
    );
    assert_eq!(
        otp.check(&pending, &code, pending.expires_at),
        CodeCheck::Expired
    );
    // Five wrong answers exhaust the code, and then even the right one is refused.
    let wrong = if code == "999999" { "999998" } else { "999999" };
    for n in 1..=5 {
        assert_eq!(
            otp.check(&pending, wrong, now),
            CodeCheck::Wrong { attempts: n }
        );
        pending.attempts = n;
    }
    assert_eq!(otp.check(&pending, &code, now), CodeCheck::Exhausted);
    let out = otp.verify(&VerificationRequest::SmsCode {
        pending,
        answer: code,
    });
    assert_eq!(out.result, VerificationResult::RateLimited);
}

#[test]
fn ds_9_sms_code_is_bound_to_number_and_pepper() {
    let c = clock();
    let (otp, sender) = sms(&c);
    let now = c.now_millis();
    let pending = otp.issue(&normalize_mobile(MOBILE).unwrap(), now).unwrap();
    let code = sender.last_code(MOBILE).unwrap();
    // Moving the pending code to another number, or extending its expiry, breaks the MAC.
    let moved = IssuedCode {
        subject: hasher().hash("13900139000"),
        ..pending.clone()
    };
    assert!(matches!(
        otp.check(&moved, &code, now),
        CodeCheck::Wrong { .. }
    ));
    let extended = IssuedCode {
        expires_at: pending.expires_at + 3_600_000,
        ..pending.clone()
    };
    assert!(matches!(
        otp.check(&extended, &code, now),
        CodeCheck::Wrong { .. }
    ));
    // Another deployment's pepper does not accept it either.
    let other = SmsOtp::new(
        SubjectHasher::new(b"another pepper"),
        Arc::new(MemorySender::new()),
        c.clone(),
    );
    assert!(matches!(
        other.check(&pending, &code, now),
        CodeCheck::Wrong { .. }
    ));
}

#[test]
fn sms_codes_are_random() {
    let c = clock();
    let (otp, sender) = sms(&c);
    let m = normalize_mobile(MOBILE).unwrap();
    for _ in 0..40 {
        otp.issue(&m, c.now_millis()).unwrap();
    }
    let mut codes: Vec<String> = sender
        .messages()
        .iter()
        .map(|s| {
            s.text
                .chars()
                .filter(char::is_ascii_digit)
                .take(6)
                .collect()
        })
        .collect();
    codes.sort();
    codes.dedup();
    // 40 draws from a million collide rarely; a constant or counter-like source would not pass.
    assert!(codes.len() >= 38, "{codes:?}");
}

#[test]
fn ds_9_sms_verify_through_the_trait() {
    let c = clock();
    let out = sms_match(&c, MOBILE);
    assert!(out.is_match());
    assert_eq!(out.evidence.method, Method::SmsOtp);
    assert_eq!(out.evidence.provider, "sms_otp");
    assert_eq!(out.evidence.at, c.now_millis());
    assert_eq!(
        out.evidence.input("mobile"),
        Some(hasher().hash(MOBILE).as_str())
    );
    assert!(out.evidence.request_id.starts_with("hg-"));

    let (otp, _) = sms(&c);
    let pending = otp
        .issue(&normalize_mobile(MOBILE).unwrap(), c.now_millis())
        .unwrap();
    c.advance(Duration::from_secs(301));
    let out = otp.verify(&VerificationRequest::SmsCode {
        pending,
        answer: "000000".into(),
    });
    assert_eq!(out.result, invalid_input("code", "expired"));
    // A provider given a request it does not handle says so.
    let out = otp.verify(&three_req(NAME, ID, MOBILE));
    assert_eq!(out.result, invalid_input("request", "unsupported_method"));
}

#[test]
fn send_failure_is_reported() {
    struct Down;
    impl SmsSender for Down {
        fn send(&self, _: &str, _: &str) -> Result<(), SendError> {
            Err(SendError::Unavailable("gateway timeout".into()))
        }
    }
    let c = clock();
    let otp = SmsOtp::new(hasher(), Arc::new(Down), c.clone());
    let err = otp
        .issue(&normalize_mobile(MOBILE).unwrap(), c.now_millis())
        .unwrap_err();
    assert!(matches!(err, OtpError::Send(SendError::Unavailable(_))));
}

// ---- 网号/网证 ----

#[test]
fn ds_9_network_identity_token_gives_result_and_pseudonym_only() {
    let c = clock();
    let (p, api) = nnid(&c);
    let out = p.verify(&VerificationRequest::NetworkIdentity {
        token: format!(" {TOKEN} "),
    });
    assert!(out.is_match());
    assert_eq!(out.evidence.method, Method::NetworkIdentity);
    assert_eq!(out.evidence.request_id, "fake-nnid-1");
    // Data minimisation: the account binds to an HMAC of the 网号, no plaintext identity.
    assert_eq!(out.attributes.subject_ref, Some(hasher().hash(NETWORK_ID)));
    assert_eq!(out.attributes.birth_date, None);
    let json = serde_json::to_string(&out).unwrap();
    assert!(!json.contains(NETWORK_ID) && !json.contains(TOKEN));
    assert_eq!(api.calls(), 1);

    let refused = p.verify(&VerificationRequest::NetworkIdentity {
        token: "refused".into(),
    });
    assert_eq!(
        refused.result,
        VerificationResult::Mismatch { detail: None }
    );
    assert_eq!(refused.attributes, Attributes::default());
    let unknown = p.verify(&VerificationRequest::NetworkIdentity {
        token: "forged".into(),
    });
    assert_eq!(unknown.result, invalid_input("token", "invalid"));
    let down = p.verify(&VerificationRequest::NetworkIdentity {
        token: "down".into(),
    });
    assert!(matches!(
        down.result,
        VerificationResult::ProviderError {
            retryable: true,
            ..
        }
    ));
    // An empty token is refused without asking the service.
    let calls = api.calls();
    let empty = p.verify(&VerificationRequest::NetworkIdentity { token: "  ".into() });
    assert_eq!(empty.result, invalid_input("token", "format"));
    assert_eq!(api.calls(), calls);
}

#[test]
fn ds_9_network_identity_needs_separate_consent_for_plaintext() {
    // AT-RN-06: verified via 网号/网证 in result-only mode ⇒ a demand for the plaintext ID is
    // refused unless a legal-basis rule or the user's separate consent exists.
    let c = clock();
    let (p, _) = nnid(&c);
    let out = p.verify(&VerificationRequest::NetworkIdentity {
        token: TOKEN.into(),
    });
    assert_eq!(real_name_level(&[out]), RealNameLevel::Identity);
    assert_eq!(
        plaintext_id_access(Method::NetworkIdentity, None, None),
        Err(PlaintextIdError::ConsentRequired {
            kind: ConsentKind::Separate
        })
    );
    assert_eq!(
        plaintext_id_access(Method::NetworkIdentity, Some(" "), Some("")),
        Err(PlaintextIdError::ConsentRequired {
            kind: ConsentKind::Separate
        })
    );
    assert_eq!(
        plaintext_id_access(Method::NetworkIdentity, Some("反洗钱法 art. 28"), None),
        Ok(PlaintextBasis::LegalBasis("反洗钱法 art. 28".into()))
    );
    assert_eq!(
        plaintext_id_access(Method::NetworkIdentity, None, Some("consent-42")),
        Ok(PlaintextBasis::SeparateConsent("consent-42".into()))
    );
    assert_eq!(
        plaintext_id_access(Method::ThreeElement, None, None),
        Ok(PlaintextBasis::NotNetworkIdentity)
    );
}

// ---- three-element ----

#[test]
fn ds_9_three_element_match_carries_birth_date() {
    let c = clock();
    let (p, api) = three(&c, carrier());
    let out = p.verify(&three_req(
        " 张三 ",
        "11010519491231002x",
        "+86 138 0013 8000",
    ));
    assert!(out.is_match());
    assert_eq!(out.evidence.provider, "three_element:fake");
    assert_eq!(out.evidence.request_id, "fake-3e-1");
    assert!(out.evidence.billable);
    assert_eq!(out.attributes.birth_date, Some(date(1949, 12, 31)));
    assert_eq!(out.attributes.subject_ref, Some(hasher().hash(ID)));
    assert_eq!(api.calls(), 1);

    let out = p.verify(&three_req(NAME, "11010120120304001X", MOBILE));
    assert_eq!(
        out.result,
        VerificationResult::Mismatch {
            detail: Some(MismatchDetail::MobileIdMismatch)
        }
    );
    assert_eq!(out.attributes, Attributes::default());
    let out = p.verify(&three_req(NAME, ID, "13900139000"));
    assert_eq!(out.result, VerificationResult::NoRecord);
}

#[test]
fn ds_9_three_element_validates_before_calling_the_vendor() {
    let c = clock();
    let (p, api) = three(&c, carrier());
    let cases = [
        (
            three_req(NAME, "440308199901101513", MOBILE),
            invalid_input("id_number", "checksum"),
        ),
        (
            three_req(NAME, "360426199113010079", MOBILE),
            invalid_input("id_number", "birth_date"),
        ),
        (
            three_req(NAME, "4403081999", MOBILE),
            invalid_input("id_number", "length"),
        ),
        (
            three_req(NAME, ID, "19412345678"),
            invalid_input("mobile", "prefix"),
        ),
        (
            three_req(NAME, ID, "1380013800"),
            invalid_input("mobile", "length"),
        ),
        (three_req("", ID, MOBILE), invalid_input("name", "empty")),
        (
            three_req("张3", ID, MOBILE),
            invalid_input("name", "format"),
        ),
    ];
    for (req, want) in cases {
        let out = p.verify(&req);
        assert_eq!(out.result, want, "{req:?}");
        assert!(out.evidence.request_id.starts_with("hg-"));
        assert!(!out.evidence.billable);
    }
    assert_eq!(api.calls(), 0);
}

#[test]
fn ds_9_three_element_refuses_mvno_without_calling_the_vendor() {
    // AT-MO-03: 170… is an MVNO number; the vendor cannot check it, so it is not called.
    assert!(crate::is_mvno("17012345678"));
    let c = clock();
    let (p, api) = three(&c, carrier());
    let out = p.verify(&three_req("李四", "11010120120304001X", "17012345678"));
    assert_eq!(out.result, invalid_input("mobile", "mvno_unsupported"));
    assert_eq!(api.calls(), 0);
    // A vendor that does support MVNO numbers gets the call.
    let (p, api) = three(&c, carrier().supporting_mvno());
    let out = p.verify(&three_req("李四", "11010120120304001X", "17012345678"));
    assert!(out.is_match());
    assert_eq!(api.calls(), 1);
}

#[test]
fn ds_9_three_element_throttles_identical_inputs() {
    // AT-RN-04: the 11th identical request within 60 s is refused locally, no vendor call.
    let c = clock();
    let (p, api) = three(&c, carrier());
    for _ in 0..10 {
        assert!(p.verify(&three_req(NAME, ID, MOBILE)).is_match());
        c.advance(Duration::from_secs(5));
    }
    let out = p.verify(&three_req(NAME, ID, MOBILE));
    assert_eq!(out.result, VerificationResult::RateLimited);
    assert_eq!(api.calls(), 10);
    // Same person typed differently is still the same input.
    let out = p.verify(&three_req(" 张三", "11010519491231002x", "+8613800138000"));
    assert_eq!(out.result, VerificationResult::RateLimited);
    // Other inputs are not affected.
    assert_eq!(
        p.verify(&three_req("王五", ID, MOBILE)).result,
        VerificationResult::Mismatch {
            detail: Some(MismatchDetail::MobileNameMismatch)
        }
    );
    // Once the first call leaves the 60 s window, one more call is allowed.
    c.advance(Duration::from_secs(11));
    assert!(p.verify(&three_req(NAME, ID, MOBILE)).is_match());
    assert_eq!(
        p.verify(&three_req(NAME, ID, MOBILE)).result,
        VerificationResult::RateLimited
    );

    let (p, api) = three(&c, carrier());
    let p = p.with_config(ThreeElementConfig {
        max_identical: 2,
        window_ms: 1000,
    });
    for _ in 0..2 {
        assert!(p.verify(&three_req(NAME, ID, MOBILE)).is_match());
    }
    assert_eq!(
        p.verify(&three_req(NAME, ID, MOBILE)).result,
        VerificationResult::RateLimited
    );
    assert_eq!(api.calls(), 2);
}

#[test]
fn ds_9_three_element_vendor_outage_is_a_provider_error() {
    let c = clock();
    let (p, _) = three(
        &c,
        carrier().always(VerificationResult::ProviderError {
            retryable: true,
            message: "timeout".into(),
        }),
    );
    let out = p.verify(&three_req(NAME, ID, MOBILE));
    assert!(matches!(
        out.result,
        VerificationResult::ProviderError {
            retryable: true,
            ..
        }
    ));
    assert!(!out.is_match());
}

#[test]
fn ds_9_gai_9_evidence_holds_hmacs_not_plaintext() {
    // AT-RN-05: provider, request id, time and HMACs of the inputs; no plaintext.
    let c = clock();
    let (p, _) = three(&c, carrier());
    let out = p.verify(&three_req(NAME, ID, MOBILE));
    let e = &out.evidence;
    assert_eq!(e.provider, "three_element:fake");
    assert_eq!(e.request_id, "fake-3e-1");
    assert_eq!(e.at, c.now_millis());
    let h = hasher();
    assert_eq!(
        e.hashed_inputs,
        vec![
            format!("name:{}", h.hash(NAME)),
            format!("id_number:{}", h.hash(ID)),
            format!("mobile:{}", h.hash(MOBILE)),
        ]
    );
    let json = serde_json::to_string(&out).unwrap();
    for plain in [NAME, ID, MOBILE, "19491231"] {
        assert!(!json.contains(plain), "{plain} in {json}");
    }
}

// ---- vendor code tables ----

#[test]
fn ds_9_tencent_phone_verification_codes() {
    // AT-RN-01
    let m = tencent_phone_verification("0");
    assert_eq!((m.result, m.billable), (VerificationResult::Match, true));
    let m = tencent_phone_verification("-4");
    assert_eq!(
        (m.result, m.billable),
        (VerificationResult::Mismatch { detail: None }, true)
    );
    assert!(matches!(
        tencent_phone_verification("-6").result,
        VerificationResult::InvalidInput { ref field, .. } if field == "mobile"
    ));
    assert!(!tencent_phone_verification("-6").billable);
    assert_eq!(
        tencent_phone_verification("-9").result,
        VerificationResult::NoRecord
    );
    assert!(matches!(
        tencent_phone_verification("-11").result,
        VerificationResult::ProviderError {
            retryable: true,
            ..
        }
    ));
    assert_eq!(
        tencent_phone_verification("-12").result,
        VerificationResult::RateLimited
    );
    assert!(matches!(
        tencent_phone_verification("-99").result,
        VerificationResult::ProviderError {
            retryable: false,
            ..
        }
    ));
}

#[test]
fn ds_9_tencent_id_card_verification_codes() {
    // AT-RN-02
    assert_eq!(
        tencent_id_card_verification("-1").result,
        VerificationResult::Mismatch { detail: None }
    );
    assert!(matches!(
        tencent_id_card_verification("-2").result,
        VerificationResult::InvalidInput { ref field, .. } if field == "id_number"
    ));
    assert_eq!(
        tencent_id_card_verification("-5").result,
        VerificationResult::NoRecord
    );
    assert_eq!(
        tencent_id_card_verification("-7").result,
        VerificationResult::RateLimited
    );
    assert_eq!(
        tencent_id_card_verification("0").result,
        VerificationResult::Match
    );
}

#[test]
fn ds_9_aliyun_mobile_3meta_codes() {
    // AT-RN-03
    assert_eq!(
        aliyun_mobile_3meta("1", Some("101")).result,
        VerificationResult::Match
    );
    assert_eq!(
        aliyun_mobile_3meta("3", None).result,
        VerificationResult::NoRecord
    );
    assert!(!aliyun_mobile_3meta("3", None).billable);
    let m = aliyun_mobile_3meta("2", Some("202"));
    assert!(m.billable);
    assert_eq!(
        m.result,
        VerificationResult::Mismatch {
            detail: Some(MismatchDetail::MobileIdMismatch)
        }
    );
    assert_eq!(
        aliyun_mobile_3meta("2", None).result,
        VerificationResult::Mismatch { detail: None }
    );
}

#[test]
fn ds_9_face_threshold_is_greater_or_equal() {
    // AT-RN-08
    assert_eq!(
        face_similarity(69.9, DEFAULT_FACE_THRESHOLD),
        VerificationResult::Mismatch { detail: None }
    );
    assert_eq!(
        face_similarity(70.0, DEFAULT_FACE_THRESHOLD),
        VerificationResult::Match
    );
    assert_eq!(face_similarity(80.0, 80.0), VerificationResult::Match);
    assert!(matches!(
        face_similarity(f64::NAN, 70.0),
        VerificationResult::ProviderError { .. }
    ));
}

// ---- account level ----

#[test]
fn ds_9_gai_9_equal_service_without_network_identity() {
    // AT-RN-07: declining 网号/网证 and doing SMS + three-element reaches the same level, so the
    // same features follow.
    let c = clock();
    let (n, _) = nnid(&c);
    let via_nnid = [n.verify(&VerificationRequest::NetworkIdentity {
        token: TOKEN.into(),
    })];
    let (p, _) = three(&c, carrier());
    let three_el = p.verify(&three_req(NAME, ID, MOBILE));
    let sms_ok = sms_match(&c, MOBILE);
    assert!(sms_ok.is_match());
    let via_sms_3e = [sms_ok.clone(), three_el.clone()];
    assert_eq!(real_name_level(&via_nnid), RealNameLevel::Identity);
    assert_eq!(real_name_level(&via_sms_3e), real_name_level(&via_nnid));

    // Each half alone is less: SMS proves the number, three-element alone proves no possession.
    assert_eq!(
        real_name_level(std::slice::from_ref(&sms_ok)),
        RealNameLevel::Mobile
    );
    assert_eq!(
        real_name_level(std::slice::from_ref(&three_el)),
        RealNameLevel::Unverified
    );
    // SMS on another number does not complete a three-element match.
    let other = sms_match(&c, "13900139000");
    assert_eq!(real_name_level(&[other, three_el]), RealNameLevel::Mobile);
    assert_eq!(real_name_level(&[]), RealNameLevel::Unverified);
    // Failed checks count for nothing.
    let failed = p.verify(&three_req("王五", ID, MOBILE));
    assert_eq!(real_name_level(&[failed]), RealNameLevel::Unverified);
}

#[test]
fn ds_9_gai_11_plaintext_never_reaches_a_log_line() {
    // AT-ID-12: everything a service might log (Debug of inputs, outcomes, stored forms) is
    // written to a sink, which is then searched for the plaintext.
    let c = clock();
    let mut sink = String::new();
    let id = crate::validate_resident_id(ID, date(2026, 3, 3)).unwrap();
    let m = normalize_mobile(MOBILE).unwrap();
    sink += &format!("{id:?}\n{m:?}\n");
    let (otp, sender) = sms(&c);
    let pending = otp.issue(&m, c.now_millis()).unwrap();
    let code = sender.last_code(MOBILE).unwrap();
    let reqs = [
        VerificationRequest::SmsCode {
            pending: pending.clone(),
            answer: code.clone(),
        },
        VerificationRequest::NetworkIdentity {
            token: TOKEN.into(),
        },
        three_req(NAME, ID, MOBILE),
    ];
    let (n, _) = nnid(&c);
    let (t, _) = three(&c, carrier());
    let providers: [&dyn VerificationProvider; 3] = [&otp, &n, &t];
    for (req, p) in reqs.iter().zip(providers) {
        let out = p.verify(req);
        sink += &format!(
            "{req:?}\n{out:?}\n{}\n",
            serde_json::to_string(&out).unwrap()
        );
    }
    sink += &format!("{pending:?}\n{otp:?}\n{n:?}\n{t:?}\n");
    let query = ThreeElementQuery {
        name: NAME.into(),
        id_number: ID.into(),
        mobile: MOBILE.into(),
    };
    let assertion = NnidAssertion {
        verified: true,
        transaction_id: "t".into(),
        network_id: NETWORK_ID.into(),
    };
    sink += &format!("{query:?}\n{assertion:?}\n");
    // The six-digit code could occur by chance inside a hex digest, so it is checked where it
    // would appear: the request's answer field.
    assert!(sink.contains("answer: \"******\""));
    for plain in [ID, "19491231", MOBILE, NAME, TOKEN, NETWORK_ID] {
        assert!(!sink.contains(plain), "{plain:?} leaked into:\n{sink}");
    }
    assert!(sink.contains("110105********002X") && sink.contains("138****8000"));
}

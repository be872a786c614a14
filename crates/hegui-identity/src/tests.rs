//! Validator vectors (`test_data/vectors.txt`, from the spec's acceptance tests A–C), age rules,
//! masks and the peppered HMAC.

use jiff::civil::{Date, date};

use crate::mask::mask_middle;
use crate::*;

const VECTORS: &str = include_str!("../test_data/vectors.txt");
/// "Today" for the resident-ID vectors (Asia/Shanghai).
const TODAY: Date = date(2026, 3, 3);

/// One parsed line of the vector file.
struct Case<'a> {
    line: usize,
    kind: &'a str,
    input: &'a str,
    ok: bool,
    expect: Vec<(&'a str, &'a str)>,
}

fn cases(kind: &str) -> Vec<Case<'_>> {
    let mut out = Vec::new();
    for (i, raw) in VECTORS.lines().enumerate() {
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = raw.split('|').map(str::trim).collect();
        assert!(
            cols.len() >= 3,
            "line {}: needs KIND | INPUT | EXPECTATION",
            i + 1
        );
        if !cols[0].starts_with(kind) {
            continue;
        }
        let mut words = cols[2].split_whitespace();
        let ok = match words.next() {
            Some("ok") => true,
            Some("err") => false,
            other => panic!(
                "line {}: expectation must start ok/err, got {other:?}",
                i + 1
            ),
        };
        let expect = words
            .map(|w| w.split_once('=').unwrap_or((w, "")))
            .collect();
        out.push(Case {
            line: i + 1,
            kind: cols[0],
            input: cols[1],
            ok,
            expect,
        });
    }
    assert!(!out.is_empty(), "no {kind} vectors");
    out
}

/// Runs `run` on every case of `kind`; `run` returns the observed `(key, value)` pairs (`ok`/`err`
/// plus details) and every expected pair must be among them.
fn check(kind: &str, run: impl Fn(&Case<'_>) -> Vec<(String, String)>) {
    let mut failures = Vec::new();
    for case in cases(kind) {
        let got = run(&case);
        let outcome = if case.ok { "ok" } else { "err" };
        let mut want: Vec<(String, String)> = vec![(outcome.into(), String::new())];
        want.extend(
            case.expect
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        // The first expected word after ok/err may name the error without a value (`err length`).
        for w in &want {
            let hit = got
                .iter()
                .any(|g| g.0 == w.0 && (w.1.is_empty() || g.1 == w.1));
            if !hit {
                failures.push(format!(
                    "line {} {} {:?}: want {}={} got {:?}",
                    case.line, case.kind, case.input, w.0, w.1, got
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn kv(k: &str, v: impl ToString) -> (String, String) {
    (k.to_owned(), v.to_string())
}

#[test]
fn ds_9_gai_9_resident_id_vectors() {
    check("id", |c| match validate_resident_id(c.input, TODAY) {
        Ok(id) => {
            let warn = if id.warnings().is_empty() {
                "none".to_owned()
            } else {
                id.warnings()
                    .iter()
                    .map(|w| {
                        serde_json::to_value(w)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let kind = match id.kind() {
                IdKind::Citizen => "citizen",
                IdKind::ResidencePermit(PermitFrom::HkMo) => "hkmo",
                IdKind::ResidencePermit(PermitFrom::Tw) => "tw",
                IdKind::ForeignPermanentResident => "foreign",
            };
            let sex = if id.sex() == Sex::Male { "M" } else { "F" };
            vec![
                kv("ok", ""),
                kv("number", id.number()),
                kv("sex", sex),
                kv("birth", id.birth_date()),
                kv("region", id.region()),
                kv("kind", kind),
                kv("warn", warn),
            ]
        }
        Err(e) => {
            let detail = match &e {
                IdError::Length { .. } => kv("length", ""),
                IdError::Format { .. } => kv("format", ""),
                IdError::Checksum { expected } => kv("checksum", expected),
                IdError::BirthDate { reason } => kv(
                    "birth_date",
                    serde_json::to_value(reason).unwrap().as_str().unwrap(),
                ),
            };
            vec![kv("err", ""), detail]
        }
    });
}

#[test]
fn ds_9_legacy_15_digit_upgrade_vectors() {
    check("upgrade", |c| match upgrade_15(c.input) {
        Ok(n) => vec![kv("ok", ""), kv(&n, "")],
        Err(IdError::Length { .. }) => vec![kv("err", ""), kv("length", "")],
        Err(_) => vec![kv("err", ""), kv("format", "")],
    });
}

#[test]
fn ds_9_gai_9_uscc_vectors() {
    check("uscc", |c| {
        let allow: Vec<&str> = if c.kind == "uscc-allowed" {
            vec![c.input]
        } else {
            vec![]
        };
        match validate_uscc(c.input, &allow) {
            Ok(u) => {
                let warn = match u.warnings() {
                    [] => "none",
                    [UsccWarning::ChecksumOverridden { .. }] => "checksum_overridden",
                    _ => "several",
                };
                vec![kv("ok", ""), kv("code", u.as_str()), kv("warn", warn)]
            }
            Err(UsccError::Length { .. }) => vec![kv("err", ""), kv("length", "")],
            Err(UsccError::Charset { .. }) => vec![kv("err", ""), kv("charset", "")],
            Err(UsccError::Checksum { expected }) => {
                vec![kv("err", ""), kv("checksum", expected)]
            }
        }
    });
}

#[test]
fn ds_9_gai_9_mobile_vectors() {
    check("mobile", |c| match normalize_mobile(c.input) {
        Ok(m) => vec![
            kv("ok", ""),
            kv("number", m.as_str()),
            kv("mvno", m.is_mvno()),
        ],
        Err(e) => {
            let name = match e {
                MobileError::CountryCode => "country_code",
                MobileError::Format { .. } => "format",
                MobileError::Length { .. } => "length",
                MobileError::Prefix { .. } => "prefix",
            };
            vec![kv("err", ""), kv(name, "")]
        }
    });
}

#[test]
fn ds_9_checksum_failure_names_the_expected_character() {
    // AT-ID-03 / AT-CC-02: the error says what the check character should have been.
    assert_eq!(
        validate_resident_id("440308199901101513", TODAY),
        Err(IdError::Checksum { expected: '2' })
    );
    assert_eq!(
        validate_uscc("91110000600037341N", &[]),
        Err(UsccError::Checksum { expected: 'L' })
    );
    // Positions are 1-based, as in the standards.
    assert_eq!(
        validate_uscc("9111000060003IOZSV", &[]),
        Err(UsccError::Charset {
            position: 14,
            found: 'I'
        })
    );
}

#[test]
fn ds_9_gai_9_age_from_id_number_gates_minors() {
    // AT-ID-11: born 2012-03-04, 13 the day before the 14th birthday and 14 on it.
    let id = validate_resident_id("11010120120304001X", TODAY).unwrap();
    assert_eq!(id.sex(), Sex::Male);
    assert_eq!(id.age_at(date(2026, 3, 3)), 13);
    assert!(id.is_minor_under_14(date(2026, 3, 3)));
    assert_eq!(id.age_at(date(2026, 3, 4)), 14);
    assert!(!id.is_minor_under_14(date(2026, 3, 4)));
    assert!(id.is_minor(date(2026, 3, 4)));
    assert!(!id.is_minor(date(2030, 3, 4)));
    assert_eq!(id.age_at(date(2000, 1, 1)), 0);
}

#[test]
fn ds_9_birth_date_today_is_accepted_and_tomorrow_is_not() {
    // Born "today" in Asia/Shanghai is valid; one day later is a future date.
    let today = date(2012, 3, 4);
    assert!(validate_resident_id("11010120120304001X", today).is_ok());
    assert_eq!(
        validate_resident_id("11010120120304001X", date(2012, 3, 3)),
        Err(IdError::BirthDate {
            reason: BirthDateError::Future
        })
    );
}

#[test]
fn shanghai_date_is_utc_plus_8() {
    // 2026-03-03T16:00Z is already 2026-03-04 in Beijing.
    let ms = "2026-03-03T16:00:00Z"
        .parse::<jiff::Timestamp>()
        .unwrap()
        .as_millisecond();
    assert_eq!(shanghai_date(ms), date(2026, 3, 4));
    assert_eq!(shanghai_date(ms - 1), date(2026, 3, 3));
    // Out-of-range readings clamp instead of panicking.
    let _ = shanghai_date(i64::MAX);
    let _ = shanghai_date(i64::MIN);
}

#[test]
fn masks() {
    assert_eq!(mask_resident_id("11010519491231002X"), "110105********002X");
    assert_eq!(mask_mobile("13800138000"), "138****8000");
    assert_eq!(mask_name("张三丰"), "张**");
    assert_eq!(mask_name("李"), "李*");
    assert_eq!(mask_name(" "), "");
    assert_eq!(mask_middle("abc", 2, 2), "***");
    let id = validate_resident_id("11010519491231002X", TODAY).unwrap();
    assert_eq!(id.masked(), "110105********002X");
    assert_eq!(
        normalize_mobile("+86 138 0013 8000").unwrap().masked(),
        "138****8000"
    );
    assert!(is_mvno("170 1234 5678"));
    assert!(!is_mvno("13800138000"));
    assert!(!is_mvno("not a number"));
}

#[test]
fn subject_hasher_is_standard_hmac_sha256() {
    // RFC 4231 test cases 2 (short key) and 6 (key longer than the block).
    let h = SubjectHasher::new(b"Jefe");
    assert_eq!(
        h.hash("what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
    let h = SubjectHasher::new(&[0xaa; 131]);
    assert_eq!(
        h.hash("Test Using Larger Than Block-Size Key - Hash Key First"),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
    // A different pepper gives an unrelated value.
    assert_ne!(
        SubjectHasher::new(b"pepper-a").hash("13800138000"),
        SubjectHasher::new(b"pepper-b").hash("13800138000")
    );
    assert_eq!(format!("{h:?}"), "SubjectHasher(<pepper>)");
}

#[test]
fn ds_9_gai_11_stored_id_is_hmac_plus_mask() {
    // AT-ID-12: what is stored is an HMAC and a mask; neither reveals the number.
    let h = SubjectHasher::new(b"a test pepper of thirty-two bytes");
    let id = validate_resident_id("11010519491231002x", TODAY).unwrap();
    let stored = h.stored_id(&id);
    assert_eq!(stored.masked, "110105********002X");
    assert_eq!(stored.hmac.len(), 64);
    assert_eq!(stored.hmac, h.hash("11010519491231002X"));
    let json = serde_json::to_string(&stored).unwrap();
    assert!(!json.contains("11010519491231002X") && !json.contains("19491231"));
    let m = normalize_mobile("13800138000").unwrap();
    let stored = h.stored_mobile(&m);
    assert_eq!(stored.masked, "138****8000");
    assert!(
        !serde_json::to_string(&stored)
            .unwrap()
            .contains("13800138000")
    );
}

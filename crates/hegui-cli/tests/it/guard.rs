//! `hegui scan`, `hegui library` and `hegui guard`: the moderation contract (DS-10).

use super::{hegui, json_lines, s};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn scan(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hegui"))
        .arg("scan")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hegui runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// `hegui library import` of the term list `terms` into `lib`.
fn import(lib: &Path, category: &str, by: &str, approved_by: Option<&str>, terms: &Path) -> Output {
    let mut args = vec![
        "library",
        "import",
        "--library",
        s(lib),
        "--category",
        category,
        "--by",
        by,
    ];
    if let Some(a) = approved_by {
        args.extend(["--approved-by", a]);
    }
    args.push(s(terms));
    hegui(&args)
}

#[test]
fn ds10_cli_scan_prints_one_json_object_per_line_with_character_offsets() {
    let o = scan(
        &["--json"],
        "今天天气不错\n电话：138 1234 5678，邮箱 zhang.san@example.com\n我不想活了\n",
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines = json_lines(&o);
    assert_eq!(lines.len(), 3);
    // Field order is part of the contract: check it on the raw text.
    let raw = String::from_utf8_lossy(&o.stdout);
    let order = |line: &str, keys: &[&str]| {
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).expect(k))
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{line}");
    };
    for line in raw.lines() {
        order(line, &["action", "findings", "masked"]);
        if line.contains("\"rule\"") {
            order(line, &["category", "rule", "start", "end", "text", "score"]);
        }
    }
    for l in &lines {
        assert_eq!(l.as_object().unwrap().len(), 3);
        for f in l["findings"].as_array().unwrap() {
            assert_eq!(f.as_object().unwrap().len(), 6);
        }
    }
    assert_eq!(lines[0]["action"], "pass");
    assert_eq!(lines[1]["action"], "mask");
    let phone = &lines[1]["findings"][0];
    assert_eq!(phone["category"], "P2");
    // Offsets are characters of the original line: "电话：" is three characters.
    assert_eq!(
        (phone["start"].as_u64(), phone["end"].as_u64()),
        (Some(3), Some(16))
    );
    assert_eq!(phone["text"], "138 1234 5678");
    let masked = lines[1]["masked"].as_str().unwrap();
    assert!(
        !masked.contains("1234")
            && !masked.contains("zhang.san")
            && masked.contains("@example.com"),
        "{masked}"
    );
    assert!(
        lines[2]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["category"] == "S2")
    );
}

#[test]
fn ds10_cli_library_entry_goes_active_only_with_a_different_approver() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib.jsonl");
    let terms = dir.path().join("terms.txt");
    std::fs::write(&terms, "# porn terms\n裸聊服务\n约炮群\n").unwrap();
    let o = import(&lib, "A1.6", "li", None, &terms);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Drafts are not matched.
    let o = scan(&["--json", "--library", s(&lib)], "加入约炮群\n");
    assert_eq!(json_lines(&o)[0]["action"], "pass");
    // The author cannot approve their own entry.
    let o = hegui(&[
        "library",
        "approve",
        "--library",
        s(&lib),
        "--by",
        "li",
        "--all-drafts",
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("cannot also approve"));
    // Draft cannot be activated.
    let o = hegui(&[
        "library",
        "activate",
        "--library",
        s(&lib),
        "--by",
        "wang",
        "A1.6-000001",
    ]);
    assert!(!o.status.success());
    let o = hegui(&[
        "library",
        "approve",
        "--library",
        s(&lib),
        "--by",
        "wang",
        "--all-drafts",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = hegui(&[
        "library",
        "activate",
        "--library",
        s(&lib),
        "--by",
        "wang",
        "--all-approved",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = scan(&["--json", "--library", s(&lib)], "加入约 炮 群\n");
    let l = &json_lines(&o)[0];
    assert_eq!(l["action"], "block");
    assert_eq!(l["findings"][0]["rule"], "A1.6-000002");
    assert_eq!(l["findings"][0]["text"], "约 炮 群");
    // Every change left an immutable snapshot; the diff shows the activation.
    assert!(dir.path().join("lib.jsonl.versions/v000003.jsonl").exists());
    let o = hegui(&["library", "diff", "--library", s(&lib), "--from", "1"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("A1.6-000002 status: draft -> active"), "{out}");
    // Retire takes it out of service.
    let o = hegui(&[
        "library",
        "retire",
        "--library",
        s(&lib),
        "--by",
        "wang",
        "--reason",
        "test",
        "A1.6-000002",
    ]);
    assert!(o.status.success());
    let o = scan(&["--json", "--library", s(&lib)], "加入约炮群\n");
    assert_eq!(json_lines(&o)[0]["action"], "pass");
}

#[test]
fn ds10_cli_import_with_approved_by_is_active_and_stats_report_coverage() {
    let dir = tempfile::tempdir().unwrap();
    let lib = dir.path().join("lib.jsonl");
    let terms = dir.path().join("terms.txt");
    std::fs::write(&terms, "河南人都是骗子\n东北人都是黑社会\n").unwrap();
    let o = import(&lib, "A2.4", "li", Some("wang"), &terms);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = scan(&["--json", "--library", s(&lib)], "他说河南人都是骗子\n");
    let l = &json_lines(&o)[0];
    assert!(
        l["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["category"] == "A2.4" && f["text"] == "河南人都是骗子"),
        "{l}"
    );
    assert_eq!(l["action"], "block");
    let o = hegui(&["library", "stats", "--json", "--library", s(&lib)]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["total_terms"], 2);
    let o = import(&lib, "A2.4", "li", Some("li"), &terms);
    assert!(!o.status.success(), "self-approval on import is refused");
    let o = hegui(&["library", "lint", "--library", s(&lib)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
}

#[test]
fn ds10_cli_guard_eval_prints_precision_recall_f1() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(
        &csv,
        "text,label\n你们这些地域黑真恶心，河南人都是骗子,1\n今天天气很好，我们去公园散步吧,0\n",
    )
    .unwrap();
    let o = hegui(&["guard", "eval", "--data", s(&csv)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("precision") && out.contains("recall") && out.contains("f1"),
        "{out}"
    );
}

//! The `hegui` command-line contract: subcommands, output shapes and exit codes that other tools
//! rely on. Runs the real binary on copies of the label fixtures.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod gateway;
mod guard;

const PRODUCER: &str = "001191440300708461136T1XGW3";
const PROPAGATOR: &str = "001191110102MACQD9K64028705";

fn hegui(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hegui"))
        .args(args)
        .output()
        .expect("hegui runs")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A directory with a few fixtures of different formats and one broken file.
fn inputs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hegui-label/test_data");
    let inp = dir.path().join("in");
    std::fs::create_dir_all(inp.join("sub")).unwrap();
    for (name, to) in [
        ("webp-lossy.webp", "a.webp"),
        ("mp3-plain.mp3", "sub/b.mp3"),
        ("ooxml-sample.docx", "c.docx"),
    ] {
        std::fs::copy(src.join(name), inp.join(to)).unwrap();
    }
    (dir, inp)
}

fn json_lines(out: &Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[test]
fn ds16_cli_label_directory_then_inspect_json() {
    let (dir, inp) = inputs();
    let out = dir.path().join("out");
    let o = hegui(&["label", "--producer", PRODUCER, "-o", s(&out), s(&inp)]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        out.join("a.webp").exists()
            && out.join("sub/b.mp3").exists()
            && out.join("c.docx").exists()
    );
    let o = hegui(&["inspect", "--json", s(&out)]);
    assert!(o.status.success());
    let reports = json_lines(&o);
    assert_eq!(reports.len(), 3);
    for r in &reports {
        let keys: Vec<_> = r.as_object().unwrap().keys().cloned().collect();
        for k in [
            "path",
            "format",
            "verdict",
            "label",
            "sites",
            "signature",
            "problems",
        ] {
            assert!(keys.iter().any(|x| x == k), "missing {k} in {r}");
        }
        assert_eq!(r["verdict"], "labeled", "{r}");
        assert_eq!(r["signature"], "absent");
        assert_eq!(r["label"]["ContentProducer"], PRODUCER);
    }
    // The inputs are untouched.
    let o = hegui(&["inspect", "--json", s(&inp)]);
    assert!(json_lines(&o).iter().all(|r| r["verdict"] == "unlabeled"));
}

#[test]
fn ds18_cli_keygen_sign_propagate_and_detect_tampering() {
    let (dir, inp) = inputs();
    let keys = dir.path().join("keys");
    let o = hegui(&["keygen", "--out", s(&keys)]);
    assert!(o.status.success());
    let key = keys.join("hegui-sm2.key");
    let pubkey = keys.join("hegui-sm2.pub");
    assert!(
        std::fs::read_to_string(&key)
            .unwrap()
            .contains("PRIVATE KEY")
    );
    // Refuses to overwrite a key.
    assert!(!hegui(&["keygen", "--out", s(&keys)]).status.success());

    let file = inp.join("a.webp");
    let o = hegui(&[
        "label",
        "--producer",
        PRODUCER,
        "--key",
        s(&key),
        "--in-place",
        s(&file),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = hegui(&[
        "propagate",
        "--propagator",
        PROPAGATOR,
        "--in-place",
        s(&file),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("prompt=属于"));
    let o = hegui(&["inspect", "--json", "--pubkey", s(&pubkey), s(&file)]);
    let r = &json_lines(&o)[0];
    assert_eq!(r["verdict"], "labeled", "{r}");
    assert_eq!(r["signature"], "valid", "{r}");
    assert_eq!(r["label"]["ContentPropagator"], PROPAGATOR);

    // Edit one character of the ProduceID in the file.
    let mut bytes = std::fs::read(&file).unwrap();
    let id = r["label"]["ProduceID"]
        .as_str()
        .unwrap()
        .as_bytes()
        .to_vec();
    let at = bytes.windows(id.len()).position(|w| w == id).unwrap();
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    std::fs::write(&file, &bytes).unwrap();
    let o = hegui(&["inspect", "--json", "--pubkey", s(&pubkey), s(&file)]);
    let r = &json_lines(&o)[0];
    assert_eq!(r["verdict"], "tampered", "{r}");
    assert_eq!(r["signature"], "invalid");
}

#[test]
fn cli_a_bad_file_does_not_stop_the_batch() {
    let (dir, inp) = inputs();
    let bad = inp.join("broken.mp3");
    std::fs::write(&bad, b"ID3\x04\x00\x00\x00\x00\x10\x00trunc").unwrap();
    let out = dir.path().join("out");
    let o = hegui(&["label", "--producer", PRODUCER, "-o", s(&out), s(&inp)]);
    assert_eq!(o.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stderr.contains("broken.mp3"), "{stderr}");
    assert!(stderr.contains("3 labelled, 1 failed"), "{stderr}");
    assert!(!out.join("broken.mp3").exists());
    assert!(out.join("a.webp").exists());
}

#[test]
fn cli_usage_errors() {
    let (_dir, inp) = inputs();
    // A name is not a provider code.
    let o = hegui(&[
        "label",
        "--producer",
        "Minimax Agent AI",
        "--in-place",
        s(&inp.join("a.webp")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("27 characters"));
    // One ProduceID for many files would not be unique.
    let o = hegui(&[
        "label",
        "--producer",
        PRODUCER,
        "--produce-id",
        "x",
        "--in-place",
        s(&inp),
    ]);
    assert_eq!(o.status.code(), Some(2));
    // An output mode is required.
    let o = hegui(&["label", "--producer", PRODUCER, s(&inp)]);
    assert!(!o.status.success());
    // Propagation of an unlabelled file without a basis names the flags.
    let o = hegui(&[
        "propagate",
        "--propagator",
        PROPAGATOR,
        "--in-place",
        s(&inp.join("a.webp")),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--declared"));
    // There is no command that removes a label.
    for verb in ["strip", "remove", "delete", "unlabel"] {
        assert!(!hegui(&[verb, s(&inp)]).status.success());
    }
}

#[test]
fn ds17_cli_explicit_labels_in_the_same_command() {
    let (dir, inp) = inputs();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hegui-label/test_data");
    std::fs::copy(src.join("wav-pcm.wav"), inp.join("d.wav")).unwrap();
    std::fs::copy(src.join("markdown-plain.md"), inp.join("e.md")).unwrap();
    std::fs::write(inp.join("f.txt"), "导出的回答。\n").unwrap();
    // The docx has no explicit path; leave it out of this run.
    std::fs::remove_file(inp.join("c.docx")).unwrap();
    std::fs::remove_file(inp.join("sub/b.mp3")).unwrap();
    let out = dir.path().join("out");
    let o = hegui(&[
        "label",
        "--producer",
        PRODUCER,
        "--explicit",
        "-o",
        s(&out),
        s(&inp),
    ]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        stdout.contains("a.webp [webp]") && stdout.contains("explicit=image"),
        "{stdout}"
    );
    assert!(stdout.contains("explicit=audio"), "{stdout}");
    assert!(stdout.contains("e.md [markdown]"), "{stdout}");
    assert!(
        std::fs::read_to_string(out.join("e.md"))
            .unwrap()
            .trim_end()
            .ends_with("*（AI生成）*")
    );
    assert!(
        std::fs::read_to_string(out.join("f.txt"))
            .unwrap()
            .contains("（AI生成）")
    );
    // Every labelled output still carries exactly one conforming implicit label.
    let o = hegui(&[
        "inspect",
        "--json",
        s(&out.join("a.webp")),
        s(&out.join("d.wav")),
        s(&out.join("e.md")),
    ]);
    for r in json_lines(&o) {
        assert_eq!(r["verdict"], "labeled", "{r}");
        assert_eq!(r["sites"].as_array().unwrap().len(), 1, "{r}");
    }
}

#[test]
fn ds17_cli_refuses_wording_without_both_elements() {
    let (_dir, inp) = inputs();
    let o = hegui(&[
        "label",
        "--producer",
        PRODUCER,
        "--explicit=image",
        "--label-text",
        "AI助手为您服务",
        "--in-place",
        s(&inp.join("a.webp")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("generation"));
}

#[test]
fn cli_c2pa_without_the_feature_says_how_to_get_it() {
    if cfg!(feature = "c2pa") {
        return;
    }
    let (dir, inp) = inputs();
    let cert = dir.path().join("c.pem");
    std::fs::write(&cert, "x").unwrap();
    let o = hegui(&[
        "label",
        "--producer",
        PRODUCER,
        "--c2pa",
        "--c2pa-cert",
        s(&cert),
        "--c2pa-key",
        s(&cert),
        "--in-place",
        s(&inp.join("a.webp")),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--features c2pa"));
}

#[test]
fn ds18_cli_c2pa_cosigns_and_inspect_reports_it() {
    if !cfg!(feature = "c2pa") {
        return;
    }
    let (_dir, inp) = inputs();
    let file = inp.join("a.webp");
    label_with_c2pa(&file);
    let (cert, key) = c2pa_test_keys();
    let r = &json_lines(&hegui(&["inspect", "--json", s(&file)]))[0];
    assert_eq!(r["verdict"], "labeled", "{r}");
    assert_eq!(r["c2pa"]["present"], true, "{r}");
    assert_eq!(r["c2pa"]["valid"], true, "{r}");
    // A platform's propagation re-signs with the earlier manifest as ingredient (G2).
    let o = hegui(&[
        "propagate",
        "--propagator",
        PROPAGATOR,
        "--c2pa",
        "--c2pa-cert",
        s(&cert),
        "--c2pa-key",
        s(&key),
        "--in-place",
        s(&file),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = &json_lines(&hegui(&["inspect", "--json", s(&file)]))[0];
    assert_eq!(r["c2pa"]["valid"], true, "{r}");
    assert_eq!(r["label"]["ContentPropagator"], PROPAGATOR);
}

#[test]
fn ds18_cli_propagate_without_c2pa_key_warns_that_the_manifest_breaks() {
    if !cfg!(feature = "c2pa") {
        return;
    }
    let (_dir, inp) = inputs();
    let file = inp.join("a.webp");
    label_with_c2pa(&file);
    let o = hegui(&[
        "propagate",
        "--propagator",
        PROPAGATOR,
        "--in-place",
        s(&file),
    ]);
    assert!(o.status.success());
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("C2PA manifest no longer validates"),
        "{stderr}"
    );
    let r = &json_lines(&hegui(&["inspect", "--json", s(&file)]))[0];
    assert_eq!(r["c2pa"]["valid"], false, "{r}");
}

/// The test-only C2PA certificate chain and key shipped with the label fixtures.
fn c2pa_test_keys() -> (PathBuf, PathBuf) {
    let td = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hegui-label/test_data");
    (
        td.join("c2pa-test-es256.pem"),
        td.join("c2pa-test-es256.key"),
    )
}

/// Labels `file` in place with a C2PA manifest (needs the `c2pa` feature).
fn label_with_c2pa(file: &Path) {
    let (cert, key) = c2pa_test_keys();
    let o = hegui(&[
        "label",
        "--producer",
        PRODUCER,
        "--c2pa",
        "--c2pa-cert",
        s(&cert),
        "--c2pa-key",
        s(&key),
        "--in-place",
        s(file),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

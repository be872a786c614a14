//! DS-18: a signed label verifies; editing the label or the payload afterwards shows as
//! `tampered`; a pinned key must be the signer's.

use crate::fixtures::{self, PRODUCER, is_unsupported};
use hegui_label::format::content_bytes;
use hegui_label::{
    AigcClass, InspectOptions, LabelRequest, LabelSigner, LabelVerifier, SignatureStatus, Verdict,
    generate_key_pair, inspect_file, label_file,
};

/// `dir/prefix-name.ext`: a sibling that keeps the extension (Markdown is known by it).
fn renamed(path: &std::path::Path, prefix: &str) -> std::path::PathBuf {
    let name = path.file_name().unwrap().to_string_lossy();
    path.with_file_name(format!("{prefix}-{name}"))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn ds18_signed_labels_verify_and_edits_are_detected() {
    let pair = generate_key_pair().unwrap();
    let signer = LabelSigner::from_pem(&pair.private_pem).unwrap();
    let pinned = InspectOptions {
        pinned: Some(LabelVerifier::from_pem(&pair.public_pem).unwrap()),
    };
    let wrong = InspectOptions {
        pinned: Some(LabelVerifier::from_pem(&generate_key_pair().unwrap().public_pem).unwrap()),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut content_checked = Vec::new();
    for fx in fixtures::all(dir.path()) {
        let out = dir.path().join("signed").join(fx.path.file_name().unwrap());
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        let req = LabelRequest {
            producer: PRODUCER.into(),
            produce_id: Some("tamper-test-0001".into()),
            class: AigcClass::Is,
            signer: Some(signer.clone()),
            explicit: None,
        };
        match label_file(&fx.path, &out, &req) {
            Ok(_) => {}
            Err(e) if is_unsupported(&e) => continue,
            Err(e) => panic!("{}: {e}", fx.path.display()),
        }
        let name = out.display().to_string();
        let ok = inspect_file(&out, &pinned).unwrap();
        assert_eq!(ok.verdict, Verdict::Labeled, "{name}: {ok:?}");
        assert_eq!(ok.signature, SignatureStatus::Valid, "{name}: {ok:?}");
        let other_key = inspect_file(&out, &wrong).unwrap();
        assert_eq!(other_key.verdict, Verdict::Tampered, "{name}");

        // Edit the label: change one character of ProduceID where it is stored in clear.
        let bytes = std::fs::read(&out).unwrap();
        if let Some(at) = find(&bytes, b"tamper-test-0001") {
            let mut edited = bytes.clone();
            edited[at + 15] = b'2';
            let p = renamed(&out, "label-edited");
            std::fs::write(&p, &edited).unwrap();
            let r = inspect_file(&p, &InspectOptions::default()).unwrap();
            assert_eq!(
                r.verdict,
                Verdict::Tampered,
                "{name}: label edit not detected: {r:?}"
            );
        }

        // Edit the payload: flip a byte that the content selection covers.
        let selection = content_bytes(fx.format, &bytes).unwrap();
        if selection.len() >= 64 {
            let mid = selection.len() / 2;
            let window = &selection[mid..mid + 24];
            if let Some(at) = find(&bytes, window) {
                let mut edited = bytes.clone();
                edited[at + 12] ^= 0x01;
                let p = renamed(&out, "content-edited");
                std::fs::write(&p, &edited).unwrap();
                let r = inspect_file(&p, &InspectOptions::default()).unwrap();
                // A flipped payload byte may also break parsing; it must never pass as labeled.
                assert_ne!(
                    r.verdict,
                    Verdict::Labeled,
                    "{name}: content edit not detected"
                );
                assert_ne!(r.verdict, Verdict::Unlabeled, "{name}");
                content_checked.push(fx.format);
            }
        }
    }
    assert!(
        content_checked.len() >= 5,
        "content edits checked on {content_checked:?}"
    );
}

//! Bad input gets a clear error and loses nothing: truncated files are refused without partial
//! output, in-place included, and inspection calls them inconclusive rather than unlabeled when
//! it cannot parse them.

use crate::fixtures::{self, PRODUCER};
use hegui_label::{AigcClass, InspectOptions, LabelRequest, Verdict, inspect_file, label_file};

#[test]
fn truncated_files_fail_cleanly_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let req = LabelRequest {
        producer: PRODUCER.into(),
        produce_id: None,
        class: AigcClass::Is,
        signer: None,
        explicit: None,
    };
    for fx in fixtures::all(dir.path()) {
        let bytes = std::fs::read(&fx.path).unwrap();
        for cut in [bytes.len() / 2, 20, 3] {
            let cut_path = fx.path.with_extension(format!("cut{cut}"));
            std::fs::write(&cut_path, &bytes[..cut]).unwrap();
            let out = dir.path().join(format!("out-{cut}"));
            match label_file(&cut_path, &out, &req) {
                Err(e) => {
                    let msg = e.to_string();
                    assert!(
                        msg.contains(&*cut_path.to_string_lossy()),
                        "error names the file: {msg}"
                    );
                    assert!(!out.exists(), "no partial output for {msg}");
                }
                // Some formats tolerate a cut in trailing media (e.g. MP3 frames); the result must
                // then be a properly labelled file.
                Ok(_) => {
                    let r = inspect_file(&out, &InspectOptions::default()).unwrap();
                    assert_eq!(r.verdict, Verdict::Labeled, "{}: {r:?}", cut_path.display());
                    std::fs::remove_file(&out).unwrap();
                }
            }
            // In place: a failure keeps the original bytes.
            if label_file(&cut_path, &cut_path, &req).is_err() {
                assert_eq!(std::fs::read(&cut_path).unwrap(), &bytes[..cut]);
            }
            let r = inspect_file(&cut_path, &InspectOptions::default()).unwrap();
            assert!(
                matches!(
                    r.verdict,
                    Verdict::Inconclusive | Verdict::Unlabeled | Verdict::Labeled
                ),
                "{r:?}"
            );
        }
    }
    // No temp files left behind anywhere.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".hegui-"))
        .collect();
    assert!(leftovers.is_empty());
}

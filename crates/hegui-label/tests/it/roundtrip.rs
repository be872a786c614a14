//! DS-16: every format labels, reads back as one conforming site, keeps its payload, and
//! labelling twice leaves one label.

use crate::fixtures::{self, PRODUCER, is_unsupported};
use hegui_label::Format;
use hegui_label::format::content_bytes;
use hegui_label::{
    AigcClass, InspectOptions, LabelRequest, SignatureStatus, Verdict, inspect_file, label_file,
};

fn request(id: Option<&str>) -> LabelRequest {
    LabelRequest {
        producer: PRODUCER.into(),
        produce_id: id.map(str::to_string),
        class: AigcClass::Is,
        signer: None,
        explicit: None,
    }
}

#[test]
fn ds16_every_format_labels_and_inspects_as_labeled() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = fixtures::all(dir.path());
    assert!(fixtures.len() >= 10, "expected fixtures for most formats");
    let mut labelled = std::collections::BTreeSet::new();
    for fx in &fixtures {
        let before = std::fs::read(&fx.path).unwrap();
        let out = fx.path.with_extension(format!(
            "labelled.{}",
            fx.path.extension().unwrap().to_string_lossy()
        ));
        match label_file(&fx.path, &out, &request(None)) {
            Ok(w) => {
                labelled.insert(fx.format);
                assert_eq!(w.format, fx.format);
                let report = inspect_file(&out, &InspectOptions::default()).unwrap();
                assert_eq!(
                    report.verdict,
                    Verdict::Labeled,
                    "{}: {:?}",
                    fx.path.display(),
                    report
                );
                assert_eq!(report.sites.len(), 1);
                assert!(report.sites[0].canonical);
                assert_eq!(report.signature, SignatureStatus::Absent);
                assert_eq!(report.label.as_ref().unwrap(), &w.label);
                // The content selection is untouched by labelling.
                let after = std::fs::read(&out).unwrap();
                assert_eq!(
                    content_bytes(fx.format, &before).unwrap(),
                    content_bytes(fx.format, &after).unwrap(),
                    "{}: payload changed",
                    fx.path.display()
                );
            }
            Err(e) if is_unsupported(&e) && fixtures::may_be_refused(&fx.path) => {
                assert!(!out.exists(), "no output after a refusal");
                eprintln!("refused as unsupported (clear error): {e}");
            }
            Err(e) => panic!("{}: {e}", fx.path.display()),
        }
        // The input is never modified.
        assert_eq!(
            std::fs::read(&fx.path).unwrap(),
            before,
            "{}",
            fx.path.display()
        );
    }
    let missing: Vec<_> = Format::ALL
        .iter()
        .filter(|f| !labelled.contains(f))
        .collect();
    assert!(missing.is_empty(), "formats never labelled: {missing:?}");
}

#[test]
fn ds16_labelling_twice_gives_one_label_and_keeps_the_id() {
    let dir = tempfile::tempdir().unwrap();
    for fx in fixtures::all(dir.path()) {
        let once = dir.path().join("once").join(fx.path.file_name().unwrap());
        std::fs::create_dir_all(once.parent().unwrap()).unwrap();
        let first = match label_file(&fx.path, &once, &request(None)) {
            Ok(w) => w,
            Err(e) if is_unsupported(&e) => continue,
            Err(e) => panic!("{e}"),
        };
        // In place, without an ID: the producer's own earlier label is replaced, ID kept.
        let second = label_file(&once, &once, &request(None)).unwrap();
        assert!(second.replaced);
        assert_eq!(second.label.produce_id, first.label.produce_id);
        let report = inspect_file(&once, &InspectOptions::default()).unwrap();
        assert_eq!(
            report.sites.len(),
            1,
            "{}: {:?}",
            once.display(),
            report.sites
        );
        assert_eq!(report.verdict, Verdict::Labeled);
    }
}

#[test]
fn ds18_another_producers_label_is_never_replaced() {
    let dir = tempfile::tempdir().unwrap();
    for fx in fixtures::all(dir.path()) {
        let out = dir.path().join("x").join(fx.path.file_name().unwrap());
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        match label_file(&fx.path, &out, &request(Some("first"))) {
            Ok(_) => {}
            Err(e) if is_unsupported(&e) => continue,
            Err(e) => panic!("{e}"),
        }
        let before = std::fs::read(&out).unwrap();
        let other = LabelRequest {
            producer: "001191110102MACQD9K64018705".into(),
            ..request(None)
        };
        let err = label_file(&out, &out, &other).unwrap_err();
        assert!(
            matches!(err, hegui_label::Error::LabelledByOther { .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(&out).unwrap(), before);
    }
}

#[test]
fn ds16_unlabelled_fixture_inspects_as_unlabeled() {
    let dir = tempfile::tempdir().unwrap();
    for fx in fixtures::all(dir.path()) {
        let report = inspect_file(&fx.path, &InspectOptions::default()).unwrap();
        assert_eq!(
            report.verdict,
            Verdict::Unlabeled,
            "{}: {:?}",
            fx.path.display(),
            report
        );
    }
}

#[test]
fn ds16_minimax_markdown_label_is_noncompliant() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/markdown-minimax.md");
    let report = inspect_file(&path, &InspectOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Noncompliant, "{report:?}");
    assert!(
        report.problems.iter().any(|p| p.contains("Label must be")),
        "{:?}",
        report.problems
    );
}

#[test]
fn ds16_mp4_in_place_label_keeps_the_media_where_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data/bmff-moovlast.mp4");
    let path = dir.path().join("clip.mp4");
    std::fs::copy(&src, &path).unwrap();
    let before = std::fs::read(&path).unwrap();
    let moov_at = before.windows(4).position(|w| w == b"moov").unwrap() - 4;
    let w = label_file(&path, &path, &request(None)).unwrap();
    let after = std::fs::read(&path).unwrap();
    // Everything before the old moov (ftyp, mdat) is untouched: no copy was made.
    assert_eq!(&after[..moov_at], &before[..moov_at]);
    let report = inspect_file(&path, &InspectOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::Labeled, "{report:?}");
    assert_eq!(report.label.unwrap(), w.label);
    assert_eq!(
        content_bytes(Format::Mp4, &before).unwrap(),
        content_bytes(Format::Mp4, &after).unwrap()
    );
}

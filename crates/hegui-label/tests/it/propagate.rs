//! Labelling Measures art. 6 (DS-16 on the platform side): propagation keeps the producer's
//! members byte-identical, fills the platform's, and maps present/declared/detected to 1/2/3.

use crate::fixtures::{self, PRODUCER, PROPAGATOR, is_unsupported};
use hegui_label::{
    AigcClass, Error, InspectOptions, LabelRequest, LabelSigner, LabelVerifier, PropagateRequest,
    PropagationBasis, SignatureStatus, Verdict, generate_key_pair, inspect_file, label_file,
    propagate_file,
};

fn propagate_req(basis: Option<PropagationBasis>) -> PropagateRequest {
    PropagateRequest {
        propagator: PROPAGATOR.into(),
        propagate_id: None,
        basis,
        signer: None,
    }
}

#[test]
fn ds16_a7_propagation_keeps_producer_fields_and_one_site() {
    let pair = generate_key_pair().unwrap();
    let signer = LabelSigner::from_pem(&pair.private_pem).unwrap();
    let platform = generate_key_pair().unwrap();
    let platform_signer = LabelSigner::from_pem(&platform.private_pem).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for fx in fixtures::all(dir.path()) {
        let labelled = dir.path().join("l").join(fx.path.file_name().unwrap());
        std::fs::create_dir_all(labelled.parent().unwrap()).unwrap();
        let req = LabelRequest {
            producer: PRODUCER.into(),
            produce_id: None,
            class: AigcClass::Is,
            signer: Some(signer.clone()),
            explicit: None,
        };
        let written = match label_file(&fx.path, &labelled, &req) {
            Ok(w) => w,
            Err(e) if is_unsupported(&e) => continue,
            Err(e) => panic!("{e}"),
        };
        let published = dir.path().join("p").join(fx.path.file_name().unwrap());
        std::fs::create_dir_all(published.parent().unwrap()).unwrap();
        let mut preq = propagate_req(Some(PropagationBasis::Detected));
        preq.signer = Some(platform_signer.clone());
        let p = propagate_file(&labelled, &published, &preq).unwrap();
        // The label was present, so the basis is ignored: class 1, prompt 属于.
        assert!(p.label_was_present);
        assert_eq!(p.class, AigcClass::Is);
        assert_eq!(p.class.prompt(), "属于");
        let l = &p.label;
        assert_eq!(l.label, written.label.label);
        assert_eq!(l.content_producer, written.label.content_producer);
        assert_eq!(l.produce_id, written.label.produce_id);
        assert_eq!(l.reserved_code1, written.label.reserved_code1);
        assert_eq!(l.content_propagator, PROPAGATOR);
        assert!(!l.propagate_id.is_empty() && !l.reserved_code2.is_empty());
        let report = inspect_file(
            &published,
            &InspectOptions {
                pinned: Some(LabelVerifier::from_pem(&pair.public_pem).unwrap()),
            },
        )
        .unwrap();
        assert_eq!(report.sites.len(), 1, "{report:?}");
        assert_eq!(report.verdict, Verdict::Labeled, "{report:?}");
        assert_eq!(report.signature, SignatureStatus::Valid, "{report:?}");
    }
}

#[test]
fn ds16_a8_unlabelled_content_gets_label_2_or_3() {
    let dir = tempfile::tempdir().unwrap();
    for fx in fixtures::all(dir.path()) {
        let out = dir.path().join("o").join(fx.path.file_name().unwrap());
        std::fs::create_dir_all(out.parent().unwrap()).unwrap();
        match propagate_file(&fx.path, &out, &propagate_req(None)) {
            Err(Error::NoLabel { .. }) => {}
            Err(e) if is_unsupported(&e) => continue,
            other => panic!("expected NoLabel, got {other:?}"),
        }
        assert!(!out.exists());
        let p = propagate_file(
            &fx.path,
            &out,
            &propagate_req(Some(PropagationBasis::Declared)),
        )
        .unwrap();
        assert_eq!((p.label.label.as_str(), p.class.prompt()), ("2", "可能为"));
        assert!(p.label.content_producer.is_empty());
        let p = propagate_file(
            &fx.path,
            &out,
            &propagate_req(Some(PropagationBasis::Detected)),
        )
        .unwrap();
        assert_eq!((p.label.label.as_str(), p.class.prompt()), ("3", "疑似"));
        let report = inspect_file(&out, &InspectOptions::default()).unwrap();
        assert_eq!(report.verdict, Verdict::Labeled, "{report:?}");
    }
}

//! Integration tests: the shipped model against COLD dev (DS-10 review of input and output needs
//! a classifier with known quality), and a train → save → load → evaluate round trip.

mod crisis;

use hegui_classifier::{
    Model, TrainParams, default_model, evaluate, parse_labelled_csv, read_labelled_csv, train,
};

/// COLD dev, outside the repository (see `../shared/data/cold/README.md`).
const COLD_DEV: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/cold/dev.csv"
);

#[test]
fn ds10_shipped_classifier_reaches_f1_077_on_cold_dev() {
    let dev = read_labelled_csv(COLD_DEV).unwrap_or_else(|e| {
        panic!(
            "COLD dev set is required for this test and could not be read ({e}); \
             expected at {COLD_DEV} (the shared data folder next to the repository)"
        )
    });
    assert_eq!(dev.len(), 6431, "unexpected COLD dev size");
    let m = evaluate(default_model(), &dev);
    eprintln!("shipped model on COLD dev: {m}");
    assert!(m.f1 >= 0.77, "F1 {:.4} < 0.77 on COLD dev: {m}", m.f1);
}

#[test]
fn ds10_trained_model_survives_a_file_round_trip() {
    let csv = "text,label\n\
        你这个傻逼,1\n滚蛋吧垃圾,1\n真是个废物,1\n傻逼东西,1\n垃圾废物滚,1\n\
        今天天气很好,0\n谢谢你的帮助,0\n我们去吃饭吧,0\n天气不错呀,0\n帮助别人很快乐,0\n";
    let data = parse_labelled_csv(csv).unwrap();
    let mut params = TrainParams {
        holdout: 0.0,
        ..TrainParams::default()
    };
    params.features.bucket_bits = 12;
    let m = train(&data, &params);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("toy.hgcls");
    std::fs::write(&path, m.to_bytes()).unwrap();
    let back = Model::from_bytes(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(back, m);
    let r = evaluate(&back, &data);
    assert_eq!((r.tp, r.fp, r.fn_, r.tn), (5, 0, 0, 5), "{r}");
}

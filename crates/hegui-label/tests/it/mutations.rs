//! A deterministic smoke fuzzer that runs in every test run (the cargo-fuzz targets in `fuzz/`
//! go deeper): each fixture, unlabelled and labelled, is mutated many times; readers must never
//! panic, and whenever a write succeeds the result holds exactly one label site with the label.

use crate::fixtures;
use hegui_label::Format;
use hegui_label::format::{content_bytes, scan_bytes, write_bytes};
use hegui_label::sites::labels_in;

const LABEL: &str = r#"{"Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"mut","ReservedCode1":"","ContentPropagator":"","PropagateID":"","ReservedCode2":""}"#;

/// xorshift64*: small, deterministic, good enough to spread mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    match rng.below(5) {
        0 => d.truncate(rng.below(d.len() + 1)),
        1 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(d.len());
                if let Some(b) = d.get_mut(i) {
                    *b = rng.next() as u8;
                }
            }
        }
        2 => {
            // Set a would-be length field to something large.
            let i = rng.below(d.len().saturating_sub(4));
            if d.len() >= 4 {
                d[i..i + 4].copy_from_slice(&[0xFF, 0xFF, 0xFF, (rng.next() as u8) | 0x80]);
            }
        }
        3 => {
            let i = rng.below(d.len() + 1);
            let n = rng.below(16);
            let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            d.splice(i..i, junk);
        }
        _ => {
            let i = rng.below(d.len());
            let n = rng.below(64).min(d.len() - i.min(d.len()));
            d.drain(i..i + n);
        }
    }
    d
}

fn exercise(format: Format, data: &[u8]) {
    if let Ok(scan) = scan_bytes(format, data) {
        let _ = labels_in(&scan);
    }
    let _ = content_bytes(format, data);
    if let Ok(out) = write_bytes(format, data, LABEL) {
        let back = scan_bytes(format, &out).expect("a file hegui wrote scans");
        let found = labels_in(&back);
        assert_eq!(
            found.len(),
            1,
            "{format}: {} sites after a write",
            found.len()
        );
        assert_eq!(
            found[0].label().map(|l| l.to_json_unchecked()).as_deref(),
            Some(LABEL)
        );
    }
}

#[test]
fn mutated_files_never_panic_and_writes_stay_single_site() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let rounds: usize = std::env::var("HEGUI_MUTATION_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    for fx in fixtures::all(dir.path()) {
        let original = std::fs::read(&fx.path).unwrap();
        let mut seeds = vec![original.clone()];
        if let Ok(labelled) = write_bytes(fx.format, &original, LABEL) {
            seeds.push(labelled);
        }
        for seed in &seeds {
            for _ in 0..rounds {
                let m = mutate(&mut rng, seed);
                let result = std::panic::catch_unwind(|| exercise(fx.format, &m));
                if result.is_err() {
                    let p = std::env::temp_dir().join(format!(
                        "hegui-crash-{}.{}",
                        fx.format,
                        rng.next()
                    ));
                    std::fs::write(&p, &m).unwrap();
                    panic!(
                        "{}: panic on a mutation of {}, saved to {}",
                        fx.format,
                        fx.path.display(),
                        p.display()
                    );
                }
            }
        }
    }
}

/// Inputs the fuzzers found (files under `test_data/` whose name contains `bad`): reading never
/// panics and a write either refuses or yields a file with exactly one label site.
#[test]
fn fuzz_regressions_stay_fixed() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test_data");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if !path.file_name().unwrap().to_string_lossy().contains("bad") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        let format = hegui_label::Format::sniff(&data[..data.len().min(64)], Some(&path)).unwrap();
        exercise(format, &data);
        seen += 1;
    }
    assert!(seen >= 1);
}

//! `hegui guard train|eval`: train the hashed n-gram classifier on a labelled CSV, and measure a
//! model (the shipped one by default) on one.
//!
//! CSV input: a header row with a `text` and a `label` column (1 positive, 0 negative), found by
//! name; COLD's files (`,split,topic,label,TEXT`) work as they are.

use anyhow::{Context, Result};
use hegui_classifier::{
    ClassWeight, Metrics, Model, Progress, Quantisation, TrainParams, Weighting,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// `hegui guard`.
#[derive(clap::Args, Debug)]
pub struct GuardArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: GuardCommand,
}

/// The `hegui guard` subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum GuardCommand {
    /// Train a classifier model from a labelled CSV (defaults reproduce the shipped model).
    Train(TrainArgs),
    /// Print precision, recall and F1 of the positive class of a model on a labelled CSV.
    Eval(EvalArgs),
}

/// `hegui guard train`. Flags left out take the shipped model's settings.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Labelled training CSV (`text` and `label` columns).
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Where to write the model file.
    #[arg(long, value_name = "MODEL")]
    pub out: PathBuf,
    /// Also evaluate the trained model on this labelled CSV and print the metrics.
    #[arg(long, value_name = "CSV")]
    pub dev: Option<PathBuf>,
    /// Hash buckets as a power of two (8..=24) [default: 20].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(8..=24))]
    pub bits: Option<u8>,
    /// Shortest character n-gram [default: 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub ngram_min: Option<u8>,
    /// Longest character n-gram [default: 3].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=8))]
    pub ngram_max: Option<u8>,
    /// Feature values: binary, log-count or count [default: count].
    #[arg(long, value_name = "KIND", value_parser = parse_weighting)]
    pub weighting: Option<Weighting>,
    /// Passes over the data [default: 10].
    #[arg(long, value_name = "N")]
    pub epochs: Option<u32>,
    /// AdaGrad learning rate [default: 0.2].
    #[arg(long, value_name = "RATE")]
    pub learning_rate: Option<f32>,
    /// L2 penalty [default: 1e-5].
    #[arg(long, value_name = "LAMBDA")]
    pub l2: Option<f32>,
    /// Class weights: balanced, uniform, or the weight of a positive sample [default: balanced].
    #[arg(long, value_name = "WEIGHT", value_parser = parse_class_weight)]
    pub class_weight: Option<ClassWeight>,
    /// Fraction of the training data held out to choose the threshold [default: 0.1].
    #[arg(long, value_name = "FRACTION")]
    pub holdout: Option<f32>,
    /// Keep the model fitted without the held-out part instead of refitting on all data.
    #[arg(long)]
    pub no_refit: bool,
    /// Seed of the shuffles.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Weight storage: i8 or i16 [default: i8].
    #[arg(long, value_name = "TYPE", value_parser = ["i8", "i16"])]
    pub quantisation: Option<String>,
}

/// `hegui guard eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Model file; the shipped COLD offensive-language model when omitted.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<PathBuf>,
    /// Labelled CSV to evaluate on (`text` and `label` columns).
    #[arg(long, value_name = "CSV")]
    pub data: PathBuf,
    /// Decision threshold instead of the model's own.
    #[arg(long, value_name = "P")]
    pub threshold: Option<f32>,
    /// Print one JSON object instead of the text line.
    #[arg(long)]
    pub json: bool,
}

/// Runs `hegui guard …`.
pub fn run(args: GuardArgs) -> Result<ExitCode> {
    match args.command {
        GuardCommand::Train(a) => train(a),
        GuardCommand::Eval(a) => eval(a),
    }
}

fn parse_weighting(s: &str) -> Result<Weighting, String> {
    s.parse()
}

fn parse_class_weight(s: &str) -> Result<ClassWeight, String> {
    match s {
        "balanced" => Ok(ClassWeight::Balanced),
        "uniform" | "none" => Ok(ClassWeight::Uniform),
        w => match w.parse::<f32>() {
            Ok(x) if x.is_finite() && x > 0.0 => Ok(ClassWeight::Positive(x)),
            _ => Err(format!(
                "expected balanced, uniform or a positive number, got {w:?}"
            )),
        },
    }
}

fn read_csv(path: &Path) -> Result<Vec<(String, bool)>> {
    let samples = hegui_classifier::read_labelled_csv(path)
        .with_context(|| format!("labelled CSV {}", path.display()))?;
    let pos = samples.iter().filter(|(_, y)| *y).count();
    eprintln!(
        "{}: {} samples ({pos} positive, {} negative)",
        path.display(),
        samples.len(),
        samples.len() - pos
    );
    Ok(samples)
}

fn train(a: TrainArgs) -> Result<ExitCode> {
    let mut p = TrainParams::default();
    if let Some(b) = a.bits {
        p.features.bucket_bits = b;
    }
    if let Some(n) = a.ngram_min {
        p.features.ngram_min = n;
    }
    if let Some(n) = a.ngram_max {
        p.features.ngram_max = n;
    }
    anyhow::ensure!(
        p.features.ngram_min <= p.features.ngram_max,
        "--ngram-min {} is larger than --ngram-max {}",
        p.features.ngram_min,
        p.features.ngram_max
    );
    if let Some(w) = a.weighting {
        p.features.weighting = w;
    }
    if let Some(e) = a.epochs {
        p.epochs = e;
    }
    if let Some(r) = a.learning_rate {
        anyhow::ensure!(r.is_finite() && r > 0.0, "--learning-rate must be > 0");
        p.learning_rate = r;
    }
    if let Some(l) = a.l2 {
        anyhow::ensure!(l.is_finite() && l >= 0.0, "--l2 must be >= 0");
        p.l2 = l;
    }
    if let Some(c) = a.class_weight {
        p.class_weight = c;
    }
    if let Some(h) = a.holdout {
        anyhow::ensure!((0.0..=0.9).contains(&h), "--holdout must be in 0..=0.9");
        p.holdout = h;
    }
    if a.no_refit {
        p.refit = false;
    }
    if let Some(s) = a.seed {
        p.seed = s;
    }
    if let Some(q) = a.quantisation.as_deref() {
        p.quantisation = if q == "i16" {
            Quantisation::I16
        } else {
            Quantisation::I8
        };
    }

    let samples = read_csv(&a.data)?;
    anyhow::ensure!(!samples.is_empty(), "{} has no samples", a.data.display());
    let dev = a.dev.as_deref().map(read_csv).transpose()?;
    let f = &p.features;
    eprintln!(
        "training: 2^{} buckets, {}..={}-grams, {} weighting, {} epochs, lr {}, l2 {}, {} classes",
        f.bucket_bits,
        f.ngram_min,
        f.ngram_max,
        f.weighting.as_str(),
        p.epochs,
        p.learning_rate,
        p.l2,
        match p.class_weight {
            ClassWeight::Uniform => "uniform".to_string(),
            ClassWeight::Positive(w) => format!("positive weight {w}"),
            _ => "balanced".to_string(),
        }
    );
    let started = Instant::now();
    let model = hegui_classifier::train_with_progress(&samples, &p, |event| match event {
        Progress::Features { train, holdout } => {
            eprintln!("features extracted: {train} to fit, {holdout} held out for the threshold");
        }
        Progress::Epoch {
            refit,
            epoch,
            epochs,
            loss,
        } => {
            let phase = if refit { "refit on all" } else { "fit" };
            eprintln!("{phase}: epoch {epoch}/{epochs}  loss {loss:.4}");
        }
        Progress::Threshold(m) => eprintln!("held-out: {m}"),
        _ => {}
    });
    let secs = started.elapsed().as_secs_f64();
    let bytes = model.to_bytes();
    write_atomic(&a.out, &bytes)?;
    eprintln!(
        "wrote {} ({} bytes, threshold {:.3}) after {secs:.1} s",
        a.out.display(),
        bytes.len(),
        model.threshold()
    );
    if let Some(dev) = dev {
        let m = hegui_classifier::evaluate(&model, &dev);
        let mut out = std::io::stdout().lock();
        writeln!(out, "{m}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    tmp.write_all(bytes)
        .and_then(|()| tmp.as_file().sync_all())
        .with_context(|| format!("writing {}", path.display()))?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn eval(a: EvalArgs) -> Result<ExitCode> {
    let loaded;
    let model: &Model = match &a.model {
        Some(p) => {
            let bytes = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            loaded = Model::from_bytes(&bytes)
                .with_context(|| format!("loading model {}", p.display()))?;
            &loaded
        }
        None => hegui_classifier::default_model(),
    };
    let samples = read_csv(&a.data)?;
    let threshold = match a.threshold {
        Some(t) => {
            anyhow::ensure!((0.0..=1.0).contains(&t), "--threshold must be in 0..=1");
            t
        }
        None => model.threshold(),
    };
    let started = Instant::now();
    let m: Metrics = hegui_classifier::evaluate_at(model, &samples, threshold);
    let elapsed = started.elapsed();
    eprintln!(
        "scored {} texts in {:.1} ms ({:.2} µs each)",
        samples.len(),
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / samples.len().max(1) as f64
    );
    let mut out = std::io::stdout().lock();
    if a.json {
        writeln!(out, "{}", serde_json::to_string(&m)?)?;
    } else {
        writeln!(out, "{m}")?;
    }
    Ok(ExitCode::SUCCESS)
}

//! `hegui scan`: one text per line in, one decision per line out.

use crate::flags::ScanArgs;
use anyhow::{Context as _, Result};
use hegui_guard::{Audience, Classifier, Context, FeatureLibrary, GuardConfig, Matcher, Scope};
use std::io::{BufRead, BufWriter, Write};
use std::process::ExitCode;
use std::sync::Arc;

/// The library the CLI checks against: `--library PATH` or the shipped default.
pub fn load_library(path: Option<&std::path::Path>) -> Result<FeatureLibrary> {
    match path {
        Some(p) => {
            FeatureLibrary::load(p).with_context(|| format!("loading library {}", p.display()))
        }
        None => Ok(hegui_guard::default_library().clone()),
    }
}

/// The classifier: `--model PATH` or the shipped COLD model.
pub fn load_classifier(path: Option<&std::path::Path>) -> Result<Arc<dyn Classifier>> {
    Ok(match path {
        Some(p) => {
            let bytes =
                std::fs::read(p).with_context(|| format!("reading model {}", p.display()))?;
            let model = hegui_classifier::Model::from_bytes(&bytes)
                .with_context(|| format!("loading model {}", p.display()))?;
            Arc::new(hegui_classifier::NgramClassifier::new(
                model,
                "classifier.model",
                "A2.9",
            ))
        }
        None => Arc::new(hegui_classifier::NgramClassifier::cold_offensive()),
    })
}

fn load_config(path: Option<&std::path::Path>) -> Result<GuardConfig> {
    match path {
        None => Ok(GuardConfig::default()),
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", p.display()))
        }
    }
}

/// Runs `hegui scan`.
pub fn run(args: ScanArgs) -> Result<ExitCode> {
    let library = load_library(args.library.as_deref())?;
    let config = load_config(args.config.as_deref())?;
    let classifier = load_classifier(args.model.as_deref())?;
    let models = hegui_guard::Models {
        offensive: Some(classifier),
        crisis: Some(Arc::new(hegui_classifier::NgramClassifier::crisis())),
    };
    let matcher = models.attach(
        Matcher::build(&library).context("compiling the library")?,
        &config,
    );
    let ctx = Context {
        scope: match args.scope.as_str() {
            "input" => Scope::Input,
            "output" => Scope::Output,
            _ => Scope::Both,
        },
        audience: match args.audience.as_str() {
            "minor" => Audience::Minor,
            "elderly" => Audience::Elderly,
            _ => Audience::All,
        },
        exit_requested: args.after_goodbye,
    };
    let input: Box<dyn BufRead> = match args.input.as_deref() {
        None => Box::new(std::io::stdin().lock()),
        Some(p) if p.as_os_str() == "-" => Box::new(std::io::stdin().lock()),
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut buf = Vec::new();
    let mut input = input;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf).context("reading input")? == 0 {
            break;
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        // A line that is not UTF-8 is still checked; invalid bytes become U+FFFD.
        let line = String::from_utf8_lossy(&buf);
        let d = matcher.check(&line, &ctx);
        if args.json {
            serde_json::to_writer(&mut out, &d).context("writing JSON")?;
            writeln!(out)?;
        } else {
            let found: Vec<String> = d
                .findings
                .iter()
                .map(|f| format!("{}:{}[{}..{}]", f.category, f.text, f.start, f.end))
                .collect();
            writeln!(
                out,
                "{}\t{}\t{}",
                d.action.as_str(),
                found.join(" "),
                d.masked
            )?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

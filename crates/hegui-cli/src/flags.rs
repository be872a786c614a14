//! Command-line flags. The subcommands and their output are a contract other tools rely on.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// hegui: compliance for AI services under China's AI rules.
#[derive(Debug, Parser)]
#[command(name = "hegui", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write an SM2 key pair (PEM) for signing labels.
    Keygen(KeygenArgs),
    /// Write the GB 45438 implicit label into generated files (DS-16).
    Label(LabelArgs),
    /// Report whether files carry a conforming, untampered label (one JSON object per file).
    Inspect(InspectArgs),
    /// Add a platform's propagation members to files' labels (Labelling Measures art. 6).
    Propagate(PropagateArgs),
    /// Check texts (one per line) against the feature library, detectors and classifier (DS-10).
    Scan(ScanArgs),
    /// Manage a feature library (特征库): import, lint, stats, diff, approve, activate, retire.
    Library(LibraryArgs),
    /// Train or evaluate the text classifier.
    Guard(crate::cmd::guard::GuardArgs),
    /// Run the compliance gateway: an OpenAI-compatible proxy (DS-9, DS-10, DS-16, GAI-9 …).
    Serve(crate::cmd::serve::ServeArgs),
    /// Print the commented default gateway configuration.
    Config(crate::cmd::serve::ConfigCmd),
    /// Register applications (tenants) of the gateway.
    App(crate::cmd::serve::AppCmd),
    /// Verify or purge the hash-chained audit log.
    Audit(crate::cmd::serve::AuditCmd),
    /// Make admin API tokens.
    Admin(crate::cmd::serve::AdminCmd),
}

/// `hegui keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory for `hegui-sm2.key` (private, mode 0600) and `hegui-sm2.pub`.
    #[arg(long)]
    pub out: PathBuf,
}

/// Where results go.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct OutputArgs {
    /// Write labelled copies into this directory (mirroring directory arguments).
    #[arg(short = 'o', long = "out-dir", value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Replace the input files (atomically: temp file, fsync, rename).
    #[arg(long)]
    pub in_place: bool,
}

/// `hegui label`.
#[derive(Debug, Args)]
pub struct LabelArgs {
    /// The producer's 27-character provider code (TC260-PG-20252A, service digit 1).
    #[arg(long, env = "HEGUI_PRODUCER")]
    pub producer: String,
    /// The content ID for a single file; a unique one is generated per file when omitted.
    #[arg(long)]
    pub produce_id: Option<String>,
    /// The Annex E Label value: 1 (AI-generated), 2 (possibly), 3 (suspected).
    #[arg(long, default_value = "1", value_parser = ["1", "2", "3"])]
    pub label: String,
    /// SM2 private key (PKCS#8 PEM) to sign ReservedCode1 (DS-18).
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub explicit: ExplicitArgs,
    #[command(flatten)]
    pub c2pa: C2paArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Files or directories (recursed).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// The explicit (visible or audible) label, DS-17.
#[derive(Debug, Args)]
pub struct ExplicitArgs {
    /// Also add the explicit label: text, image, audio, video, or auto (chosen by format).
    #[arg(long, value_name = "KIND", num_args = 0..=1, default_missing_value = "auto",
          value_parser = ["auto", "text", "image", "audio", "video"])]
    pub explicit: Option<String>,
    /// Corner or edge for images and video.
    #[arg(long, default_value = "bottom-right", value_parser = [
        "top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right"])]
    pub position: String,
    /// The wording; it must contain 人工智能 or AI, and 生成 or 合成.
    #[arg(long, value_name = "T", default_value = "AI生成")]
    pub label_text: String,
    /// Where the audio rhythm cue goes.
    #[arg(long, default_value = "start", value_parser = ["start", "end", "both"])]
    pub audio_at: String,
    /// Where the text label line goes.
    #[arg(long, default_value = "suffix", value_parser = ["prefix", "suffix"])]
    pub text_at: String,
}

/// C2PA co-signing beside the GB 45438 label.
#[derive(Debug, Args)]
pub struct C2paArgs {
    /// Sign a C2PA manifest after the GB label (needs a build with the `c2pa` feature).
    #[arg(long, requires_all = ["c2pa_cert", "c2pa_key"])]
    pub c2pa: bool,
    /// C2PA signing certificate chain (PEM).
    #[arg(long, value_name = "PEM")]
    pub c2pa_cert: Option<PathBuf>,
    /// C2PA private key (PEM).
    #[arg(long, value_name = "PEM")]
    pub c2pa_key: Option<PathBuf>,
}

/// `hegui inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print one JSON object per file.
    #[arg(long)]
    pub json: bool,
    /// The signer's SM2 public key (SPKI PEM): signatures must come from it.
    #[arg(long, value_name = "PEM")]
    pub pubkey: Option<PathBuf>,
    /// Files or directories (recursed).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `hegui propagate`.
#[derive(Debug, Args)]
pub struct PropagateArgs {
    /// The platform's 27-character provider code (service digit 2).
    #[arg(long, env = "HEGUI_PROPAGATOR")]
    pub propagator: String,
    /// The platform's content ID for a single file; generated per file when omitted.
    #[arg(long)]
    pub propagate_id: Option<String>,
    /// Files without a label were declared AI-generated by the user: write Label 2 (可能为).
    #[arg(long, conflicts_with = "detected")]
    pub declared: bool,
    /// Files without a label were flagged by a detector: write Label 3 (疑似).
    #[arg(long)]
    pub detected: bool,
    /// SM2 private key (PKCS#8 PEM) to sign ReservedCode2.
    #[arg(long, value_name = "PEM")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub c2pa: C2paArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Files or directories (recursed).
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
}

/// `hegui scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Feature library file; the shipped default library when omitted.
    #[arg(long, value_name = "PATH", env = "HEGUI_LIBRARY")]
    pub library: Option<PathBuf>,
    /// Print one JSON object per line: {"action","findings":[…],"masked"}.
    #[arg(long)]
    pub json: bool,
    /// Which side of the model the texts are on (entries are scoped to input, output or both).
    #[arg(long, default_value = "both", value_parser = ["input", "output", "both"])]
    pub scope: String,
    /// The user's audience: stricter entries apply to minors or the elderly.
    #[arg(long, default_value = "all", value_parser = ["all", "minor", "elderly"])]
    pub audience: String,
    /// The user has said goodbye: check model output for retention manipulation (C6).
    #[arg(long)]
    pub after_goodbye: bool,
    /// Classifier model file; the shipped COLD model when omitted.
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Guard configuration (TOML: `[classifier] flag = 0.5, review = 0.9, block = …`).
    #[arg(long, value_name = "TOML")]
    pub config: Option<PathBuf>,
    /// Input file with one text per line; `-` or omitted for standard input.
    pub input: Option<PathBuf>,
}

/// `hegui library`.
#[derive(Debug, Args)]
pub struct LibraryArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: LibraryCommand,
}

/// Who acts (recorded in the entries).
#[derive(Debug, Args)]
pub struct ActorArgs {
    /// Your name, recorded as author or actor; defaults to $USER.
    #[arg(long = "by", value_name = "NAME", env = "HEGUI_ACTOR")]
    pub by: Option<String>,
}

/// `hegui library …` subcommands.
#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Create a library file, empty or as a copy of the shipped default library.
    Init {
        /// The library file to create.
        #[arg(long, value_name = "PATH")]
        library: PathBuf,
        /// Start from the shipped default library.
        #[arg(long)]
        from_default: bool,
    },
    /// Create or extend a library from a term list (one term per line; `#!` directives).
    Import {
        /// The library file (created when missing).
        #[arg(long, value_name = "PATH")]
        library: PathBuf,
        /// Taxonomy id of the terms, e.g. A1.6.
        #[arg(long, value_name = "ID")]
        category: String,
        /// Record the entries as approved by NAME and active (NAME must differ from the author).
        #[arg(long, value_name = "NAME")]
        approved_by: Option<String>,
        /// Import the lines as exemptions (allow-list) instead of rules.
        #[arg(long)]
        exemptions: bool,
        /// Action for the terms (default: the category's).
        #[arg(long, value_parser = ["block", "review", "flag", "mask", "refute"])]
        action: Option<String>,
        /// Scope of the terms.
        #[arg(long, value_parser = ["input", "output", "both"])]
        scope: Option<String>,
        /// Audience of the terms.
        #[arg(long, value_parser = ["all", "minor", "elderly"])]
        audience: Option<String>,
        /// Also match pinyin spellings and initials.
        #[arg(long)]
        pinyin: bool,
        /// Why the terms are admitted (入库理由).
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        actor: ActorArgs,
        /// The term list.
        file: PathBuf,
    },
    /// Check a library for problems (exit 1 on errors).
    Lint {
        /// The library file; the shipped default when omitted.
        #[arg(long, value_name = "PATH")]
        library: Option<PathBuf>,
    },
    /// Coverage against TC260-003 §8.1: total terms and terms per A.1/A.2 risk.
    Stats {
        /// The library file; the shipped default when omitted.
        #[arg(long, value_name = "PATH")]
        library: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Differences between two library files, or two snapshots of one library.
    Diff {
        /// The library whose snapshots to compare (with --from/--to).
        #[arg(long, value_name = "PATH")]
        library: Option<PathBuf>,
        /// Older snapshot version.
        #[arg(long, requires = "library")]
        from: Option<u64>,
        /// Newer snapshot version (default: the current file).
        #[arg(long, requires = "from")]
        to: Option<u64>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Two library files: OLD NEW.
        #[arg(num_args = 0..=2)]
        files: Vec<PathBuf>,
    },
    /// Approve draft entries (the approver must not be the author).
    Approve {
        /// The library file.
        #[arg(long, value_name = "PATH")]
        library: PathBuf,
        /// Every draft entry.
        #[arg(long, conflicts_with = "ids")]
        all_drafts: bool,
        #[command(flatten)]
        actor: ActorArgs,
        /// Entry ids.
        ids: Vec<String>,
    },
    /// Put approved entries into service.
    Activate {
        /// The library file.
        #[arg(long, value_name = "PATH")]
        library: PathBuf,
        /// Every approved entry.
        #[arg(long, conflicts_with = "ids")]
        all_approved: bool,
        #[command(flatten)]
        actor: ActorArgs,
        /// Entry ids.
        ids: Vec<String>,
    },
    /// Withdraw entries (kept for the record, no longer matched).
    Retire {
        /// The library file.
        #[arg(long, value_name = "PATH")]
        library: PathBuf,
        /// Why.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        actor: ActorArgs,
        /// Entry ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
}

//! Gateway configuration: a TOML file, then `HEGUI_*` variables and flags on top (the CLI merges).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Everything `hegui serve` needs. Every field has a working default, so an empty file (or none)
/// starts a gateway with the embedded database and the built-in demo model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub listen: String,
    /// Directory for the embedded database, the content key and the label key.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`; empty means `sqlite://DATA_DIR/hegui.db`.
    pub database_url: String,
    /// Default upstream base URL (`…/v1`); empty serves the built-in `hegui-demo` model.
    pub upstream: String,
    /// Bearer key for the default upstream.
    pub upstream_key: String,
    /// Seconds before an upstream call (or a silent stream) is abandoned with 504.
    pub upstream_timeout_secs: u64,
    /// Longest a streamed reply may run, in seconds, however often the upstream sends something.
    pub max_stream_secs: u64,
    /// Feature library (特征库) file; empty uses the built-in library. Reloaded when it changes.
    pub library: Option<PathBuf>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Seconds between checks of the library file for changes (hot reload).
    pub reload_poll_secs: u64,
    /// Content key (64 hex digits) sealing message text at rest; empty reads or creates
    /// `DATA_DIR/content.key`.
    pub content_key: String,
    /// Moderation switches.
    pub moderation: Moderation,
    /// Labels.
    pub labels: Labels,
    /// The disposal ladder.
    pub disposal: DisposalConfig,
    /// Audit retention.
    pub audit: AuditConfig,
    /// Admin API tokens.
    pub admin: Vec<AdminToken>,
    /// Companion duties (AIAI): defaults for applications whose `service_kind` is `companion`.
    pub companion: crate::companion::CompanionConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("hegui-data"),
            database_url: String::new(),
            upstream: String::new(),
            upstream_key: String::new(),
            upstream_timeout_secs: 60,
            max_stream_secs: 600,
            library: None,
            max_body_bytes: 1 << 20,
            reload_poll_secs: 2,
            content_key: String::new(),
            moderation: Moderation::default(),
            labels: Labels::default(),
            disposal: DisposalConfig::default(),
            audit: AuditConfig::default(),
            admin: Vec::new(),
            companion: Default::default(),
        }
    }
}

/// Which checks run (DS-10). Switching one off is recorded in every audit record as `unscanned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Moderation {
    /// Check the user's input before the upstream call.
    pub input: bool,
    /// Check the model's output as it streams.
    pub output: bool,
}

impl Default for Moderation {
    fn default() -> Self {
        Self {
            input: true,
            output: true,
        }
    }
}

/// How generated content is labelled (DS-16/17, GAI-16).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Labels {
    /// Provider code written as `ContentProducer` into implicit labels (service digit 1).
    pub producer: String,
    /// Explicit label on chat text: `ui` (a persistent-UI flag in the response), `prefix` or
    /// `suffix` (text inside the content, for exported text), or `none`.
    pub chat: String,
    /// The explicit label wording.
    pub text: String,
    /// Also render a visible label onto generated images and a rhythm cue into audio.
    pub explicit_media: bool,
}

impl Default for Labels {
    fn default() -> Self {
        Self {
            producer: "001191440300708461136T1XGW3".into(),
            chat: "ui".into(),
            text: "AI生成".into(),
            explicit_media: true,
        }
    }
}

/// Thresholds of the disposal ladder, in confirmed violations (DS-10, GAI-19, DVH-15).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DisposalConfig {
    /// Violations that earn a warning (警示).
    pub warning: u32,
    /// Violations that restrict functions (限制功能).
    pub restriction: u32,
    /// Violations that suspend the account (暂停服务).
    pub suspension: u32,
    /// Length of a suspension, in hours.
    pub suspension_hours: u64,
    /// Violations that close the account (关闭账号).
    pub closure: u32,
}

impl Default for DisposalConfig {
    fn default() -> Self {
        Self {
            warning: 1,
            restriction: 3,
            suspension: 5,
            suspension_hours: 24,
            closure: 10,
        }
    }
}

/// Audit retention (Cybersecurity Law: network logs ≥ 6 months).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// Days records are kept; at least 180.
    pub retention_days: u32,
    /// Hours between purge runs.
    pub purge_every_hours: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: 180,
            purge_every_hours: 24,
        }
    }
}

/// One admin API token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Who holds it (recorded in the audit log).
    pub name: String,
    /// `admin`, `reviewer` or `auditor`.
    pub role: String,
    /// SHA-256 (hex) of the token. Generate one with `hegui admin token`.
    pub token_sha256: String,
}

/// Minimum retention the law allows.
pub const MIN_RETENTION_DAYS: u32 = 180;

/// Why a configuration is refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML is malformed or names an unknown setting.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid setting {key}: {reason}")]
    Invalid {
        /// The setting.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Reads a TOML file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks ranges the types cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.audit.retention_days < MIN_RETENTION_DAYS {
            return Err(ConfigError::Invalid {
                key: "audit.retention_days",
                reason: format!(
                    "{} is below the legal minimum of {MIN_RETENTION_DAYS} days (network logs ≥ 6 months)",
                    self.audit.retention_days
                ),
            });
        }
        if !matches!(
            self.labels.chat.as_str(),
            "ui" | "prefix" | "suffix" | "none"
        ) {
            return Err(ConfigError::Invalid {
                key: "labels.chat",
                reason: format!(
                    "{:?}: expected ui, prefix, suffix or none",
                    self.labels.chat
                ),
            });
        }
        let d = &self.disposal;
        if !(d.warning <= d.restriction
            && d.restriction <= d.suspension
            && d.suspension <= d.closure)
        {
            return Err(ConfigError::Invalid {
                key: "disposal",
                reason: "thresholds must rise: warning ≤ restriction ≤ suspension ≤ closure".into(),
            });
        }
        for t in &self.admin {
            if !matches!(t.role.as_str(), "admin" | "reviewer" | "auditor") {
                return Err(ConfigError::Invalid {
                    key: "admin.role",
                    reason: format!("{:?}: expected admin, reviewer or auditor", t.role),
                });
            }
        }
        Ok(())
    }

    /// The database URL, defaulting to the embedded SQLite file.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("hegui.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The commented default configuration `hegui config example` prints.
    pub fn example() -> &'static str {
        include_str!("../config.example.toml")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses_to_the_defaults() {
        let c = Config::from_toml(Config::example()).unwrap();
        assert_eq!(c, Config::default());
        c.validate().unwrap();
    }

    #[test]
    fn ds_16_retention_below_six_months_is_refused() {
        let mut c = Config::default();
        c.audit.retention_days = 30;
        assert!(c.validate().is_err());
    }

    #[test]
    fn unknown_settings_are_refused() {
        assert!(Config::from_toml("listne = \"x\"").is_err());
    }
}

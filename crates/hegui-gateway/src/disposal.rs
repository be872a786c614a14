//! The disposal ladder (处置: 警示 → 限制功能 → 暂停服务 → 关闭账号; DS-10, GAI-19, DVH-15).
//!
//! A confirmed violation is an input that a library rule blocked (a rule, not a classifier
//! guess: the ladder punishes only what a reviewed rule says). Each one is counted in the store;
//! crossing a configured threshold moves the user up the ladder. An admin may set any step by
//! hand, which the ladder never lowers.

use crate::config::DisposalConfig;
use crate::error::{ApiError, ErrorCode};
use hegui_core::UnixMillis;
use hegui_store::{Disposal, DisposalLevel, User};

/// What a user is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Generate content for themselves (chat, media).
    Generate,
    /// Generate media (images, audio): restricted users may not.
    Media,
    /// Publish or share what is generated.
    Publish,
}

/// The step `violations` earns under `cfg`.
pub fn level_for(violations: u32, cfg: &DisposalConfig) -> DisposalLevel {
    if violations >= cfg.closure {
        DisposalLevel::Closed
    } else if violations >= cfg.suspension {
        DisposalLevel::Suspended
    } else if violations >= cfg.restriction {
        DisposalLevel::Restricted
    } else if violations >= cfg.warning {
        DisposalLevel::Warning
    } else {
        DisposalLevel::None
    }
}

/// The new disposal after a violation count, if it moves the user up the ladder.
pub fn escalate(
    current: &Disposal,
    violations: u32,
    cfg: &DisposalConfig,
    now: UnixMillis,
) -> Option<Disposal> {
    let earned = level_for(violations, cfg);
    if earned <= current.level {
        return None;
    }
    Some(Disposal {
        level: earned,
        reason: Some("violations_threshold".into()),
        until: (earned == DisposalLevel::Suspended)
            .then(|| now + cfg.suspension_hours as i64 * 3_600_000),
        by: Some("ladder".into()),
        at: Some(now),
    })
}

/// The effective level now: a suspension past its end counts as a warning.
pub fn effective(d: &Disposal, now: UnixMillis) -> DisposalLevel {
    match (d.level, d.until) {
        (DisposalLevel::Suspended, Some(until)) if until <= now => DisposalLevel::Warning,
        (l, _) => l,
    }
}

/// Refuses what the user's disposal forbids, with a reason code the client can show.
pub fn check(user: &User, purpose: Purpose, now: UnixMillis) -> Result<(), ApiError> {
    let d = &user.disposal;
    let reason = d.reason.as_deref().unwrap_or("unspecified");
    match effective(d, now) {
        DisposalLevel::Closed => Err(ApiError::new(
            ErrorCode::AccountClosed,
            format!("this account is closed (reason: {reason})"),
        )),
        DisposalLevel::Suspended => Err(ApiError::new(
            ErrorCode::AccountSuspended,
            match d.until {
                Some(u) => format!(
                    "this account is suspended until {} (reason: {reason})",
                    crate::chat::rfc3339(u)
                ),
                None => format!("this account is suspended (reason: {reason})"),
            },
        )),
        DisposalLevel::Restricted if purpose != Purpose::Generate => Err(ApiError::new(
            ErrorCode::FunctionRestricted,
            format!("this function is restricted for this account (reason: {reason})"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds_10_ladder_rises_with_violations_and_never_falls() {
        let cfg = DisposalConfig::default();
        let mut d = Disposal::default();
        let mut seen = Vec::new();
        for v in 1..=10 {
            if let Some(next) = escalate(&d, v, &cfg, 0) {
                seen.push((v, next.level));
                d = next;
            }
        }
        assert_eq!(
            seen,
            vec![
                (1, DisposalLevel::Warning),
                (3, DisposalLevel::Restricted),
                (5, DisposalLevel::Suspended),
                (10, DisposalLevel::Closed)
            ]
        );
        let manual = Disposal {
            level: DisposalLevel::Closed,
            ..Disposal::default()
        };
        assert!(escalate(&manual, 4, &cfg, 0).is_none());
    }

    #[test]
    fn gai_19_suspension_ends_on_time() {
        let d = escalate(&Disposal::default(), 5, &DisposalConfig::default(), 0).unwrap();
        assert_eq!(effective(&d, 1), DisposalLevel::Suspended);
        assert_eq!(effective(&d, 24 * 3_600_000), DisposalLevel::Warning);
    }
}

//! The persistent interface label of chat and voice interfaces (GB 45438, interaction-scene
//! interface; acceptance check E-UI1): a small JSON descriptor the gateway attaches to responses
//! so that a client shows 「AI生成」 continuously, near the content or at the top, bottom or
//! background of the interface.
//!
//! The descriptor is data, validated here once; the gateway only serialises it. A descriptor that
//! is not persistent, or whose text lacks an element, is refused rather than shown, because a
//! label that can disappear does not meet "持续显示".

use super::{ExplicitError, LabelText};

/// Where the interface shows the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfacePosition {
    /// Next to each generated message.
    NearContent,
    /// Pinned at the top of the interface.
    Top,
    /// Pinned at the bottom of the interface.
    Bottom,
    /// In the interface background (a watermark).
    Background,
}

/// How long the label stays visible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Persistence {
    /// Shown at all times during the session (the only conforming value).
    Always,
    /// Shown once, then hidden (not conforming; accepted by the parser so it can be refused with
    /// a reason).
    Once,
    /// Shown for a while, then hidden (not conforming).
    Timed,
}

/// The interface label descriptor, as sent to clients.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InterfaceLabel {
    /// The wording, with both elements.
    pub text: String,
    /// Where it is shown.
    pub position: InterfacePosition,
    /// How long it stays.
    pub persistence: Persistence,
}

impl Default for InterfaceLabel {
    fn default() -> Self {
        Self {
            text: LabelText::DEFAULT_SHORT.to_string(),
            position: InterfacePosition::NearContent,
            persistence: Persistence::Always,
        }
    }
}

impl InterfaceLabel {
    /// A conforming descriptor with `text` at `position`.
    pub fn new(text: &LabelText, position: InterfacePosition) -> Self {
        Self {
            text: text.as_str().to_string(),
            position,
            persistence: Persistence::Always,
        }
    }

    /// Checks E-UI1: both wording elements and continuous display.
    pub fn validate(&self) -> Result<(), ExplicitError> {
        LabelText::new(self.text.clone())?;
        if self.persistence != Persistence::Always {
            return Err(ExplicitError::Invalid(format!(
                "interface label persistence {:?}: GB 45438 asks for continuous display (always)",
                self.persistence
            )));
        }
        Ok(())
    }

    /// Parses and validates a JSON descriptor (e.g. from an application's configuration).
    pub fn from_json(json: &str) -> Result<Self, ExplicitError> {
        let d: Self = serde_json::from_str(json)
            .map_err(|e| ExplicitError::Invalid(format!("interface label descriptor: {e}")))?;
        d.validate()?;
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds17_e_ui1_default_is_persistent_and_valid() {
        let d = InterfaceLabel::default();
        d.validate().unwrap();
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(
            json,
            r#"{"text":"AI生成","position":"near_content","persistence":"always"}"#
        );
        assert_eq!(InterfaceLabel::from_json(&json).unwrap(), d);
    }

    #[test]
    fn ds17_e_ui1_refuses_transient_or_incomplete_labels() {
        let e =
            InterfaceLabel::from_json(r#"{"text":"AI生成","position":"top","persistence":"once"}"#)
                .unwrap_err();
        assert!(e.to_string().contains("continuous"), "{e}");
        let e = InterfaceLabel::from_json(
            r#"{"text":"AI助手为您服务","position":"bottom","persistence":"always"}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("generation"), "{e}");
        assert!(
            InterfaceLabel::from_json(
                r#"{"text":"AI生成","position":"popup","persistence":"always"}"#
            )
            .is_err()
        );
        let ok = InterfaceLabel::new(
            &LabelText::new("人工智能生成").unwrap(),
            InterfacePosition::Background,
        );
        ok.validate().unwrap();
    }
}

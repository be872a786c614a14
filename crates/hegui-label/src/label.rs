//! The GB 45438 Annex E implicit label (隐式标识): seven string fields in a fixed order.
//!
//! The writer is strict (Annex E c: `Label` ∈ {"1","2","3"}; j: values drawn from the printable
//! ASCII set without space, `"` and `\`, with `\"` as the only escape). The reader is tolerant:
//! real files carry the wrapped form `{"AIGC":{…}}` or the bare object, numbers instead of
//! strings, names instead of codes. It returns what it understood plus warnings and never panics;
//! only input that is not JSON at all, or repeats a key, is refused.

use crate::provider::{ProviderCode, ProviderCodeError};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::fmt;

/// The seven Annex E keys in the standard's order.
pub const FIELD_NAMES: [&str; 7] = [
    "Label",
    "ContentProducer",
    "ProduceID",
    "ReservedCode1",
    "ContentPropagator",
    "PropagateID",
    "ReservedCode2",
];

/// The implicit metadata label of GB 45438-2025 Annex E.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImplicitLabel {
    /// 生成合成标签要素: "1" is AIGC, "2" possibly, "3" suspected.
    #[serde(rename = "Label")]
    pub label: String,
    /// 生成合成服务提供者要素: the producer's provider code.
    #[serde(rename = "ContentProducer")]
    pub content_producer: String,
    /// 内容制作编号要素: the producer's unique ID for this content.
    #[serde(rename = "ProduceID")]
    pub produce_id: String,
    /// 预留字段1: the producer's integrity protection (hegui: a `SecurityData` string).
    #[serde(rename = "ReservedCode1")]
    pub reserved_code1: String,
    /// 内容传播服务提供者要素: the propagating platform's provider code.
    #[serde(rename = "ContentPropagator")]
    pub content_propagator: String,
    /// 内容传播编号要素: the platform's unique ID for this content.
    #[serde(rename = "PropagateID")]
    pub propagate_id: String,
    /// 预留字段2: the platform's integrity protection.
    #[serde(rename = "ReservedCode2")]
    pub reserved_code2: String,
}

/// The Art. 6 class of a label, which decides the prompt a platform shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AigcClass {
    /// `Label` "1": the content is AI-generated (属于).
    Is,
    /// `Label` "2": the user declared it, so it may be AI-generated (可能为).
    Possibly,
    /// `Label` "3": a detector suspects it (疑似).
    Suspected,
}

impl AigcClass {
    /// The Annex E `Label` value.
    pub fn label_value(self) -> &'static str {
        match self {
            AigcClass::Is => "1",
            AigcClass::Possibly => "2",
            AigcClass::Suspected => "3",
        }
    }

    /// The prompt word of Labelling Measures art. 6: 属于 / 可能为 / 疑似.
    pub fn prompt(self) -> &'static str {
        match self {
            AigcClass::Is => "属于",
            AigcClass::Possibly => "可能为",
            AigcClass::Suspected => "疑似",
        }
    }

    /// The class for an Annex E `Label` value.
    pub fn from_label_value(v: &str) -> Option<Self> {
        match v {
            "1" => Some(AigcClass::Is),
            "2" => Some(AigcClass::Possibly),
            "3" => Some(AigcClass::Suspected),
            _ => None,
        }
    }
}

/// Why a label cannot be written, or what makes a read label non-compliant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LabelError {
    /// `Label` is not "1", "2" or "3" (Annex E c).
    #[error("Label must be \"1\", \"2\" or \"3\", got {0:?}")]
    LabelValue(String),
    /// A value has a character outside Annex E j).
    #[error(
        "{field} contains {ch:?} at character {at}, outside GB 45438 Annex E j) (printable ASCII without space, '\\' and unescaped '\"'){hint}"
    )]
    Charset {
        /// The field.
        field: &'static str,
        /// The offending character.
        ch: char,
        /// Its character index.
        at: usize,
        /// Advice for the common case of a Chinese name.
        hint: &'static str,
    },
    /// Neither a producer nor a propagator is named.
    #[error("a label needs a ContentProducer or a ContentPropagator")]
    NoProvider,
    /// A provider code is invalid.
    #[error("{field}: {source}")]
    ProviderCode {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        source: ProviderCodeError,
    },
    /// The text is not a label at all.
    #[error("label JSON is malformed: {0}")]
    Malformed(String),
}

/// A label read from a file, with what the tolerant reader had to forgive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedLabel {
    /// The fields (missing ones empty).
    pub label: ImplicitLabel,
    /// True for `{"AIGC":{…}}`, false for the bare object.
    pub wrapped: bool,
    /// Deviations that did not stop reading (numbers for strings, missing or unknown keys …).
    pub warnings: Vec<String>,
}

impl ImplicitLabel {
    /// The fields as (key, value) pairs in the standard's order.
    pub fn fields(&self) -> [(&'static str, &str); 7] {
        [
            (FIELD_NAMES[0], &self.label),
            (FIELD_NAMES[1], &self.content_producer),
            (FIELD_NAMES[2], &self.produce_id),
            (FIELD_NAMES[3], &self.reserved_code1),
            (FIELD_NAMES[4], &self.content_propagator),
            (FIELD_NAMES[5], &self.propagate_id),
            (FIELD_NAMES[6], &self.reserved_code2),
        ]
    }

    fn field_mut(&mut self, key: &str) -> Option<&mut String> {
        Some(match key {
            "Label" => &mut self.label,
            "ContentProducer" => &mut self.content_producer,
            "ProduceID" => &mut self.produce_id,
            "ReservedCode1" => &mut self.reserved_code1,
            "ContentPropagator" => &mut self.content_propagator,
            "PropagateID" => &mut self.propagate_id,
            "ReservedCode2" => &mut self.reserved_code2,
            _ => return None,
        })
    }

    /// The Art. 6 class, when `Label` is valid.
    pub fn class(&self) -> Option<AigcClass> {
        AigcClass::from_label_value(&self.label)
    }

    /// Checks the label against Annex E as the strict writer does. Provider fields that are not
    /// 27-character codes are accepted here (a warning, see [`ImplicitLabel::warnings`]) unless
    /// they break the charset; a 27-character code with a bad USCC check digit is an error.
    pub fn validate(&self) -> Result<(), LabelError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every Annex E violation, in field order.
    pub fn problems(&self) -> Vec<LabelError> {
        let mut out = Vec::new();
        if self.class().is_none() {
            out.push(LabelError::LabelValue(self.label.clone()));
        }
        for (field, value) in self.fields() {
            if let Some((at, ch)) = value.chars().enumerate().find(|(_, c)| !charset_ok(*c)) {
                let hint = if !ch.is_ascii() && field.starts_with("Content") {
                    "; use the provider code, not the name"
                } else {
                    ""
                };
                out.push(LabelError::Charset {
                    field,
                    ch,
                    at,
                    hint,
                });
            }
        }
        if self.content_producer.is_empty() && self.content_propagator.is_empty() {
            out.push(LabelError::NoProvider);
        }
        for (field, value) in [
            ("ContentProducer", &self.content_producer),
            ("ContentPropagator", &self.content_propagator),
        ] {
            if let Some(Err(source)) = looks_like_code(value).then(|| ProviderCode::parse(value)) {
                out.push(LabelError::ProviderCode { field, source });
            }
        }
        out
    }

    /// Observations that do not make the label non-compliant (a name where a code is expected).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (field, value) in [
            ("ContentProducer", &self.content_producer),
            ("ContentPropagator", &self.content_propagator),
        ] {
            if value.is_empty() {
                continue;
            }
            if !looks_like_code(value) {
                out.push(format!(
                    "{field} {value:?} is a name, not a TC260-PG-20252A provider code"
                ));
            } else if let Ok(code) = ProviderCode::parse(value) {
                out.extend(code.warnings().iter().map(|w| format!("{field}: {w}")));
            }
        }
        out
    }

    /// The bare 7-key JSON object, validated (the form the guides put under an `AIGC` key).
    pub fn to_json(&self) -> Result<String, LabelError> {
        self.validate()?;
        Ok(self.to_json_unchecked())
    }

    /// The wrapped form `{"AIGC":{…}}` of Annex E b), validated.
    pub fn to_wrapped_json(&self) -> Result<String, LabelError> {
        Ok(format!("{{\"AIGC\":{}}}", self.to_json()?))
    }

    /// The bare JSON without validation, for reports about labels read from files.
    pub fn to_json_unchecked(&self) -> String {
        let mut s = String::with_capacity(256);
        s.push('{');
        for (i, (k, v)) in self.fields().iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push('"');
            s.push_str(k);
            s.push_str("\":");
            // serde_json escapes `"` as `\"`, the one escape Annex E j) allows.
            s.push_str(&serde_json::Value::String((*v).to_string()).to_string());
        }
        s.push('}');
        s
    }

    /// The producer's signed members, `"Label":"…","ContentProducer":"…","ProduceID":"…"`
    /// (the TBS string of the security guide's Annex A.1).
    pub fn producer_tbs(&self) -> String {
        self.members(3)
    }

    /// The members up to and including `PropagateID`, which a propagator signs.
    pub fn propagator_tbs(&self) -> String {
        self.members(6)
    }

    fn members(&self, n: usize) -> String {
        let bare = ImplicitLabel { ..self.clone() }
            .fields()
            .iter()
            .take(n)
            .map(|(k, v)| format!("\"{k}\":{}", serde_json::Value::String((*v).to_string())))
            .collect::<Vec<_>>();
        bare.join(",")
    }

    /// Parses a label with the tolerant reader: wrapped or bare, numbers forgiven, missing and
    /// unknown keys reported. Duplicate keys and non-JSON text are errors.
    pub fn parse(text: &str) -> Result<ParsedLabel, LabelError> {
        let node: JsonNode = serde_json::from_str(text.trim_start_matches('\u{feff}').trim())
            .map_err(|e| LabelError::Malformed(e.to_string()))?;
        let JsonNode::Object(top) = node else {
            return Err(LabelError::Malformed("not a JSON object".into()));
        };
        let mut warnings = Vec::new();
        let (members, wrapped) = match top.as_slice() {
            [(k, inner)] if k == "AIGC" => match inner {
                JsonNode::Object(m) => (m.clone(), true),
                JsonNode::Scalar(serde_json::Value::String(s)) => {
                    // Some writers double-encode: {"AIGC":"{\"Label\":…}"}.
                    warnings.push("AIGC value is a JSON string, not an object".to_string());
                    let inner = ImplicitLabel::parse(s)?;
                    warnings.extend(inner.warnings);
                    return Ok(ParsedLabel {
                        label: inner.label,
                        wrapped: true,
                        warnings,
                    });
                }
                _ => return Err(LabelError::Malformed("AIGC is not an object".into())),
            },
            _ => (top, false),
        };
        let mut label = ImplicitLabel::default();
        let mut seen = [false; 7];
        for (i, (key, value)) in members.iter().enumerate() {
            let Some(slot) = label.field_mut(key) else {
                warnings.push(format!("unknown key {key:?}"));
                continue;
            };
            if let Some(pos) = FIELD_NAMES.iter().position(|f| f == key) {
                seen[pos] = true;
                if pos != i {
                    warnings.push(format!("{key} is out of the Annex E order"));
                }
            }
            *slot = match value {
                JsonNode::Scalar(serde_json::Value::String(s)) => s.clone(),
                JsonNode::Scalar(serde_json::Value::Null) => {
                    warnings.push(format!("{key} is null, not a string"));
                    String::new()
                }
                JsonNode::Scalar(other) => {
                    warnings.push(format!("{key} is {other}, not a string"));
                    other.to_string()
                }
                JsonNode::Object(_) => {
                    warnings.push(format!("{key} is an object, not a string"));
                    String::new()
                }
            };
        }
        for (name, seen) in FIELD_NAMES.iter().zip(seen) {
            if !seen {
                warnings.push(format!("missing key {name}"));
            }
        }
        if members.is_empty() {
            return Err(LabelError::Malformed("empty label object".into()));
        }
        Ok(ParsedLabel {
            label,
            wrapped,
            warnings,
        })
    }
}

/// True for the characters Annex E j) allows in a value (the `"` stands for its `\"` escape).
fn charset_ok(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E' | '"')
}

/// A value that is meant as a provider code rather than a name: 27 characters starting `00`.
fn looks_like_code(v: &str) -> bool {
    v.len() == 27 && v.starts_with("00")
}

/// A JSON value that keeps object members in order and refuses duplicate keys, which
/// `serde_json::Value` would silently collapse (acceptance check A4).
#[derive(Debug, Clone)]
enum JsonNode {
    Object(Vec<(String, JsonNode)>),
    Scalar(serde_json::Value),
}

impl<'de> serde::Deserialize<'de> for JsonNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JsonNode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonNode, A::Error> {
                let mut members: Vec<(String, JsonNode)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    let value = map.next_value::<JsonNode>()?;
                    members.push((key, value));
                }
                Ok(JsonNode::Object(members))
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonNode, A::Error> {
                // Arrays never appear in a label; consume and summarise.
                let mut n = 0usize;
                while seq.next_element::<de::IgnoredAny>()?.is_some() {
                    n += 1;
                }
                Ok(JsonNode::Scalar(serde_json::Value::String(format!(
                    "[array of {n}]"
                ))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::String(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::String(v)))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::Bool(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::from(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::from(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::from(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<JsonNode, E> {
                Ok(JsonNode::Scalar(serde_json::Value::Null))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{SAMPLE_LABEL, SAMPLE_LABEL_2};

    fn producer_label() -> ImplicitLabel {
        ImplicitLabel {
            label: "1".into(),
            content_producer: "001191440300708461136T1XGW3".into(),
            produce_id: "16b7bc9fc94e20a3_87f202bb".into(),
            ..Default::default()
        }
    }

    #[test]
    fn ds16_a1_keys_in_order_as_strings() {
        assert_eq!(producer_label().to_json().unwrap(), SAMPLE_LABEL);
        assert_eq!(
            producer_label().to_wrapped_json().unwrap(),
            format!("{{\"AIGC\":{SAMPLE_LABEL}}}")
        );
    }

    #[test]
    fn ds16_a1_number_label_is_read_with_warning() {
        let p =
            ImplicitLabel::parse(&SAMPLE_LABEL.replace("\"Label\":\"1\"", "\"Label\":1")).unwrap();
        assert_eq!(p.label.label, "1");
        assert!(p.warnings.iter().any(|w| w.contains("not a string")));
    }

    #[test]
    fn ds16_a2_label_value_rejected() {
        let mut l = producer_label();
        l.label = "AIGC".into();
        assert_eq!(l.to_json(), Err(LabelError::LabelValue("AIGC".into())));
        // The real MiniMax markdown label fails twice: Label and the space in a name.
        let minimax = ImplicitLabel {
            label: "AIGC".into(),
            content_producer: "Minimax Agent AI".into(),
            ..Default::default()
        };
        let problems = minimax.problems();
        assert!(problems.contains(&LabelError::LabelValue("AIGC".into())));
        assert!(problems.iter().any(|p| matches!(
            p,
            LabelError::Charset {
                field: "ContentProducer",
                ch: ' ',
                ..
            }
        )));
        assert!(minimax.warnings().iter().any(|w| w.contains("name, not")));
    }

    #[test]
    fn ds16_a3_charset() {
        let mut l = producer_label();
        l.produce_id = "has space".into();
        assert!(matches!(
            l.validate(),
            Err(LabelError::Charset { ch: ' ', .. })
        ));
        l.produce_id = "back\\slash".into();
        assert!(matches!(
            l.validate(),
            Err(LabelError::Charset { ch: '\\', .. })
        ));
        l.produce_id = "ctl\u{1}".into();
        assert!(l.validate().is_err());
        let mut l = producer_label();
        l.content_producer = "腾讯科技".into();
        let e = l.validate().unwrap_err();
        assert!(e.to_string().contains("use the provider code"), "{e}");
        // An escaped JSON SecurityData string is fine: only `\"` appears in the encoding.
        let mut l = producer_label();
        l.reserved_code1 = r#"{"SecurityData":{"Type":"TC260PG"}}"#.into();
        let json = l.to_json().unwrap();
        assert!(json.contains(r#""ReservedCode1":"{\"SecurityData\":{\"Type\":\"TC260PG\"}}""#));
        assert_eq!(ImplicitLabel::parse(&json).unwrap().label, l);
    }

    #[test]
    fn ds16_a4_wrapped_and_bare_read_identically() {
        let bare = ImplicitLabel::parse(SAMPLE_LABEL).unwrap();
        let wrapped = ImplicitLabel::parse(&format!("{{\"AIGC\":{SAMPLE_LABEL}}}")).unwrap();
        assert_eq!(bare.label, wrapped.label);
        assert!(!bare.wrapped && wrapped.wrapped);
        assert!(bare.warnings.is_empty(), "{:?}", bare.warnings);
        let dup = SAMPLE_LABEL.replace("\"ProduceID\"", "\"Label\":\"1\",\"ProduceID\"");
        assert!(
            matches!(ImplicitLabel::parse(&dup), Err(LabelError::Malformed(m)) if m.contains("duplicate"))
        );
    }

    #[test]
    fn ds16_a5_bad_uscc_in_code_is_an_error() {
        let mut l = producer_label();
        l.content_producer = "001191440300708461137T1XGW3".into();
        assert!(matches!(l.validate(), Err(LabelError::ProviderCode { .. })));
    }

    #[test]
    fn ds16_a8_classes() {
        assert_eq!(
            AigcClass::from_label_value("1").map(AigcClass::prompt),
            Some("属于")
        );
        assert_eq!(AigcClass::Possibly.prompt(), "可能为");
        assert_eq!(AigcClass::Suspected.label_value(), "3");
    }

    #[test]
    fn ds18_tbs_strings() {
        let l = ImplicitLabel::parse(SAMPLE_LABEL_2).unwrap().label;
        assert_eq!(
            l.producer_tbs(),
            r#""Label":"1","ContentProducer":"001191440300708461136T1XGW3","ProduceID":"16b7bc9fc94e20a3_87f202bb""#
        );
        assert!(
            l.propagator_tbs()
                .ends_with(r#""PropagateID":"7642551196644884771""#)
        );
    }

    #[test]
    fn malformed_text_is_an_error() {
        for bad in ["", "[]", "{", "\"x\"", "{\"AIGC\":[1]}", "{}"] {
            assert!(ImplicitLabel::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn ds16_write_read_equal(
            label in "[123]",
            producer in "[!#-\\[\\]-~]{0,40}",
            id in "[!#-\\[\\]-~\"]{1,40}",
        ) {
            let l = ImplicitLabel { label, content_producer: format!("x{producer}"), produce_id: id, ..Default::default() };
            let json = l.to_json_unchecked();
            proptest::prop_assert_eq!(ImplicitLabel::parse(&json).unwrap().label, l);
        }

        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = ImplicitLabel::parse(&s);
        }
    }
}

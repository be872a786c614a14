//! Provider codes (服务提供者编码, TC260-PG-20252A) and the GB 32100 check of the embedded USCC.
//!
//! A provider code is 27 characters: `00` (format), subject type (`1` = organisation), binding
//! method (`1` = bound to the USCC), the 18-character unified social credit code (统一社会信用代码),
//! the service type (`1` = generation, `2` = propagation) and a 4-character model or app code.
//! Only the organisation/USCC layout is published, so other subject or binding digits are accepted
//! with a warning rather than refused.

use std::fmt;

/// The USCC alphabet of GB 32100-2015: digits and capitals without I, O, S, V, Z.
const USCC_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// GB 32100-2015 weights for the first 17 characters.
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// What a provider code is for: the service-type digit (position 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServiceType {
    /// `1`: a generation or synthesis service (生成合成服务), i.e. a content producer.
    Generation,
    /// `2`: a content propagation service (内容传播服务), i.e. a platform.
    Propagation,
}

/// Why a string is not a valid provider code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProviderCodeError {
    /// The code is not 27 characters long (a name instead of a code, typically).
    #[error(
        "provider code must be 27 characters, got {0} (a name, not a code? use the TC260-PG-20252A code)"
    )]
    Length(usize),
    /// A character outside ASCII digits and capitals.
    #[error("provider code contains {0:?}; only 0-9 and A-Z are allowed")]
    Charset(char),
    /// The first two characters are not `00`.
    #[error("provider code must start with the format code 00, got {0:?}")]
    FormatCode(String),
    /// The embedded USCC fails the GB 32100 check digit.
    #[error("embedded unified social credit code {0} fails the GB 32100 check digit")]
    UsccCheck(String),
    /// The service-type digit is neither `1` nor `2`.
    #[error("service-type digit must be 1 (generation) or 2 (propagation), got {0:?}")]
    ServiceType(char),
}

/// A syntactically valid 27-character provider code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderCode {
    code: String,
    warnings: Vec<String>,
}

impl ProviderCode {
    /// Parses and checks a provider code, including the USCC check digit when the binding digit
    /// says a USCC is embedded.
    pub fn parse(code: &str) -> Result<Self, ProviderCodeError> {
        let n = code.chars().count();
        if n != 27 {
            return Err(ProviderCodeError::Length(n));
        }
        if let Some(c) = code
            .chars()
            .find(|c| !(c.is_ascii_digit() || c.is_ascii_uppercase()))
        {
            return Err(ProviderCodeError::Charset(c));
        }
        // All characters are ASCII from here on, so byte slicing is character slicing.
        if &code[0..2] != "00" {
            return Err(ProviderCodeError::FormatCode(code[0..2].to_string()));
        }
        let mut warnings = Vec::new();
        let subject = &code[2..3];
        let binding = &code[3..4];
        if subject != "1" {
            warnings.push(format!(
                "subject-type digit {subject} is not the published organisation code 1"
            ));
        }
        let uscc = &code[4..22];
        if binding == "1" {
            if !uscc_is_valid(uscc) {
                return Err(ProviderCodeError::UsccCheck(uscc.to_string()));
            }
        } else {
            warnings.push(format!(
                "binding digit {binding} is not the published USCC binding 1; identifier not checked"
            ));
        }
        let service = code[22..23].chars().next().unwrap_or('?');
        if service != '1' && service != '2' {
            return Err(ProviderCodeError::ServiceType(service));
        }
        Ok(Self {
            code: code.to_string(),
            warnings,
        })
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.code
    }

    /// The embedded unified social credit code.
    pub fn uscc(&self) -> &str {
        &self.code[4..22]
    }

    /// The service type the code declares.
    pub fn service_type(&self) -> ServiceType {
        if &self.code[22..23] == "2" {
            ServiceType::Propagation
        } else {
            ServiceType::Generation
        }
    }

    /// Observations that do not make the code invalid (unpublished subject or binding digits).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code)
    }
}

/// True when `uscc` is an 18-character unified social credit code with a correct GB 32100 check
/// character.
pub fn uscc_is_valid(uscc: &str) -> bool {
    let bytes = uscc.as_bytes();
    if bytes.len() != 18 {
        return false;
    }
    let value = |b: u8| USCC_ALPHABET.iter().position(|&a| a == b).map(|p| p as u32);
    let mut sum = 0u32;
    for (i, &b) in bytes[..17].iter().enumerate() {
        match value(b) {
            Some(v) => sum += v * USCC_WEIGHTS[i],
            None => return false,
        }
    }
    let check = (31 - sum % 31) % 31;
    value(bytes[17]) == Some(check)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ds16_real_provider_codes_pass() {
        for code in [
            "001191440300708461136T1XGW3",
            "001191440300708461136T1308L",
            "001191110102MACQD9K64018705",
            "001191110102MACQD9K64010000",
            "001191440300MA5G49LC9K1YO01",
        ] {
            let p = ProviderCode::parse(code).unwrap_or_else(|e| panic!("{code}: {e}"));
            assert_eq!(p.service_type(), ServiceType::Generation, "{code}");
            assert!(p.warnings().is_empty());
        }
        let p = ProviderCode::parse("001191110102MACQD9K64028705").unwrap();
        assert_eq!(p.service_type(), ServiceType::Propagation);
        assert_eq!(p.uscc(), "91110102MACQD9K640");
    }

    #[test]
    fn uscc_check_digits() {
        for ok in [
            "91440300708461136T",
            "91110102MACQD9K640",
            "91440300MA5G49LC9K",
            "91110102MAD55U9H0F",
        ] {
            assert!(uscc_is_valid(ok), "{ok}");
        }
        assert!(!uscc_is_valid("91440300708461136U"));
        assert!(!uscc_is_valid("91440300708461137T"));
        assert!(!uscc_is_valid("9144030070846113"));
        assert!(!uscc_is_valid("91440300708461136I"));
    }

    #[test]
    fn ds16_altered_uscc_fails() {
        assert_eq!(
            ProviderCode::parse("001191440300708461137T1XGW3"),
            Err(ProviderCodeError::UsccCheck("91440300708461137T".into()))
        );
    }

    #[test]
    fn ds16_names_are_not_codes() {
        assert_eq!(
            ProviderCode::parse("Minimax Agent AI"),
            Err(ProviderCodeError::Length(16))
        );
        assert!(matches!(
            ProviderCode::parse(&"腾".repeat(27)),
            Err(ProviderCodeError::Charset(_))
        ));
        assert!(matches!(
            ProviderCode::parse("011191440300708461136T1XGW3"),
            Err(ProviderCodeError::FormatCode(_))
        ));
        assert!(matches!(
            ProviderCode::parse("001191440300708461136T3XGW3"),
            Err(ProviderCodeError::ServiceType('3'))
        ));
    }

    #[test]
    fn unpublished_subject_digits_warn() {
        let p = ProviderCode::parse("002191440300708461136T1XGW3").unwrap();
        assert_eq!(p.warnings().len(), 1);
    }
}

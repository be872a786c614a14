//! Resident identity numbers (公民身份号码, GB 11643-1999).
//!
//! Eighteen characters: a six-digit address code (地址码, GB/T 2260), the birth date `YYYYMMDD`, a
//! three-digit sequence (顺序码, odd = male) and an ISO 7064 MOD 11-2 check character (`0-9` or
//! `X`). Validation is layered and each layer has its own error, in this order: length, format,
//! birth date (a real calendar date, not after today in Asia/Shanghai), checksum (a hard reject).
//! The address code is never a reason to reject: the region table changes over time and libraries
//! that reject on it refuse the standard's own example, so doubts become [`IdWarning`]s.
//!
//! The same layout and check cover residence permits for Hong Kong, Macau and Taiwan residents
//! (address codes `810000`, `820000`, `830000`) and the 2023 foreign permanent resident ID card
//! (外国人永久居留身份证), whose number starts with `9`. Legacy 15-digit numbers (no check
//! character, two-digit year) are upgraded to 18 digits ([`upgrade_15`]).

use std::fmt;

use hegui_core::UnixMillis;
use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::Offset;
use serde::{Deserialize, Serialize};

use crate::fold_char;
use crate::mask::mask_resident_id;

/// MOD 11-2 weights `2^(18-i) mod 11` for positions 1..=17.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character indexed by `S mod 11`.
const CHECK: &[u8; 11] = b"10X98765432";
/// Province blocks (first two digits of the address code) in GB/T 2260, plus 71 (Taiwan) and the
/// residence-permit blocks 81, 82, 83.
const PROVINCES: &[u8] = &[
    11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
    53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83,
];

/// Why a string is not a valid resident identity number. Variants follow the validation layers
/// (length, format, birth date, checksum), and the first failing layer is reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// Not 18 characters (nor 15 for a legacy number) after removing blanks.
    #[error("a resident ID number has 18 characters (15 for a legacy number), got {found}")]
    Length {
        /// Characters found.
        found: usize,
    },
    /// A character not allowed at its position (1-based): the first digit must be 1–9, then
    /// digits, and only the last character may be `X`.
    #[error("character {found:?} is not allowed at position {position} of a resident ID number")]
    Format {
        /// 1-based position of the first offending character.
        position: usize,
        /// The character found there.
        found: char,
    },
    /// The MOD 11-2 check character does not match: a typing error or a made-up number.
    #[error("check character of the resident ID number is wrong (expected {expected})")]
    Checksum {
        /// The check character the first 17 digits call for.
        expected: char,
    },
    /// The birth date field is not acceptable.
    #[error("birth date in the resident ID number: {reason}")]
    BirthDate {
        /// What is wrong with it.
        reason: BirthDateError,
    },
}

/// What is wrong with the birth date field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BirthDateError {
    /// The year is not 18xx, 19xx or 20xx.
    #[error("year out of range")]
    OutOfRange,
    /// No such calendar day (month 13, 30 February …).
    #[error("not a calendar date")]
    NotADate,
    /// After today (Asia/Shanghai).
    #[error("in the future")]
    Future,
}

/// Which document family a number belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdKind {
    /// A citizen's resident identity card (居民身份证).
    Citizen,
    /// A residence permit for Hong Kong, Macau or Taiwan residents (港澳台居民居住证).
    ResidencePermit(PermitFrom),
    /// A foreign permanent resident ID card, 2023 version (外国人永久居留身份证), first digit `9`.
    ForeignPermanentResident,
}

/// Origin of a residence-permit holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PermitFrom {
    /// Hong Kong (`810000`) or Macau (`820000`).
    HkMo,
    /// Taiwan (`830000`).
    Tw,
}

/// Sex from the 17th digit: odd is male, even is female.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// 男.
    Male,
    /// 女.
    Female,
}

/// A doubt that does not make the number invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum IdWarning {
    /// The address code is outside the known province blocks, or the birth year is before 1900
    /// (the standard's own example `440524188001010014`); never a reason to reject.
    RegionOrEra,
    /// The input was a legacy 15-digit number, upgraded to 18 digits.
    Upgraded15,
    /// A foreign permanent resident number: the layout of digits 2–17 (province, nationality,
    /// birth date, sequence) is from an NIA notice not checked against the source, so birth date
    /// and sex are read as for citizens and should be confirmed by an authoritative check.
    LayoutUnverified,
}

/// A resident identity number that passed format, checksum and birth-date validation.
///
/// `Debug` prints the masked form only, so a number that reaches a log line by accident is not
/// disclosed; use [`ResidentId::number`] deliberately.
#[derive(Clone, PartialEq, Eq)]
pub struct ResidentId {
    number: String,
    kind: IdKind,
    sex: Sex,
    birth_date: Date,
    region: String,
    warnings: Vec<IdWarning>,
}

impl ResidentId {
    /// The normalised 18-character number (upper-case `X`). Sensitive PI: store
    /// [`crate::SubjectHasher`] output and [`ResidentId::masked`], not this.
    pub fn number(&self) -> &str {
        &self.number
    }

    /// The document family.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// Sex from the sequence code.
    pub fn sex(&self) -> Sex {
        self.sex
    }

    /// Birth date from positions 7–14.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// The six-digit address code (地址码).
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Doubts that did not make the number invalid.
    pub fn warnings(&self) -> &[IdWarning] {
        &self.warnings
    }

    /// Display form: `110105********002X`.
    pub fn masked(&self) -> String {
        mask_resident_id(&self.number)
    }

    /// Age in full years (周岁) on `on`; a person turns N on the birthday itself (a 29 February
    /// birthday is reached on 1 March in common years). Zero for dates before the birth date.
    pub fn age_at(&self, on: Date) -> u16 {
        let b = self.birth_date;
        let mut years = i32::from(on.year()) - i32::from(b.year());
        if (on.month(), on.day()) < (b.month(), b.day()) {
            years -= 1;
        }
        u16::try_from(years.max(0)).unwrap_or(0)
    }

    /// Under 14 on `on`: all of the person's PI is sensitive and guardian consent is required
    /// (PIPL art. 28, 31).
    pub fn is_minor_under_14(&self, on: Date) -> bool {
        self.age_at(on) < 14
    }

    /// Under 18 on `on`: minors mode applies.
    pub fn is_minor(&self, on: Date) -> bool {
        self.age_at(on) < 18
    }
}

impl fmt::Debug for ResidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResidentId")
            .field("number", &self.masked())
            .field("kind", &self.kind)
            .field("sex", &self.sex)
            .field("birth_date", &self.birth_date)
            .field("region", &self.region)
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// Today's date in Asia/Shanghai for a clock reading. China has used UTC+8 without daylight
/// saving since 1991, so a fixed offset is exact and needs no time-zone database.
pub fn shanghai_date(now: UnixMillis) -> Date {
    let ts = Timestamp::from_millisecond(now).unwrap_or(if now < 0 {
        Timestamp::MIN
    } else {
        Timestamp::MAX
    });
    Offset::constant(8).to_datetime(ts).date()
}

/// Removes blanks, folds full-width characters and upper-cases `x`.
fn clean(s: &str) -> String {
    s.chars()
        .map(fold_char)
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// The check character for 17 ASCII digits.
fn check_char(first17: &[u8]) -> char {
    let sum: u32 = first17
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    char::from(CHECK[(sum % 11) as usize])
}

/// Validates a resident identity number (公民身份号码) against `today` (Asia/Shanghai; see
/// [`shanghai_date`]). Blanks are ignored, `x` is accepted and stored as `X`, and a 15-digit
/// legacy number is upgraded first (with [`IdWarning::Upgraded15`]).
pub fn validate_resident_id(s: &str, today: Date) -> Result<ResidentId, IdError> {
    let cleaned = clean(s);
    let mut warnings = Vec::new();
    let number = match cleaned.chars().count() {
        18 => cleaned,
        15 => {
            warnings.push(IdWarning::Upgraded15);
            upgrade_15(&cleaned)?
        }
        found => return Err(IdError::Length { found }),
    };
    for (i, c) in number.chars().enumerate() {
        let ok = match i {
            0 => matches!(c, '1'..='9'),
            17 => c.is_ascii_digit() || c == 'X',
            _ => c.is_ascii_digit(),
        };
        if !ok {
            return Err(IdError::Format {
                position: i + 1,
                found: c,
            });
        }
    }
    // All ASCII from here on.
    let b = number.as_bytes();
    // The date comes before the check character: a day that cannot exist (30 February) is the
    // more precise message, and the spec's vector `440308199902301512` (whose check character is
    // also wrong) expects it.
    let birth_date = birth_date(&b[6..14], today)?;
    let expected = check_char(&b[..17]);
    if char::from(b[17]) != expected {
        return Err(IdError::Checksum { expected });
    }
    let region = number[..6].to_owned();
    let kind = match (b[0], region.as_str()) {
        (b'9', _) => IdKind::ForeignPermanentResident,
        (_, "810000" | "820000") => IdKind::ResidencePermit(PermitFrom::HkMo),
        (_, "830000") => IdKind::ResidencePermit(PermitFrom::Tw),
        _ => IdKind::Citizen,
    };
    if kind == IdKind::ForeignPermanentResident {
        warnings.push(IdWarning::LayoutUnverified);
    } else {
        let province = (b[0] - b'0') * 10 + (b[1] - b'0');
        if !PROVINCES.contains(&province) || birth_date.year() < 1900 {
            warnings.push(IdWarning::RegionOrEra);
        }
    }
    let sex = if (b[16] - b'0') % 2 == 1 {
        Sex::Male
    } else {
        Sex::Female
    };
    Ok(ResidentId {
        number,
        kind,
        sex,
        birth_date,
        region,
        warnings,
    })
}

/// Parses `YYYYMMDD` (ASCII digits) and checks it against `today`.
fn birth_date(d: &[u8], today: Date) -> Result<Date, IdError> {
    let num = |r: &[u8]| r.iter().fold(0i32, |n, c| n * 10 + i32::from(c - b'0'));
    let (year, month, day) = (num(&d[..4]), num(&d[4..6]), num(&d[6..8]));
    let err = |reason| IdError::BirthDate { reason };
    if !(1800..=2099).contains(&year) {
        return Err(err(BirthDateError::OutOfRange));
    }
    // Year, month and day fit i16/i8 after the range check and two-digit parsing.
    let date = Date::new(year as i16, month as i8, day as i8)
        .map_err(|_| err(BirthDateError::NotADate))?;
    if date > today {
        return Err(err(BirthDateError::Future));
    }
    Ok(date)
}

/// Upgrades a legacy 15-digit number (6 address + `YYMMDD` + 3 sequence, issued before 1999) to
/// 18 digits: `19` is inserted before the year and the check character appended.
pub fn upgrade_15(s: &str) -> Result<String, IdError> {
    let cleaned = clean(s);
    let found = cleaned.chars().count();
    if found != 15 {
        return Err(IdError::Length { found });
    }
    for (i, c) in cleaned.chars().enumerate() {
        // Legacy numbers are citizens' only: province blocks 1–8.
        let ok = if i == 0 {
            matches!(c, '1'..='8')
        } else {
            c.is_ascii_digit()
        };
        if !ok {
            return Err(IdError::Format {
                position: i + 1,
                found: c,
            });
        }
    }
    let mut n = String::with_capacity(18);
    n.push_str(&cleaned[..6]);
    n.push_str("19");
    n.push_str(&cleaned[6..]);
    let check = check_char(n.as_bytes());
    n.push(check);
    Ok(n)
}

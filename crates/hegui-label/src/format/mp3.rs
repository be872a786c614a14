//! mp3: label placement (being written).

use super::{FormatError, ReadSeek, Scan, WriteSeek};
use std::io::Write;

pub(crate) fn scan(_src: &mut dyn ReadSeek) -> Result<Scan, FormatError> {
    Err(FormatError::Unsupported("mp3 reader not written yet".into()))
}

pub(crate) fn write(
    _src: &mut dyn ReadSeek,
    _dst: &mut dyn WriteSeek,
    _label_json: &str,
) -> Result<(), FormatError> {
    Err(FormatError::Unsupported("mp3 writer not written yet".into()))
}

pub(crate) fn content_digest(_src: &mut dyn ReadSeek, _sink: &mut dyn Write) -> Result<(), FormatError> {
    Err(FormatError::Unsupported("mp3 digest not written yet".into()))
}

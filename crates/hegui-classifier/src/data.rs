//! Labelled CSV input for training and evaluation.
//!
//! The file has a header row. The text column is the one named `text` and the label column the
//! one named `label` (names compared case-insensitively after trimming), wherever they are:
//! COLD's files (`,split,topic,label,TEXT`, UTF-8 with BOM) and a plain `text,label` file both
//! work. Labels are `1`/`0` (also `true`/`false`); 1 is the positive class (COLD: offensive).
//!
//! The reader is a small RFC 4180 parser written here rather than the `csv` crate: the whole
//! need is "split records, honour quotes", a few dozen lines, and it keeps this crate free of a
//! dependency used nowhere else. It accepts CRLF or LF line ends, `""` inside quoted fields,
//! newlines inside quoted fields and a leading byte-order mark; an unterminated quote is an
//! error with its line number. Blank lines are skipped.

use std::path::{Path, PathBuf};

/// Why a labelled CSV could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("{}: not UTF-8 text", path.display())]
    NotUtf8 {
        /// The file.
        path: PathBuf,
    },
    /// The file has no header row.
    #[error("the CSV is empty (no header row)")]
    Empty,
    /// The header lacks a required column.
    #[error("the CSV header has no `{column}` column (header: {header:?})")]
    MissingColumn {
        /// `text` or `label`.
        column: &'static str,
        /// The header row as found.
        header: Vec<String>,
    },
    /// A quoted field is not closed before the end of the file.
    #[error("line {line}: unterminated quoted field")]
    UnterminatedQuote {
        /// 1-based line where the record starts.
        line: usize,
    },
    /// A record has fewer fields than the text or label column needs.
    #[error("line {line}: {found} fields, the `{column}` column is field {needed}")]
    ShortRecord {
        /// 1-based line where the record starts.
        line: usize,
        /// The column that is missing.
        column: &'static str,
        /// 1-based position of that column.
        needed: usize,
        /// Number of fields in the record.
        found: usize,
    },
    /// A label is not 0/1/true/false.
    #[error("line {line}: label {value:?} is not 0 or 1")]
    BadLabel {
        /// 1-based line where the record starts.
        line: usize,
        /// The label as found.
        value: String,
    },
}

/// Reads `(text, is_positive)` samples from a labelled CSV file (see the module docs).
pub fn read_labelled_csv(path: impl AsRef<Path>) -> Result<Vec<(String, bool)>, DataError> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let text = String::from_utf8(bytes).map_err(|_| DataError::NotUtf8 {
        path: path.to_path_buf(),
    })?;
    parse_labelled_csv(&text)
}

/// Parses `(text, is_positive)` samples from labelled CSV text (see the module docs).
pub fn parse_labelled_csv(text: &str) -> Result<Vec<(String, bool)>, DataError> {
    let mut records = Records::new(text);
    let header = loop {
        match records.next_record()? {
            None => return Err(DataError::Empty),
            Some((_, r)) if r.len() == 1 && r[0].is_empty() => continue,
            Some((_, r)) => break r,
        }
    };
    let find = |name: &'static str| {
        header
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
            .ok_or_else(|| DataError::MissingColumn {
                column: name,
                header: header.clone(),
            })
    };
    let (ti, li) = (find("text")?, find("label")?);
    let mut out = Vec::new();
    while let Some((line, mut r)) = records.next_record()? {
        if r.len() == 1 && r[0].is_empty() {
            continue;
        }
        for (column, i) in [("text", ti), ("label", li)] {
            if i >= r.len() {
                return Err(DataError::ShortRecord {
                    line,
                    column,
                    needed: i + 1,
                    found: r.len(),
                });
            }
        }
        let label = match r[li].trim() {
            "1" | "true" | "TRUE" | "True" => true,
            "0" | "false" | "FALSE" | "False" => false,
            other => {
                return Err(DataError::BadLabel {
                    line,
                    value: other.to_string(),
                });
            }
        };
        out.push((std::mem::take(&mut r[ti]), label));
    }
    Ok(out)
}

/// An RFC 4180 record splitter over a string.
struct Records<'a> {
    rest: std::iter::Peekable<std::str::Chars<'a>>,
    line: usize,
}

impl<'a> Records<'a> {
    fn new(text: &'a str) -> Self {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        Records {
            rest: text.chars().peekable(),
            line: 1,
        }
    }

    /// The next record and the line it starts on, `None` at the end.
    fn next_record(&mut self) -> Result<Option<(usize, Vec<String>)>, DataError> {
        if self.rest.peek().is_none() {
            return Ok(None);
        }
        let start = self.line;
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut at_field_start = true;
        loop {
            let Some(c) = self.rest.next() else {
                if quoted {
                    return Err(DataError::UnterminatedQuote { line: start });
                }
                fields.push(field);
                return Ok(Some((start, fields)));
            };
            if quoted {
                match c {
                    '"' if self.rest.peek() == Some(&'"') => {
                        self.rest.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        self.line += 1;
                        field.push(c);
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if at_field_start => {
                    quoted = true;
                    at_field_start = false;
                }
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    at_field_start = true;
                }
                '\r' if self.rest.peek() == Some(&'\n') => {}
                '\n' => {
                    self.line += 1;
                    fields.push(field);
                    return Ok(Some((start, fields)));
                }
                _ => {
                    field.push(c);
                    at_field_start = false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cold_shaped_files() {
        let csv = "\u{FEFF},split,topic,label,TEXT\r\n7,train,race,1,\"他说\"\"你好\"\",\n然后\"\r\n8,train,region,0,台湾人这么说\r\n";
        let s = parse_labelled_csv(csv).unwrap();
        assert_eq!(
            s,
            vec![
                ("他说\"你好\",\n然后".to_string(), true),
                ("台湾人这么说".to_string(), false)
            ]
        );
    }

    #[test]
    fn reads_plain_text_label_files() {
        let s = parse_labelled_csv("text,label\n你好,0\n\n滚,1").unwrap();
        assert_eq!(s, vec![("你好".into(), false), ("滚".into(), true)]);
    }

    #[test]
    fn errors_name_the_line() {
        assert!(matches!(parse_labelled_csv(""), Err(DataError::Empty)));
        assert!(matches!(
            parse_labelled_csv("body,label\nx,1\n"),
            Err(DataError::MissingColumn { column: "text", .. })
        ));
        assert!(matches!(
            parse_labelled_csv("text,label\nx,1\ny,maybe\n"),
            Err(DataError::BadLabel { line: 3, .. })
        ));
        assert!(matches!(
            parse_labelled_csv("text,label\nx,1\n\"open,1\n"),
            Err(DataError::UnterminatedQuote { line: 3 })
        ));
        assert!(matches!(
            parse_labelled_csv("label,text\n1\n"),
            Err(DataError::ShortRecord { line: 2, .. })
        ));
    }

    #[test]
    fn missing_files_are_io_errors() {
        let e = read_labelled_csv("/nonexistent/hegui/x.csv").unwrap_err();
        assert!(matches!(e, DataError::Io { .. }), "{e}");
    }
}

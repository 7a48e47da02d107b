//! CSV input, read with the `csv` crate: fields in double quotes with `""` escapes, `\n` or
//! `\r\n` line ends, blank lines skipped, surrounding spaces trimmed from every field.
//!
//! A record must end on the line it starts: a quoted field holding a line break is refused as
//! unterminated, so that a stray quote is reported at its own line instead of swallowing the
//! rest of the file into one field.

use std::io::Read;
use std::path::{Path, PathBuf};

use ::csv::{ReaderBuilder, StringRecord};

use crate::error::{DataError, Result};

/// A parsed CSV file whose records all have as many fields as the header.
pub(crate) struct Table {
    path: PathBuf,
    header: Vec<String>,
    records: Vec<Record>,
}

/// One data line of a CSV file.
pub(crate) struct Record {
    /// 1-based line number in the file.
    pub line: usize,
    fields: StringRecord,
}

impl Record {
    /// The fields, in order, without surrounding spaces.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(str::trim)
    }
}

/// The records of `text`, fields separated by `delimiter`, blank lines skipped; no header is
/// taken out.
///
/// # Errors
///
/// [`DataError::Parse`] at the line where a quoted field is left open.
pub(crate) fn records(path: &Path, text: &str, delimiter: u8) -> Result<Vec<Record>> {
    let error = |line: usize, message: String| DataError::Parse { path: path.to_path_buf(), line, message };
    // A line end after the text: a quote left open on a last line that has none then runs
    // into a line break too, and is refused like any other.
    let input = text.as_bytes().chain(&b"\n"[..]);
    let reader = ReaderBuilder::new().has_headers(false).flexible(true).delimiter(delimiter).from_reader(input);
    let mut records = Vec::new();
    for fields in reader.into_records() {
        // Reading a `&str` in memory, the reader has no I/O or UTF-8 failure to report, and
        // `flexible` accepts any field count (checked by the callers, with their message).
        let fields = fields.map_err(|e| {
            let line = e.position().map_or(1, |p| p.line() as usize);
            error(line, e.to_string())
        })?;
        let line = fields.position().map_or(1, |p| p.line() as usize);
        if fields.len() == 1 && fields[0].trim().is_empty() {
            continue; // a line of spaces
        }
        if fields.iter().any(|f| f.contains(['\n', '\r'])) {
            let message = "unterminated quoted field (a quoted field must end on its line)";
            return Err(error(line, message.into()));
        }
        records.push(Record { line, fields });
    }
    Ok(records)
}

impl Table {
    /// Parses `text`: a header line, then one record per line. The delimiter is `,`, or `;`
    /// when the header has no comma.
    pub fn parse(path: PathBuf, text: &str) -> Result<Self> {
        let delimiter = match text.lines().find(|l| !l.trim().is_empty()) {
            Some(header) if !header.contains(',') && header.contains(';') => b';',
            _ => b',',
        };
        let mut records = records(&path, text, delimiter)?.into_iter();
        let Some(header) = records.next() else {
            return Err(DataError::Parse { path, line: 1, message: "empty file".into() });
        };
        let header: Vec<String> = header.fields().map(str::to_string).collect();
        let records: Vec<Record> = records.collect();
        if let Some(bad) = records.iter().find(|r| r.fields.len() != header.len()) {
            let message = format!("expected {} fields, found {}", header.len(), bad.fields.len());
            return Err(DataError::Parse { line: bad.line, path, message });
        }
        Ok(Table { path, header, records })
    }

    /// The records, in file order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.header.iter().position(|h| h == name).ok_or_else(|| self.error(1, format!("no column `{name}` in the header")))
    }

    /// The trimmed text of field `col` of `record`.
    pub fn text<'a>(&self, record: &'a Record, col: usize) -> &'a str {
        record.fields[col].trim()
    }

    /// Field `col` of `record` parsed as a number.
    pub fn number(&self, record: &Record, col: usize) -> Result<f64> {
        let text = self.text(record, col);
        text.parse().map_err(|_| self.error(record.line, format!("column `{}`: `{text}` is not a number", self.header[col])))
    }

    /// Field `col` of `record` parsed as an integer.
    pub fn integer(&self, record: &Record, col: usize) -> Result<i64> {
        let text = self.text(record, col);
        text.parse().map_err(|_| self.error(record.line, format!("column `{}`: `{text}` is not an integer", self.header[col])))
    }

    /// A [`DataError::Parse`] for this file.
    pub fn error(&self, line: usize, message: String) -> DataError {
        DataError::Parse { path: self.path.clone(), line, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Table> {
        Table::parse(PathBuf::from("t.csv"), text)
    }

    #[test]
    fn quoted_fields() {
        let t = parse("a,b,c,d,e\na,\"b, c\",\"say \"\"hi\"\"\",,\"\"\n").unwrap();
        let fields: Vec<&str> = t.records()[0].fields().collect();
        assert_eq!(fields, ["a", "b, c", r#"say "hi""#, "", ""]);
    }

    #[test]
    fn an_open_quote_is_refused_at_its_line() {
        for text in ["x,y\n1,\"2\n3,4\n", "x,y\n1,2\n3,\"4", "x,y\n1,2\n3,\"4\n"] {
            let err = parse(text).err().unwrap().to_string();
            let line = if text.starts_with("x,y\n1,\"") { 2 } else { 3 };
            assert!(err.starts_with(&format!("t.csv:{line}: unterminated quoted field")), "{text:?}: {err}");
        }
    }

    #[test]
    fn semicolons_and_empty_values() {
        let t = parse("x;y\r\n1;\n\n  \n2;3\n").unwrap();
        assert_eq!(t.records().len(), 2);
        assert_eq!(t.text(&t.records()[0], 1), "");
        assert_eq!(t.number(&t.records()[1], 1).unwrap(), 3.0);
        assert_eq!(t.records()[1].line, 5);
    }

    #[test]
    fn reports_line_numbers() {
        let err = parse("x,y\n1,2\n3\n").err().unwrap();
        assert_eq!(err.to_string(), "t.csv:3: expected 2 fields, found 1");
        let err = parse("\n \n").err().unwrap();
        assert_eq!(err.to_string(), "t.csv:1: empty file");
        let t = parse("\nx\nfoo\n").unwrap();
        let err = t.number(&t.records()[0], 0).unwrap_err();
        assert_eq!(err.to_string(), "t.csv:3: column `x`: `foo` is not a number");
        assert!(t.column("z").is_err());
    }
}

//! A small CSV reader: a header line, one record per line, double-quoted
//! fields with `""` escapes (no line breaks inside fields).

use std::path::PathBuf;

use crate::error::{DataError, Result};

/// A parsed CSV file whose records all have as many fields as the header.
pub(crate) struct Table {
    path: PathBuf,
    header: Vec<String>,
    records: Vec<Record>,
}

/// One data line of a [`Table`].
pub(crate) struct Record {
    /// 1-based line number in the file.
    pub line: usize,
    fields: Vec<String>,
}

impl Table {
    /// Parses `text`; the delimiter is `,`, or `;` when the header has no comma.
    pub fn parse(path: PathBuf, text: &str) -> Result<Self> {
        let mut lines = text
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim_end_matches('\r')))
            .filter(|(_, l)| !l.trim().is_empty());
        let Some((header_line, header)) = lines.next() else {
            return Err(DataError::Parse {
                path,
                line: 1,
                message: "empty file".into(),
            });
        };
        let delim = if !header.contains(',') && header.contains(';') {
            ';'
        } else {
            ','
        };
        let header: Vec<String> = split_line(header, delim)
            .map_err(|message| DataError::Parse {
                path: path.clone(),
                line: header_line,
                message,
            })?
            .into_iter()
            .map(|f| f.trim().to_string())
            .collect();
        let mut records = Vec::new();
        for (line, text) in lines {
            let fields = split_line(text, delim).map_err(|message| DataError::Parse {
                path: path.clone(),
                line,
                message,
            })?;
            if fields.len() != header.len() {
                let message = format!("expected {} fields, found {}", header.len(), fields.len());
                return Err(DataError::Parse {
                    path,
                    line,
                    message,
                });
            }
            records.push(Record { line, fields });
        }
        Ok(Table {
            path,
            header,
            records,
        })
    }

    /// The records, in file order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Result<usize> {
        self.header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| self.error(1, format!("no column `{name}` in the header")))
    }

    /// The trimmed text of field `col` of `record`.
    pub fn text<'a>(&self, record: &'a Record, col: usize) -> &'a str {
        record.fields[col].trim()
    }

    /// Field `col` of `record` parsed as a number.
    pub fn number(&self, record: &Record, col: usize) -> Result<f64> {
        let text = self.text(record, col);
        text.parse().map_err(|_| {
            self.error(
                record.line,
                format!("column `{}`: `{text}` is not a number", self.header[col]),
            )
        })
    }

    /// Field `col` of `record` parsed as an integer.
    pub fn integer(&self, record: &Record, col: usize) -> Result<i64> {
        let text = self.text(record, col);
        text.parse().map_err(|_| {
            self.error(
                record.line,
                format!("column `{}`: `{text}` is not an integer", self.header[col]),
            )
        })
    }

    /// A [`DataError::Parse`] for this file.
    pub fn error(&self, line: usize, message: String) -> DataError {
        DataError::Parse {
            path: self.path.clone(),
            line,
            message,
        }
    }
}

/// Splits one line into fields, unquoting double-quoted fields.
fn split_line(line: &str, delim: char) -> std::result::Result<Vec<String>, String> {
    if !line.contains('"') {
        return Ok(line.split(delim).map(str::to_string).collect());
    }
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => in_quotes = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                in_quotes = true;
            }
            (c, false) if c == delim => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    fields.push(field);
    Ok(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_quoted_fields() {
        let fields = split_line(r#"a,"b, c","say ""hi""",,"""#, ',').unwrap();
        assert_eq!(fields, ["a", "b, c", r#"say "hi""#, "", ""]);
        assert!(split_line(r#"a,"b"#, ',').is_err());
    }

    #[test]
    fn semicolons_and_empty_values() {
        let t = Table::parse(PathBuf::from("t.csv"), "x;y\r\n1;\n\n2;3\n").unwrap();
        assert_eq!(t.records().len(), 2);
        assert_eq!(t.text(&t.records()[0], 1), "");
        assert_eq!(t.number(&t.records()[1], 1).unwrap(), 3.0);
        assert_eq!(t.records()[1].line, 4);
    }

    #[test]
    fn reports_line_numbers() {
        let err = Table::parse(PathBuf::from("t.csv"), "x,y\n1,2\n3\n")
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "t.csv:3: expected 2 fields, found 1");
        let t = Table::parse(PathBuf::from("t.csv"), "x\nfoo\n").unwrap();
        let err = t.number(&t.records()[0], 0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t.csv:2: column `x`: `foo` is not a number"
        );
        assert!(t.column("z").is_err());
    }
}

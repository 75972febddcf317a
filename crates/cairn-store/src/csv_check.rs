//! Deciding a CSV file's dialect, and finding the exact line of a problem.
//!
//! DuckDB's sniffer guesses a dialect from a sample and, on ragged files, can settle on a wrong
//! one and return no rows at all. Cairn decides encoding, delimiter, quote and header itself
//! (quote-aware, with the `csv` crate) and hands DuckDB an explicit dialect in strict mode. When
//! DuckDB then refuses the file, one pass with the `csv` crate finds the first ragged row or
//! non-UTF-8 field, so the error names its line and column. The happy path reads the file once.

use crate::ImportError;
use crate::sql::literal;
use cairn_core::{ColumnOverride, ImportOptions, TextEncoding};
use std::io::Read;
use std::path::Path;

const CANDIDATES: [u8; 4] = [b',', b'\t', b';', b'|'];
const SAMPLE_BYTES: usize = 256 * 1024;

fn reader(delimiter: u8, bytes: impl Read) -> csv::Reader<impl Read> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes)
}

/// Picks the delimiter under which the sample's rows agree best on their field count.
fn sniff(sample: &[u8], prefer_tab: bool) -> u8 {
    let mut best = (b',', (false, 0usize, 0usize));
    for d in CANDIDATES {
        let mut counts = Vec::new();
        for rec in reader(d, sample).byte_records().take(200) {
            match rec {
                Ok(r) => counts.push(r.len()),
                Err(_) => break,
            }
        }
        // The sample may end mid-row; ignore its last record.
        if counts.len() > 2 {
            counts.pop();
        }
        let Some(&first) = counts.first() else {
            continue;
        };
        let agreeing = counts.iter().filter(|&&c| c == first).count();
        let score = (first > 1, agreeing * 1000 / counts.len(), first);
        let better =
            score > best.1 || (prefer_tab && d == b'\t' && first > 1 && score.1 >= best.1.1);
        if better {
            best = (d, score);
        }
    }
    best.0
}

/// How a CSV file is read: detected, or as the user said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvPlan {
    pub delimiter: u8,
    pub quote: u8,
    pub header: bool,
    pub encoding: TextEncoding,
    /// Column names as the engine will name them.
    pub names: Vec<String>,
}

impl CsvPlan {
    /// The `read_csv(...)` call for this dialect, with type overrides applied at read time (so a
    /// code like `007` read as text keeps its zeros).
    pub fn reader_sql(&self, path_literal: &str, overrides: &[ColumnOverride]) -> String {
        let types: Vec<String> = overrides
            .iter()
            .filter_map(|o| {
                o.dtype.as_ref().map(|t| {
                    format!(
                        "{}: '{}'",
                        literal(&o.column),
                        crate::ingest::engine_type(t)
                    )
                })
            })
            .collect();
        let types = if types.is_empty() {
            String::new()
        } else {
            format!(", types = {{{}}}", types.join(", "))
        };
        let q = literal(&(self.quote as char).to_string());
        format!(
            "read_csv({path_literal}, delim = {}, quote = {q}, escape = {q}, header = {}, encoding = {}, strict_mode = true, null_padding = false, skip = 0{types})",
            literal(&(self.delimiter as char).to_string()),
            self.header,
            literal(self.encoding.engine_name()),
        )
    }
}

fn fail(
    shown: &str,
    line: Option<u64>,
    column: Option<String>,
    reason: String,
    hint: &str,
) -> ImportError {
    ImportError {
        file: shown.to_string(),
        line,
        column,
        reason,
        hint: hint.to_string(),
    }
}

pub(crate) fn too_wide(shown: &str, columns: usize) -> ImportError {
    fail(
        shown,
        Some(1),
        None,
        format!(
            "the file has {columns} columns; a data set may have at most {}",
            cairn_core::dataset::MAX_COLUMNS
        ),
        "keep the columns you need (or reshape to long format: one row per id and feature) and import that",
    )
}

/// Detects the encoding from a byte-order mark or the bytes themselves: UTF-8 unless the
/// sample holds bytes that are not UTF-8 and no multi-byte UTF-8 character at all, which is
/// what a single-byte (Latin-1 / Windows-1252) file looks like.
fn detect_encoding(sample: &[u8]) -> TextEncoding {
    if sample.starts_with(&[0xFF, 0xFE]) {
        return TextEncoding::Utf16;
    }
    let mut multibyte = false;
    let mut invalid = false;
    let chunks: Vec<_> = sample.utf8_chunks().collect();
    let n = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        multibyte |= !chunk.valid().is_ascii();
        // The sample may end inside a character; that is not a sign of another encoding.
        invalid |= !chunk.invalid().is_empty() && i + 1 < n;
    }
    if invalid && !multibyte {
        TextEncoding::Latin1
    } else {
        TextEncoding::Utf8
    }
}

/// The sample as UTF-8 bytes for sniffing the dialect.
fn sample_text(sample: &[u8], encoding: TextEncoding) -> Vec<u8> {
    match encoding {
        TextEncoding::Utf8 => sample
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(sample)
            .to_vec(),
        TextEncoding::Latin1 => sample
            .iter()
            .map(|&b| b as char)
            .collect::<String>()
            .into_bytes(),
        TextEncoding::Utf16 => {
            let body = sample.strip_prefix(&[0xFF, 0xFE]).unwrap_or(sample);
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|p| u16::from_le_bytes([p[0], p[1]]))
                .collect();
            String::from_utf16_lossy(&units).into_bytes()
        }
    }
}

/// Picks the quote character: `'` only when fields open with it more often than with `"`.
fn sniff_quote(sample: &[u8], delimiter: u8) -> u8 {
    let opens = |q: u8| {
        sample
            .windows(2)
            .filter(|w| (w[0] == delimiter || w[0] == b'\n') && w[1] == q)
            .count()
            + usize::from(sample.first() == Some(&q))
    };
    if opens(b'\'') > opens(b'"') {
        b'\''
    } else {
        b'"'
    }
}

fn looks_numeric(field: &[u8]) -> bool {
    std::str::from_utf8(field)
        .ok()
        .map(str::trim)
        .is_some_and(|s| !s.is_empty() && s.parse::<f64>().is_ok())
}

/// Reads a sample of the file and decides encoding, delimiter, quote and header (each unless
/// the user gave it), then checks the header's names.
pub fn plan(path: &Path, shown: &str, options: &ImportOptions) -> Result<CsvPlan, ImportError> {
    let io = |e: std::io::Error| {
        fail(
            shown,
            None,
            None,
            e.to_string(),
            "check that the file can be read",
        )
    };
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    std::fs::File::open(path)
        .map_err(io)?
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(io)?;
    if sample.starts_with(&[0xFE, 0xFF]) {
        return Err(fail(
            shown,
            None,
            None,
            "the file is UTF-16 big-endian".into(),
            "save it as UTF-8 (or UTF-16 little-endian) and import again",
        ));
    }
    let encoding = options.encoding.unwrap_or_else(|| detect_encoding(&sample));
    if encoding != TextEncoding::Utf16
        && let Some(at) = sample.iter().position(|&b| b == 0)
    {
        return Err(fail(
            shown,
            None,
            None,
            format!(
                "byte {} is a NUL byte: this looks like a binary file, not delimited text",
                at + 1
            ),
            "check that this is the CSV you meant (a UTF-16 file needs its byte-order mark, or --encoding utf-16)",
        ));
    }
    let text = sample_text(&sample, encoding);
    let prefer_tab = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let delimiter = match options.delimiter {
        Some(c) if c.is_ascii() && c != '\n' && c != '\r' => c as u8,
        Some(c) => {
            return Err(fail(
                shown,
                None,
                None,
                format!("the delimiter {c:?} is not a single ASCII character"),
                "pass a delimiter such as `,`, `;`, `|` or `\\t`",
            ));
        }
        None => sniff(&text, prefer_tab),
    };
    let quote = match options.quote {
        Some(c) if c.is_ascii() && c as u8 != delimiter => c as u8,
        Some(c) => {
            return Err(fail(
                shown,
                None,
                None,
                format!("the quote {c:?} is not a single ASCII character other than the delimiter"),
                "pass `--quote '\"'` or `--quote \"'\"`",
            ));
        }
        None => sniff_quote(&text, delimiter),
    };
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_slice());
    let mut first = csv::ByteRecord::new();
    let has_first = rdr.read_byte_record(&mut first).unwrap_or(false);
    let mut second = csv::ByteRecord::new();
    let has_second = rdr.read_byte_record(&mut second).unwrap_or(false);
    if !has_first {
        return Err(fail(
            shown,
            None,
            None,
            "the file has no lines".into(),
            "a CSV needs a header line and at least one data row",
        ));
    }
    let header = options.header.unwrap_or_else(|| {
        // A first line with a number in it is data, unless the whole file is only that line.
        !(has_second && first.iter().any(looks_numeric))
    });
    let names: Vec<String> = if header {
        first
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect()
    } else {
        (0..first.len()).map(|i| format!("column{i}")).collect()
    };
    if names.len() > cairn_core::dataset::MAX_COLUMNS {
        return Err(too_wide(shown, names.len()));
    }
    if header {
        for (i, name) in names.iter().enumerate() {
            if name.is_empty() {
                return Err(fail(
                    shown,
                    Some(1),
                    Some((i + 1).to_string()),
                    format!("column {} of the header has no name", i + 1),
                    "give every column a name in the first line, or pass --no-header",
                ));
            }
            if let Some(j) = names[..i].iter().position(|n| n == name) {
                return Err(fail(
                    shown,
                    Some(1),
                    Some(name.clone()),
                    format!("columns {} and {} are both named `{name}`", j + 1, i + 1),
                    "give every column a distinct name in the first line",
                ));
            }
        }
    }
    for o in &options.columns {
        if !names.contains(&o.column) {
            return Err(fail(
                shown,
                None,
                Some(o.column.clone()),
                "an override names a column the file does not have".into(),
                &format!("its columns are: {}", names.join(", ")),
            ));
        }
    }
    Ok(CsvPlan {
        delimiter,
        quote,
        header,
        encoding,
        names,
    })
}

/// Walks the whole file with the plan's dialect and reports the first row that is ragged or not
/// valid UTF-8, with its line and column. Used to explain an engine error precisely.
pub fn locate_problem(path: &Path, shown: &str, plan: &CsvPlan) -> Result<(), ImportError> {
    if plan.encoding == TextEncoding::Utf16 {
        return Ok(());
    }
    let io = |e: std::io::Error| {
        fail(
            shown,
            None,
            None,
            e.to_string(),
            "check that the file can be read",
        )
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(plan.delimiter)
        .quote(plan.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let width = plan.names.len();
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Err(fail(
                    shown,
                    line,
                    None,
                    format!("the file cannot be parsed as CSV: {e}"),
                    "fix that line",
                ));
            }
        }
        let line = record.position().map(|p| p.line());
        if plan.encoding == TextEncoding::Utf8 {
            for (i, field) in record.iter().enumerate() {
                if let Err(e) = std::str::from_utf8(field) {
                    let column = if first && plan.header {
                        (i + 1).to_string()
                    } else {
                        plan.names
                            .get(i)
                            .cloned()
                            .unwrap_or_else(|| (i + 1).to_string())
                    };
                    return Err(fail(
                        shown,
                        line,
                        Some(column),
                        format!(
                            "byte {} of the field is not valid UTF-8",
                            e.valid_up_to() + 1
                        ),
                        "save the file as UTF-8, or pass --encoding latin-1 if that is what it is",
                    ));
                }
            }
        }
        if first && plan.header {
            first = false;
            continue;
        }
        first = false;
        if record.len() != width {
            return Err(fail(
                shown,
                line,
                None,
                format!(
                    "this row has {} fields, the header has {width}",
                    record.len()
                ),
                "every row needs as many fields as the header; fix that line and import again",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_common_delimiters() {
        assert_eq!(sniff(b"a,b,c\n1,2,3\n4,5,6\n", false), b',');
        assert_eq!(sniff(b"a;b;c\n1;2,5;3\n4;5;6\n", false), b';');
        assert_eq!(sniff(b"a\tb\n1\t2\n", false), b'\t');
        assert_eq!(sniff(b"a|b\n1|2\n3|4\n", false), b'|');
        assert_eq!(sniff(b"\"x,y\",b\n\"1,2\",3\n\"4,5\",6\n", false), b',');
        assert_eq!(sniff(b"only\n1\n2\n", false), b',');
    }
}

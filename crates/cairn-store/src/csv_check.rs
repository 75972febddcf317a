//! Finding a CSV file's delimiter and checking every row before DuckDB reads it.
//!
//! DuckDB's sniffer guesses a dialect from a sample and, on ragged files, can settle on a wrong
//! one and return no rows at all. Cairn decides the delimiter itself (quote-aware, with the
//! `csv` crate) and walks the file once, so a ragged row or bytes that are not UTF-8 are reported
//! with their exact line and column before anything is written.

use crate::ImportError;
use std::io::Read;
use std::path::Path;

const CANDIDATES: [u8; 4] = [b',', b'\t', b';', b'|'];
const SAMPLE_BYTES: usize = 256 * 1024;

/// The dialect Cairn hands to DuckDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    pub delimiter: u8,
    pub header: Vec<String>,
    pub data_rows: u64,
}

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

/// Sniffs the delimiter, then checks that every row has the header's field count and is UTF-8.
pub fn check(path: &Path, shown: &str) -> Result<Dialect, ImportError> {
    let fail =
        |line: Option<u64>, column: Option<String>, reason: String, hint: &str| ImportError {
            file: shown.to_string(),
            line,
            column,
            reason,
            hint: hint.to_string(),
        };
    let io = |e: std::io::Error| fail(None, None, e.to_string(), "check that the file can be read");
    let mut sample = Vec::with_capacity(SAMPLE_BYTES);
    std::fs::File::open(path)
        .map_err(io)?
        .take(SAMPLE_BYTES as u64)
        .read_to_end(&mut sample)
        .map_err(io)?;
    let prefer_tab = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("tsv"));
    let delimiter = sniff(&sample, prefer_tab);

    let file = std::fs::File::open(path).map_err(io)?;
    let mut rdr = reader(delimiter, std::io::BufReader::with_capacity(1 << 20, file));
    let mut header: Vec<String> = Vec::new();
    let mut rows = 0u64;
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    loop {
        match rdr.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Err(fail(
                    line,
                    None,
                    format!("the file cannot be parsed as CSV: {e}"),
                    "fix that line",
                ));
            }
        }
        let line = record.position().map(|p| p.line());
        for (i, field) in record.iter().enumerate() {
            if let Err(e) = std::str::from_utf8(field) {
                let column = header
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| (i + 1).to_string());
                return Err(fail(
                    line,
                    Some(column),
                    format!(
                        "byte {} of the field is not valid UTF-8",
                        e.valid_up_to() + 1
                    ),
                    "save the file as UTF-8 (for example `iconv -f latin1 -t utf-8`) and import it again",
                ));
            }
        }
        if first {
            header = record
                .iter()
                .map(|f| String::from_utf8_lossy(f).into_owned())
                .collect();
            first = false;
            continue;
        }
        if record.len() != header.len() {
            return Err(fail(
                line,
                None,
                format!(
                    "this row has {} fields, the header has {}",
                    record.len(),
                    header.len()
                ),
                "every row needs as many fields as the header; fix that line and import again",
            ));
        }
        rows += 1;
    }
    Ok(Dialect {
        delimiter,
        header,
        data_rows: rows,
    })
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

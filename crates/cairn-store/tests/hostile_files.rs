//! The hostile-file table: every file either imports correctly or fails with an error that
//! names the file and, where there is one, the line (or byte offset) and column — never a panic,
//! never a partial version.

use cairn_core::{DataType, ImportOptions, Progress};
use cairn_store::{ImportRequest, Store, StoreError};
use std::path::{Path, PathBuf};

enum Expect {
    /// Imports; then the check runs on the result.
    Ok(fn(&cairn_core::DatasetVersion, &Store)),
    /// Fails; the message holds every fragment; `line` is the reported line.
    Err {
        line: Option<u64>,
        words: &'static [&'static str],
    },
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn cell(store: &Store, v: &cairn_core::DatasetVersion, row: u64, col: usize) -> Option<String> {
    store.page(v, row, 1).unwrap().rows[0][col].clone()
}

fn wide_csv(columns: usize) -> Vec<u8> {
    let header: Vec<String> = (0..columns).map(|i| format!("c{i}")).collect();
    let row: Vec<String> = (0..columns).map(|i| i.to_string()).collect();
    format!(
        "{}\n{}\n{}\n",
        header.join(","),
        row.join(","),
        row.join(",")
    )
    .into_bytes()
}

fn parquet_bytes(dir: &Path) -> Vec<u8> {
    let store = Store::open_in_memory().unwrap();
    let csv = write(dir, "for_parquet.csv", b"a,b\n1,x\n2,y\n3,z\n");
    let v = store
        .import(
            &ImportRequest {
                path: &csv,
                name: "p",
                options: ImportOptions::default(),
            },
            &mut Progress::silent(),
        )
        .unwrap()
        .version;
    let out = dir.join("whole.parquet");
    store.export(&v, &out).unwrap();
    std::fs::read(out).unwrap()
}

#[test]
fn hostile_files_import_correctly_or_fail_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let parquet = parquet_bytes(dir.path());
    let big_field = format!("a,b\n1,{}\n2,short\n", "x".repeat(1_000_000)).into_bytes();
    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "empty.csv",
            vec![],
            Expect::Err {
                line: None,
                words: &["empty"],
            },
        ),
        (
            "header_only.csv",
            b"a,b,c\n".to_vec(),
            Expect::Err {
                line: None,
                words: &["no data rows"],
            },
        ),
        (
            "ragged_long.csv",
            b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n".to_vec(),
            Expect::Err {
                line: Some(4),
                words: &["4 fields", "header has 3"],
            },
        ),
        (
            "ragged_short.csv",
            b"a,b,c\n1,2,3\n4,5\n7,8,9\n".to_vec(),
            Expect::Err {
                line: Some(3),
                words: &["2 fields"],
            },
        ),
        (
            "ragged_last.csv",
            b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n".to_vec(),
            Expect::Err {
                line: Some(4),
                words: &["4 fields"],
            },
        ),
        (
            "corrupt_utf8.csv",
            b"a,b\n1,caf\xc3\xa9\n2,\xff bad\n3,fine\n".to_vec(),
            Expect::Err {
                line: Some(3),
                words: &["column b", "UTF-8", "--encoding latin-1"],
            },
        ),
        (
            "latin1.csv",
            b"city;n\nM\xfcnchen;1\nS\xe3o Paulo;2\n".to_vec(),
            Expect::Ok(|v, s| {
                assert_eq!(v.rows, 2);
                assert_eq!(cell(s, v, 0, 0).as_deref(), Some("München"));
                assert_eq!(cell(s, v, 1, 0).as_deref(), Some("São Paulo"));
            }),
        ),
        (
            "bom.csv",
            b"\xef\xbb\xbfid,name\n1,a\n2,b\n".to_vec(),
            Expect::Ok(|v, _| {
                assert_eq!(v.columns[0].name, "id");
                assert_eq!(v.columns[0].dtype, DataType::Integer);
            }),
        ),
        (
            "utf16.csv",
            {
                let mut b = vec![0xFF, 0xFE];
                for u in "a,b\n1,é\n2,x\n".encode_utf16() {
                    b.extend_from_slice(&u.to_le_bytes());
                }
                b
            },
            Expect::Ok(|v, s| {
                assert_eq!(v.rows, 2);
                assert_eq!(cell(s, v, 0, 1).as_deref(), Some("é"));
            }),
        ),
        (
            "quoted_newlines.csv",
            b"id,note\n1,\"first line\nsecond line\"\n2,\"with \"\"quotes\"\", and comma\"\n"
                .to_vec(),
            Expect::Ok(|v, s| {
                assert_eq!(v.rows, 2);
                assert_eq!(cell(s, v, 0, 1).as_deref(), Some("first line\nsecond line"));
                assert_eq!(
                    cell(s, v, 1, 1).as_deref(),
                    Some("with \"quotes\", and comma")
                );
            }),
        ),
        (
            "mixed_types.csv",
            b"a,b\n1,x\n2.5,y\nfoo,z\n".to_vec(),
            Expect::Ok(|v, s| {
                assert_eq!(v.columns[0].dtype, DataType::String);
                assert_eq!(cell(s, v, 2, 0).as_deref(), Some("foo"));
            }),
        ),
        (
            "duplicate_names.csv",
            b"a,b,a\n1,2,3\n".to_vec(),
            Expect::Err {
                line: Some(1),
                words: &["columns 1 and 3", "`a`"],
            },
        ),
        (
            "empty_name.csv",
            b"a,,c\n1,2,3\n".to_vec(),
            Expect::Err {
                line: Some(1),
                words: &["column 2", "no name"],
            },
        ),
        (
            "ten_thousand_columns.csv",
            wide_csv(10_000),
            Expect::Err {
                line: Some(1),
                words: &["10000 columns", "at most 1024"],
            },
        ),
        (
            "five_hundred_columns.csv",
            wide_csv(500),
            Expect::Ok(|v, _| {
                assert_eq!(v.columns.len(), 500);
                assert_eq!(v.rows, 2);
            }),
        ),
        (
            "one_megabyte_field.csv",
            big_field,
            Expect::Ok(|v, s| {
                assert_eq!(cell(s, v, 0, 1).map(|x| x.len()), Some(1_000_000));
            }),
        ),
        (
            "binary_garbage.csv",
            (0..4096u32)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
                .collect(),
            Expect::Err {
                line: None,
                words: &["binary_garbage.csv"],
            },
        ),
        (
            "truncated.parquet",
            parquet[..parquet.len() / 2].to_vec(),
            Expect::Err {
                line: None,
                words: &["Parquet"],
            },
        ),
        (
            "not_parquet.parquet",
            b"a,b\n1,2\n".to_vec(),
            Expect::Err {
                line: None,
                words: &["Parquet"],
            },
        ),
        (
            "numbers.json",
            b"[1, 2, 3]".to_vec(),
            Expect::Err {
                line: None,
                words: &["not an array of objects"],
            },
        ),
        (
            "scalar.json",
            b"\"hello\"".to_vec(),
            Expect::Err {
                line: None,
                words: &["not an array of objects"],
            },
        ),
        (
            "truncated.json",
            b"[{\"a\": 1}, {\"a\": ".to_vec(),
            Expect::Err {
                line: None,
                words: &["byte"],
            },
        ),
        (
            "empty_array.json",
            b"[]".to_vec(),
            Expect::Err {
                line: None,
                words: &["no data rows"],
            },
        ),
        (
            "records.json",
            b"[{\"a\": 1, \"b\": \"x\"}, {\"a\": 2}]".to_vec(),
            Expect::Ok(|v, s| {
                assert_eq!(v.rows, 2);
                assert_eq!(cell(s, v, 1, 1), None);
            }),
        ),
        (
            "lines.jsonl",
            b"{\"a\": 1, \"tags\": [1, 2]}\n{\"a\": 2, \"tags\": []}\n".to_vec(),
            Expect::Ok(|v, _| {
                assert_eq!(v.rows, 2);
                assert_eq!(v.column("tags").unwrap().dtype, DataType::String);
            }),
        ),
    ];
    let store = Store::open_in_memory().unwrap();
    for (name, bytes, expect) in cases {
        let path = write(dir.path(), name, &bytes);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            store.import(
                &ImportRequest {
                    path: &path,
                    name: "hostile",
                    options: ImportOptions::default(),
                },
                &mut Progress::silent(),
            )
        }))
        .unwrap_or_else(|_| panic!("{name}: the import panicked"));
        match (expect, result) {
            (Expect::Ok(check), Ok(outcome)) => {
                check(&outcome.version, &store);
                store.delete_version(&outcome.version, true).unwrap();
            }
            (Expect::Ok(_), Err(e)) => panic!("{name}: should import, failed: {e}"),
            (Expect::Err { .. }, Ok(o)) => panic!("{name}: should fail, imported {:?}", o.version),
            (Expect::Err { line, words }, Err(err)) => {
                let text = err.to_string();
                assert!(
                    text.contains(name),
                    "{name}: the error must name the file: {text}"
                );
                if let StoreError::Import(ie) = &err {
                    assert_eq!(ie.line, line, "{name}: {text}");
                } else {
                    panic!("{name}: expected an import error, got {text}");
                }
                for w in words {
                    assert!(text.contains(w), "{name}: `{w}` missing from: {text}");
                }
            }
        }
        assert!(
            store.list_versions().unwrap().is_empty(),
            "{name}: left a version behind"
        );
    }
}

#[test]
fn a_cancelled_import_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("id,x,label\n");
    for i in 0..200_000 {
        text.push_str(&format!("{i},{}.5,l{}\n", i % 977, i % 13));
    }
    let path = write(dir.path(), "big.csv", text.as_bytes());
    let store = Store::open_in_memory().unwrap();
    let mut calls = 0;
    let err = store
        .import(
            &ImportRequest {
                path: &path,
                name: "big",
                options: ImportOptions::default(),
            },
            &mut |_: &cairn_core::Step| {
                calls += 1;
                std::ops::ControlFlow::Break(())
            },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::Cancelled), "{err}");
    assert!(calls >= 1);
    assert!(store.list_versions().unwrap().is_empty());
    // The workspace stays usable: the same file imports afterwards.
    let ok = store
        .import(
            &ImportRequest {
                path: &path,
                name: "big",
                options: ImportOptions::default(),
            },
            &mut Progress::silent(),
        )
        .unwrap();
    assert_eq!(ok.version.version, 1);
    assert_eq!(ok.version.rows, 200_000);
}

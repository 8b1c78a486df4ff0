//! Generates `include/yelp_kafka.h` from the Rust sources with cbindgen,
//! and the error-code table from the doc comments of `ErrorCode`.
//!
//! The header is committed; it is rewritten only when its text changes, so
//! an unchanged API leaves the file (and its timestamp) alone.

use std::path::{Path, PathBuf};

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    write_error_table(&crate_dir.join("src").join("error.rs"), &out_dir.join("error_codes.rs"));
    write_header(&crate_dir);
}

fn write_header(crate_dir: &Path) {
    let header = crate_dir.join("include").join("yelp_kafka.h");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml is valid");
    let bindings = cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can read the crate");
    let mut text = Vec::new();
    bindings.write(&mut text);
    if std::fs::read(&header).ok().as_deref() != Some(text.as_slice()) {
        std::fs::create_dir_all(header.parent().expect("header has a parent")).expect("include/ is writable");
        std::fs::write(&header, text).expect("include/yelp_kafka.h is writable");
    }
}

/// One variant of `ErrorCode` as its doc comment describes it.
struct CodeRow {
    variant: String,
    name: String,
    retriable: bool,
    description: String,
}

/// Writes `CODE_TABLE` (see `src/error.rs`) from the variants of
/// `pub enum ErrorCode` and their doc comments, ``/// `Name` (retriable): Text.``.
fn write_error_table(source: &Path, out: &Path) {
    let text = std::fs::read_to_string(source).expect("src/error.rs is readable");
    let rows = error_rows(&text);
    let mut table = String::from("const CODE_TABLE: &[CodeInfo] = &[\n");
    for row in &rows {
        table.push_str(&format!(
            "    CodeInfo {{ code: ErrorCode::{}, name: {:?}, description: {:?}, retriable: {} }},\n",
            row.variant,
            format!("{}\0", row.name),
            format!("{}\0", row.description),
            row.retriable
        ));
    }
    table.push_str("];\n");
    std::fs::write(out, table).expect("OUT_DIR is writable");
}

fn error_rows(source: &str) -> Vec<CodeRow> {
    let body = source
        .split_once("pub enum ErrorCode {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .map(|(body, _)| body)
        .expect("src/error.rs defines `pub enum ErrorCode { ... }`");
    let mut rows = Vec::new();
    let mut doc = String::new();
    for line in body.lines().map(str::trim) {
        if let Some(text) = line.strip_prefix("///") {
            doc.push_str(text.trim());
            doc.push(' ');
        } else if let Some((variant, _value)) = line.trim_end_matches(',').split_once(" = ") {
            rows.push(code_row(variant, doc.trim()));
            doc.clear();
        }
    }
    rows
}

fn code_row(variant: &str, doc: &str) -> CodeRow {
    let malformed = || -> ! {
        panic!("ErrorCode::{variant}: its doc comment must read \"`Name` (retriable): Text.\", not {doc:?}")
    };
    let (head, description) = doc.split_once(": ").unwrap_or_else(|| malformed());
    let (name, retriable) = match head.strip_suffix(" (retriable)") {
        Some(name) => (name, true),
        None => (head, false),
    };
    let name = name
        .strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .unwrap_or_else(|| malformed());
    CodeRow {
        variant: variant.to_string(),
        name: name.to_string(),
        retriable,
        description: description.trim_end_matches('.').to_string(),
    }
}

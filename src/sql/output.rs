//! Query results out: a text table, CSV or JSON lines on a stream, or a file whose extension
//! picks the format (`.csv`, `.json` / `.jsonl`, `.parquet`).

use std::io::Write;
use std::path::Path;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

/// How `ssp-tui sql` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header.
    Table,
    /// RFC 4180 CSV with a header line.
    Csv,
    /// One JSON object per row (JSON lines).
    Json,
}

impl Format {
    /// The format a file name asks for; Parquet is `None` (binary, files only).
    fn of_path(path: &Path) -> Result<Option<Format>, String> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "csv" => Ok(Some(Format::Csv)),
            Some(e) if e == "json" || e == "jsonl" || e == "ndjson" => Ok(Some(Format::Json)),
            Some(e) if e == "parquet" => Ok(None),
            _ => Err(format!(
                "{}: expected a file name ending in .csv, .json, .jsonl or .parquet",
                path.display()
            )),
        }
    }
}

/// "row" or "rows".
pub fn rows_noun(n: usize) -> &'static str {
    if n == 1 {
        "row"
    } else {
        "rows"
    }
}

/// Writes `batches` to `out` in `format`.
pub fn write(
    out: &mut dyn Write,
    format: Format,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), String> {
    let e = |e: arrow::error::ArrowError| e.to_string();
    match format {
        Format::Table => {
            let text = if batches.is_empty() {
                arrow::util::pretty::pretty_format_batches(&[RecordBatch::new_empty(
                    schema.clone(),
                )])
            } else {
                arrow::util::pretty::pretty_format_batches(batches)
            }
            .map_err(e)?;
            writeln!(out, "{text}").map_err(|e| e.to_string())
        }
        Format::Csv => {
            let mut w = arrow_csv::WriterBuilder::new().with_header(true).build(out);
            if batches.is_empty() {
                w.write(&RecordBatch::new_empty(schema.clone()))
                    .map_err(e)?;
            }
            for b in batches {
                w.write(b).map_err(e)?;
            }
            Ok(())
        }
        Format::Json => {
            let mut w = arrow_json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b).map_err(e)?;
            }
            w.finish().map_err(e)
        }
    }
}

/// Writes a result to `path` in the format its extension names, through a temporary file
/// renamed into place (a reader never sees half a file).
pub fn export(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<(), String> {
    let format = Format::of_path(path)?;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // Readable by others as any new file would be (the umask applies), not 0600.
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    match format {
        Some(f) => {
            let mut buf = std::io::BufWriter::new(tmp.as_file_mut());
            write(&mut buf, f, schema, batches)?;
            buf.flush().map_err(|e| e.to_string())?;
        }
        None => {
            let mut w =
                parquet::arrow::ArrowWriter::try_new(tmp.as_file_mut(), schema.clone(), None)
                    .map_err(|e| e.to_string())?;
            for b in batches {
                w.write(b).map_err(|e| e.to_string())?;
            }
            w.close().map_err(|e| e.to_string())?;
        }
    }
    tmp.as_file().sync_all().map_err(|e| e.to_string())?;
    tmp.persist(path)
        .map_err(|e| format!("{}: {}", path.display(), e.error))?;
    Ok(())
}

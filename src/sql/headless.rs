//! `ssp-tui sql "select …" [--format table|csv|json] [--out FILE]`: one query, printed or
//! written; exit 0, or 2 with the message and the position marked for an SQL error.

use std::io::Write;
use std::path::Path;

use super::{output, Format, SqlEngine};
use crate::config::Settings;

/// How to run and print one query.
#[derive(Debug, Clone, Copy)]
pub struct Options<'a> {
    pub format: Format,
    /// Write the result here instead of printing it.
    pub out_file: Option<&'a Path>,
    /// Print rows and times to `err`.
    pub timing: bool,
    /// Runs in the same engine (the last result is the output).
    pub repeat: u32,
    /// Each run in a new engine instead.
    pub fresh: bool,
}

/// Runs `sql` and returns the exit code; the result goes to `out` (or the file
/// `opts.out_file`), errors to `err`.
pub async fn run(
    settings: &Settings,
    sql: &str,
    opts: Options<'_>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    let Options {
        format,
        out_file,
        timing,
        repeat,
        fresh,
    } = opts;
    let mut engine = None;
    let mut result = None;
    for _ in 0..repeat.max(1) {
        let mut current = match engine.take() {
            Some(e) if !fresh => e,
            _ => match SqlEngine::new(settings, settings.sql.memory_mb) {
                Ok(e) => e,
                Err(e) => {
                    let _ = writeln!(err, "error: {e}");
                    return 1;
                }
            },
        };
        let run = current.run(sql, usize::MAX).await;
        engine = Some(current);
        let r = match run {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(err, "error: {}", e.message);
                if let Some((line, caret)) = e.pointer(sql) {
                    let (l, c) = e.position.unwrap_or_default();
                    let _ = writeln!(err, "  at line {l}, column {c}:\n  {line}\n  {caret}");
                }
                return 2;
            }
        };
        if timing {
            let _ = writeln!(
                err,
                "{} {} in {:.4} s (opening tables {:.4} s, planning {:.4} s)",
                r.rows,
                output::rows_noun(r.rows),
                r.elapsed.as_secs_f64(),
                r.opening.as_secs_f64(),
                r.planning.as_secs_f64()
            );
        }
        result = Some(r);
    }
    let Some(result) = result else {
        return 1;
    };
    let written = match out_file {
        Some(path) => output::export(path, &result.schema, &result.batches).map(|()| {
            let _ = writeln!(
                err,
                "{} {} written to {} in {:.3} s",
                result.rows,
                output::rows_noun(result.rows),
                path.display(),
                result.elapsed.as_secs_f64()
            );
        }),
        None => output::write(out, format, &result.schema, &result.batches),
    };
    match written {
        Ok(()) => 0,
        // A closed pipe (`| head`) is the reader's choice, not an error.
        Err(e) if e.contains("Broken pipe") => 0,
        Err(e) => {
            let _ = writeln!(err, "error: {e}");
            1
        }
    }
}

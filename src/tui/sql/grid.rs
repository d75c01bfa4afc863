//! The result grid: a finished result as one batch ([`Grid`]), sorted on demand, and the
//! pane's methods that fill it and move around in it.

use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::SortOptions;

use super::{SqlFocus, SqlView};
use crate::sql::QueryResult;

/// A finished result as the grid shows it: one batch, sorted on demand.
pub struct Grid {
    pub batch: RecordBatch,
    pub rows: usize,
    pub truncated: bool,
    pub elapsed_ms: f64,
    /// Column chosen with ←/→ (sorts with `s`); the first column stays in view.
    pub column: usize,
    /// First row shown.
    pub scroll: usize,
    /// Sorted by (column, descending).
    pub sort: Option<(usize, bool)>,
    pub at: Instant,
    pub live: bool,
}

impl SqlView {
    /// Shows a small text table in the grid (`:tables`, `:examples`).
    pub fn show_text(&mut self, columns: &[&str], rows: Vec<Vec<String>>) {
        use arrow::array::{ArrayRef, StringArray};
        use arrow::datatypes::{DataType, Field, Schema};
        let schema = std::sync::Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(*c, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let arrays: Vec<ArrayRef> = (0..columns.len())
            .map(|i| {
                std::sync::Arc::new(StringArray::from(
                    rows.iter().map(|r| r.get(i).cloned()).collect::<Vec<_>>(),
                )) as ArrayRef
            })
            .collect();
        let Ok(batch) = RecordBatch::try_new(schema.clone(), arrays) else {
            return;
        };
        self.show(
            QueryResult {
                schema,
                rows: batch.num_rows(),
                batches: vec![batch],
                truncated: false,
                elapsed: std::time::Duration::ZERO,
                opening: std::time::Duration::ZERO,
                planning: std::time::Duration::ZERO,
            },
            false,
        );
        self.error = None;
        self.focus = SqlFocus::Grid;
    }

    pub(super) fn show(&mut self, r: QueryResult, live: bool) {
        let batch = if r.batches.is_empty() {
            RecordBatch::new_empty(r.schema.clone())
        } else {
            arrow::compute::concat_batches(&r.schema, &r.batches)
                .unwrap_or_else(|_| RecordBatch::new_empty(r.schema.clone()))
        };
        self.grid = Some(Grid {
            batch,
            rows: r.rows,
            truncated: r.truncated,
            elapsed_ms: r.elapsed.as_secs_f64() * 1000.0,
            column: 0,
            scroll: 0,
            sort: None,
            at: Instant::now(),
            live,
        });
    }
    /// Grid: rows down (negative: up).
    pub fn scroll(&mut self, delta: isize) {
        if let Some(g) = &mut self.grid {
            let max = g.batch.num_rows().saturating_sub(1) as isize;
            g.scroll = (g.scroll as isize + delta).clamp(0, max.max(0)) as usize;
        }
    }

    /// Grid: the selected column, right (negative: left).
    pub fn move_column(&mut self, delta: isize) {
        if let Some(g) = &mut self.grid {
            let max = g.batch.num_columns().saturating_sub(1) as isize;
            g.column = (g.column as isize + delta).clamp(0, max.max(0)) as usize;
        }
    }

    /// Grid: sort by the selected column; again reverses. The footer message.
    pub fn sort_selected(&mut self) -> Option<String> {
        let g = self.grid.as_mut()?;
        let desc = match g.sort {
            Some((c, d)) if c == g.column => !d,
            _ => false,
        };
        let c = g.column;
        g.sort(c, desc);
        let name = g.batch.schema().field(c).name().clone();
        Some(format!(
            "sorted by {name} {}",
            if desc { "descending" } else { "ascending" }
        ))
    }
}

impl Grid {
    /// Sorts the kept rows by `column` (nulls last).
    pub fn sort(&mut self, column: usize, descending: bool) {
        let Some(array) = self.batch.columns().get(column) else {
            return;
        };
        let opts = SortOptions {
            descending,
            nulls_first: false,
        };
        if let Ok(idx) = arrow::compute::sort_to_indices(array, Some(opts), None) {
            if let Ok(b) = arrow::compute::take_record_batch(&self.batch, &idx) {
                self.batch = b;
                self.sort = Some((column, descending));
                self.scroll = 0;
            }
        }
    }
}

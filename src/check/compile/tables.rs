//! Lookup tables, inline or from a CSV read by `load`, with keys normalised per input.

use std::collections::HashMap;
use std::sync::Arc;

use sha2::Digest;

use super::{Compiler, TableRows};
use crate::diag::{did_you_mean, Code, FileId, Span};
use crate::program::*;
use crate::syntax::ast;

impl Compiler<'_> {
    /// The table's entries with keys normalised by `input`'s pipeline (once per pair).
    pub(super) fn table_for(
        &mut self,
        name: &ast::Ident,
        input: InputId,
    ) -> Option<Arc<HashMap<String, Arc<str>>>> {
        if let Some(map) = self.table_uses.get(&(name.name.clone(), input)) {
            return Some(map.clone());
        }
        self.use_table(name)?;
        let rows = self.tables.get(&name.name)?.as_ref()?;
        let mut map: HashMap<String, Arc<str>> = HashMap::new();
        let mut first_at: HashMap<String, (String, Span, Option<usize>)> = HashMap::new();
        let mut duplicates = Vec::new();
        for ((key, value, span), line) in rows.rows.iter().zip(&rows.lines) {
            let normalized = self.normalize(input, key);
            if let Some((first_key, first_span, first_line)) = first_at.get(&normalized) {
                duplicates.push((
                    key.clone(),
                    *span,
                    *line,
                    first_key.clone(),
                    *first_span,
                    *first_line,
                    normalized.clone(),
                ));
                continue;
            }
            first_at.insert(normalized.clone(), (key.clone(), *span, *line));
            map.insert(normalized, Arc::from(value.as_str()));
        }
        let input_name = self
            .inputs
            .get(input.0)
            .map(|i| i.name.to_string())
            .unwrap_or_default();
        for (key, span, line, first_key, first_span, first_line, normalized) in duplicates {
            let (here, there) = match (line, first_line) {
                (Some(l), Some(f)) => (format!("row {l}"), format!("row {f}")),
                _ => (format!("`{key}`"), self.sources.cite(first_span)),
            };
            self.error_help(
                Code::DuplicateKey,
                span,
                format!("table `{}`: {here} (`{key}`) and {there} (`{first_key}`) are the same key `{normalized}` once normalised like input `{input_name}`", name.name),
                Some("keep one of them".into()),
            );
        }
        let map = Arc::new(map);
        self.table_uses
            .insert((name.name.clone(), input), map.clone());
        Some(map)
    }

    /// A table's rows, loaded (and its problems reported) on first use; marks it used.
    pub(super) fn use_table(&mut self, name: &ast::Ident) -> Option<&TableRows> {
        if !self.tables.contains_key(&name.name) {
            let rows = self.load_table(name);
            self.tables.insert(name.name.clone(), rows);
        }
        self.used_tables.insert(name.name.clone());
        self.tables.get(&name.name)?.as_ref()
    }

    pub(super) fn load_table(&mut self, name: &ast::Ident) -> Option<TableRows> {
        let Some((decl, file)) = self.table_decls.get(&name.name).cloned() else {
            let help = did_you_mean(&name.name, self.table_decls.keys().map(String::as_str));
            self.error_help(
                Code::UnknownList,
                name.span,
                format!("no table `{}`", name.name),
                help,
            );
            return None;
        };
        match &decl.source {
            ast::TableSource::Inline(entries) => Some(TableRows {
                rows: entries
                    .iter()
                    .map(|e| (e.key.value.clone(), e.value.value.clone(), e.key.span))
                    .collect(),
                lines: vec![None; entries.len()],
            }),
            ast::TableSource::Csv { path, key, value } => {
                self.load_table_csv(file, path, key.as_ref(), value.as_ref())
            }
        }
    }

    pub(super) fn load_table_csv(
        &mut self,
        file: FileId,
        path: &ast::Str,
        key: Option<&ast::Str>,
        value: Option<&ast::Str>,
    ) -> Option<TableRows> {
        let bytes = match self.table_files.get(&(file, path.value.clone())) {
            Some(Ok(bytes)) => bytes.clone(),
            Some(Err(message)) => {
                self.error(Code::Io, path.span, message.clone());
                return None;
            }
            // `load` reads every CSV table that a loaded file declares.
            None => {
                self.error(
                    Code::Io,
                    path.span,
                    format!("table CSV `{}` was not read", path.value),
                );
                return None;
            }
        };
        self.hasher.update(&bytes);
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_reader(bytes.as_slice());
        let header: Vec<String> = match reader.headers() {
            Ok(h) => h
                .iter()
                .map(|c| c.trim_start_matches('\u{feff}').trim().to_string())
                .collect(),
            Err(error) => {
                self.error(
                    Code::BadTable,
                    path.span,
                    format!("`{}`: {error}", path.value),
                );
                return None;
            }
        };
        let column =
            |wanted: Option<&ast::Str>, default: usize, this: &mut Self| -> Option<usize> {
                match wanted {
                    None if header.len() > default => Some(default),
                    None => {
                        this.error(
                            Code::BadTable,
                            path.span,
                            format!("`{}` needs at least two columns (key, value)", path.value),
                        );
                        None
                    }
                    Some(name) => match header
                        .iter()
                        .position(|h| h.eq_ignore_ascii_case(&name.value))
                    {
                        Some(index) => Some(index),
                        None => {
                            let help = did_you_mean(&name.value, header.iter().map(String::as_str));
                            this.error_help(
                                Code::BadTable,
                                name.span,
                                format!("`{}` has no column `{}`", path.value, name.value),
                                help,
                            );
                            None
                        }
                    },
                }
            };
        let key_column = column(key, 0, self)?;
        let value_column = column(value, 1, self)?;
        let mut rows = Vec::new();
        let mut lines = Vec::new();
        for (index, record) in reader.records().enumerate() {
            let line = index + 2;
            match record {
                Ok(record) => match (record.get(key_column), record.get(value_column)) {
                    (Some(k), Some(v)) => {
                        rows.push((k.to_string(), v.to_string(), path.span));
                        lines.push(Some(line));
                    }
                    _ => self.error(
                        Code::BadTable,
                        path.span,
                        format!(
                            "`{}` row {line}: missing the key or value column",
                            path.value
                        ),
                    ),
                },
                Err(error) => self.error(
                    Code::BadTable,
                    path.span,
                    format!("`{}` row {line}: {error}", path.value),
                ),
            }
        }
        Some(TableRows { rows, lines })
    }
}

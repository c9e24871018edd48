//! Source files and byte spans, and turning a span into line and column.

use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub usize);

/// A byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Self { file, start, end }
    }

    /// From the start of `self` to the end of `other` (same file).
    pub fn to(self, other: Span) -> Span {
        Span::new(
            self.file,
            self.start.min(other.start),
            self.end.max(other.end),
        )
    }
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    /// Where the file was read from (relative paths resolve against its folder).
    pub path: PathBuf,
    /// How messages name the file: the path as given on the command line or in `extends`.
    pub name: String,
    pub text: String,
}

/// Every file one load read, indexed by [`FileId`].
#[derive(Debug, Clone, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

/// A span resolved to a 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub line_text: String,
    /// Byte offset of the span's start within `line_text`.
    pub column_byte: usize,
    /// Characters to underline (the span, cut at the end of its first line).
    pub caret_width: usize,
}

impl Sources {
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        FileId(self.files.len() - 1)
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0)
    }

    pub fn files(&self) -> &[SourceFile] {
        &self.files
    }

    /// The name of the file `span` is in.
    pub fn name(&self, id: FileId) -> &str {
        self.get(id).map_or("<unknown>", |f| f.name.as_str())
    }

    /// `file:line` of a span: how traces and profiles cite a rule.
    pub fn cite(&self, span: Span) -> String {
        let place = self.locate(span);
        format!("{}:{}", place.file, place.line)
    }

    pub fn locate(&self, span: Span) -> Place {
        let Some(file) = self.get(span.file) else {
            return Place {
                file: "<unknown>".into(),
                line: 0,
                column: 0,
                line_text: String::new(),
                column_byte: 0,
                caret_width: 1,
            };
        };
        let text = &file.text;
        let start = floor_char_boundary(text, span.start.min(text.len()));
        let end = floor_char_boundary(text, span.end.clamp(start, text.len()));
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].matches('\n').count() + 1;
        let line_text = text[line_start..line_end]
            .trim_end_matches('\r')
            .to_string();
        let column_byte = (start - line_start).min(line_text.len());
        let column = line_text[..column_byte].chars().count() + 1;
        let caret_width = text[start..end.min(line_end).max(start)].chars().count();
        Place {
            file: file.name.clone(),
            line,
            column,
            line_text,
            column_byte,
            caret_width,
        }
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while index > 0 && !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

//! The README section the reference lives in, between two HTML comments.

use thiserror::Error;

/// Opens the generated section.
pub const BEGIN: &str = "<!-- crd-reference:begin -->";
/// Closes the generated section.
pub const END: &str = "<!-- crd-reference:end -->";

/// The markers are missing, repeated or out of order.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("expected one `{BEGIN}` line followed by one `{END}` line")]
pub struct MarkerError;

/// The generated text between the markers (without them).
pub fn section(document: &str) -> Result<&str, MarkerError> {
    let (start, end) = bounds(document)?;
    Ok(&document[start..end])
}

/// `document` with the text between the markers replaced by `reference`.
pub fn splice(document: &str, reference: &str) -> Result<String, MarkerError> {
    let (start, end) = bounds(document)?;
    let mut out = String::with_capacity(document.len() + reference.len());
    out.push_str(&document[..start]);
    out.push_str(reference);
    if !reference.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&document[end..]);
    Ok(out)
}

/// Byte range of the section: after the BEGIN line, up to the END line.
fn bounds(document: &str) -> Result<(usize, usize), MarkerError> {
    let line_at = |marker: &str| -> Result<usize, MarkerError> {
        let mut found = document
            .match_indices(marker)
            .map(|(at, _)| at)
            .filter(|&at| at == 0 || document[..at].ends_with('\n'));
        let first = found.next().ok_or(MarkerError)?;
        match found.next() {
            Some(_) => Err(MarkerError),
            None => Ok(first),
        }
    };
    let begin = line_at(BEGIN)?;
    let end = line_at(END)?;
    let start = document[begin..]
        .find('\n')
        .map(|n| begin + n + 1)
        .ok_or(MarkerError)?;
    if end < start {
        return Err(MarkerError);
    }
    Ok((start, end))
}

/// Why a Markdown file's section could not be rewritten.
#[derive(Debug, Error)]
pub enum UpdateError {
    /// Reading or writing the file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What failed.
        #[source]
        source: std::io::Error,
    },
    /// The file lacks the markers.
    #[error("{path}: {source}")]
    Markers {
        /// The file.
        path: String,
        /// What is wrong with them.
        #[source]
        source: MarkerError,
    },
}

/// Rewrites the section of the Markdown file at `path` with `reference`;
/// returns whether the file changed.
pub fn update_file(path: &std::path::Path, reference: &str) -> Result<bool, UpdateError> {
    let name = path.display().to_string();
    let io = |source| UpdateError::Io {
        path: name.clone(),
        source,
    };
    let document = std::fs::read_to_string(path).map_err(io)?;
    let updated = splice(&document, reference).map_err(|source| UpdateError::Markers {
        path: name.clone(),
        source,
    })?;
    if updated == document {
        return Ok(false);
    }
    std::fs::write(path, updated).map_err(io)?;
    Ok(true)
}

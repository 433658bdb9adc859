//! `traceval extract --suggest --traces FILE`: which preset finds a query,
//! an answer and documents in these traces, printed as the `extraction:`
//! block of a task with what it found in the first trace as comments.
//!
//! Each preset is applied to the first [`MAX_TRACES`] traces; the one that
//! finds query and answer in the most traces wins (then contexts, then the
//! order of [`ExtractionPreset::ALL`]). When no preset finds both, the block
//! says so and points at `--spans`.

use std::io::Write;
use std::path::Path;

use crate::api::evaluationtask::{ExtractionPreset, ExtractionSpec};
use crate::evaluate::error::{CliError, output_error, source_error};
use crate::evaluate::extract::{Extracted, Extractor};
use crate::evaluate::source::{SourceError, for_each_trace};
use crate::evaluate::trace::Trace;

/// Traces read at most.
pub const MAX_TRACES: usize = 200;

/// How one preset fared.
struct Score {
    preset: ExtractionPreset,
    both: usize,
    contexts: usize,
    first: Option<Extracted>,
}

/// Reads up to [`MAX_TRACES`] traces of `path` and writes the suggestion to `out`.
pub fn suggest(path: &Path, out: &mut dyn Write) -> Result<(), CliError> {
    let mut traces: Vec<Trace> = Vec::new();
    let read = for_each_trace(path, &mut |trace| {
        traces.push(trace);
        if traces.len() >= MAX_TRACES {
            // Enough to judge by: stop reading.
            return Err(SourceError::Read {
                path: String::new(),
                source: std::io::Error::other("enough traces"),
            });
        }
        Ok(())
    });
    if let Err(error) = read
        && traces.len() < MAX_TRACES
    {
        return Err(source_error(error));
    }
    let scores = ExtractionPreset::ALL
        .into_iter()
        .map(|preset| score(preset, &traces))
        .collect::<Result<Vec<_>, _>>()?;
    let best = scores
        .iter()
        .enumerate()
        .max_by_key(|(i, s)| (s.both, s.contexts, std::cmp::Reverse(*i)))
        .map(|(_, s)| s);
    write(out, best, traces.len()).map_err(output_error)
}

fn score(preset: ExtractionPreset, traces: &[Trace]) -> Result<Score, CliError> {
    let spec = ExtractionSpec {
        preset: Some(preset),
        ..ExtractionSpec::default()
    };
    let extractor = Extractor::new(&spec).map_err(|e| CliError::Run(e.to_string()))?;
    let mut score = Score {
        preset,
        both: 0,
        contexts: 0,
        first: None,
    };
    for trace in traces {
        let found = extractor.extract(trace);
        if found.query.is_some() && found.answer.is_some() {
            score.both += 1;
            if !found.contexts.is_empty() {
                score.contexts += 1;
            }
            if score.first.is_none() {
                score.first = Some(found);
            }
        }
    }
    Ok(score)
}

fn write(out: &mut dyn Write, best: Option<&Score>, read: usize) -> std::io::Result<()> {
    let Some(best) = best.filter(|s| s.both > 0) else {
        writeln!(
            out,
            "# traceval extract --suggest: no preset finds a query and an answer in the {read} traces read."
        )?;
        writeln!(
            out,
            "# Look at the span objects (traceval extract --task T --traces F --spans) and write rules;"
        )?;
        return writeln!(
            out,
            "# see the README, \"Getting extraction settings right\"."
        );
    };
    writeln!(
        out,
        "# traceval extract --suggest: preset {} finds query and answer in {} of {read} traces, documents in {}.",
        best.preset.as_str(),
        best.both,
        best.contexts
    )?;
    if let Some(first) = &best.first {
        writeln!(out, "# In trace {}:", first.trace_id)?;
        let shown = |v: &Option<String>| v.as_deref().map(short).unwrap_or_default();
        writeln!(out, "#   query:  {}", shown(&first.query))?;
        writeln!(out, "#   answer: {}", shown(&first.answer))?;
        for (i, context) in first.contexts.iter().take(3).enumerate() {
            writeln!(out, "#   context {}: {}", i + 1, short(context))?;
        }
    }
    writeln!(out, "  extraction:")?;
    writeln!(out, "    preset: {}", best.preset.as_str())?;
    if best.contexts == 0 {
        writeln!(
            out,
            "    # no documents found: add a context rule for faithfulness and retrieval metrics"
        )?;
    }
    Ok(())
}

/// One line of at most 100 characters.
fn short(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(100) {
        Some((end, _)) => format!("{}...", &line[..end]),
        None => line,
    }
}

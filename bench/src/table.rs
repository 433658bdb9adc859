//! The one table `make bench` prints, and the notes under it.

use std::fmt::Write;

/// Whether a row's goal is met.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Met {
    /// Met.
    Yes,
    /// Not met.
    No,
    /// No goal: a figure to report.
    Info,
    /// Could not be measured in this run.
    NotMeasured,
}

impl Met {
    /// From a comparison.
    pub fn from(ok: bool) -> Self {
        if ok { Self::Yes } else { Self::No }
    }

    fn text(self) -> &'static str {
        match self {
            Self::Yes => "**met**",
            Self::No => "**not met**",
            Self::Info => "—",
            Self::NotMeasured => "not measured",
        }
    }
}

/// One row of the table.
#[derive(Clone, Debug)]
pub struct Row {
    /// Issue row number, e.g. `6` or `7b`.
    pub id: String,
    /// What is measured.
    pub what: String,
    /// traceval's figure: median (min–max) unit.
    pub figure: String,
    /// The baseline's figure, run in the same process.
    pub baseline: String,
    /// figure / baseline, as the goal states it.
    pub ratio: String,
    /// The goal.
    pub goal: String,
    /// Met or not.
    pub met: Met,
    /// Details, shown under the table.
    pub note: String,
}

impl Row {
    /// A row that could not be measured, with why.
    pub fn not_measured(id: &str, what: &str, goal: &str, why: &str) -> Self {
        Self {
            id: id.into(),
            what: what.into(),
            figure: "—".into(),
            baseline: "—".into(),
            ratio: "—".into(),
            goal: goal.into(),
            met: Met::NotMeasured,
            note: why.into(),
        }
    }
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The rows as a Markdown table followed by one note per row.
pub fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | Measure | traceval: median (min–max) | Baseline, same run | Ratio | Goal | Met |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            cell(&r.id),
            cell(&r.what),
            cell(&r.figure),
            cell(&r.baseline),
            cell(&r.ratio),
            cell(&r.goal),
            r.met.text()
        );
    }
    let notes: Vec<&Row> = rows.iter().filter(|r| !r.note.is_empty()).collect();
    if !notes.is_empty() {
        out.push_str("\nNotes per row:\n\n");
        for r in notes {
            let _ = writeln!(out, "- **{}**: {}", r.id, r.note);
        }
    }
    out
}

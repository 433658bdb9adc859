//! `tvbench extract-probe`: the fix row 8's profile points at, tried on
//! traceval's own library without touching it. `--mode current` is what
//! `traceval extract` does (one `serde_json::from_reader` over a
//! `BufReader`, every trace collected, then extracted); `--mode stream`
//! reads one line at a time into a reused buffer, parses it with
//! `serde_json::from_slice` and extracts and prints its traces before the
//! next line — valid when no trace spans two lines (true of Jaeger api_v3
//! answers and of these generated files), which the product would have to
//! check or document.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use traceval::evaluate::extract::Extractor;
use traceval::evaluate::normalise::TraceCollector;
use traceval::evaluate::report::{ExtractLine, write_line};
use traceval::evaluate::source::otlp::Envelope;

/// Runs the probe; prints one line per trace to stdout.
pub fn run(task: &Path, traces: &Path, stream: bool) -> Result<(), String> {
    let task = traceval::evaluate::task::load(task).map_err(|e| e.to_string())?;
    let extractor = Extractor::new(&task.spec.extraction).map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if !stream {
        let all = traceval::evaluate::source::read_traces(traces).map_err(|e| e.to_string())?;
        for trace in &all {
            let found = extractor.extract(trace);
            write_line(&mut out, &ExtractLine::from(&found)).map_err(|e| e.to_string())?;
        }
        return out.flush().map_err(|e| e.to_string());
    }
    let mut reader =
        BufReader::with_capacity(1 << 20, File::open(traces).map_err(|e| e.to_string())?);
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader
            .read_until(b'\n', &mut line)
            .map_err(|e| e.to_string())?
            == 0
        {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let envelope: Envelope = serde_json::from_slice(&line).map_err(|e| e.to_string())?;
        let mut collector = TraceCollector::default();
        collector.add(envelope);
        for trace in collector.finish() {
            let found = extractor.extract(&trace);
            write_line(&mut out, &ExtractLine::from(&found)).map_err(|e| e.to_string())?;
        }
    }
    out.flush().map_err(|e| e.to_string())
}

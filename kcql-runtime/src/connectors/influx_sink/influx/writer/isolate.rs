//! Finding exactly which lines of a refused batch InfluxDB refused: confirming the lines its
//! message points at, and bisecting a rejection that names none.

use std::collections::BTreeMap;

use super::super::batch::Lines;
use super::super::classify;
use super::super::error::WriteError;
use super::InfluxWriter;

/// What [`InfluxWriter::write_isolating`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteReport {
    /// Lines InfluxDB refused, ascending by line number: poison records. Every other line was
    /// accepted.
    pub rejected: Vec<RejectedLine>,
    /// HTTP requests sent.
    pub requests: usize,
}

/// One line InfluxDB refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    /// Its index in the lines written.
    pub line: usize,
    /// InfluxDB's message about the request that isolated it.
    pub message: String,
}

impl InfluxWriter {
    /// Writes `lines` and, when InfluxDB refuses part of them, finds exactly which lines it
    /// refused, so that every other line is known to be stored. Every request is sent once: any
    /// other failure (a transient one included, for the caller to retry) is returned as it
    /// comes, and then nothing can be assumed about which lines were written.
    ///
    /// InfluxDB 1.6.7 names only the first reason of a partial write, and with points in
    /// several shards only one shard's reason and count (field types are per shard), so the
    /// lines of one [`WriteError::Rejected`] can be too few or, across shards, too many. Here a
    /// line counts as refused only when InfluxDB quoted it as unparseable (or the 2.x API gave
    /// its number), or when it was refused in a request where every point was dropped
    /// (`dropped=` equal to the number of lines sent, or a single line). Otherwise the lines
    /// InfluxDB's message points at are sent again on their own, the rest is sent again, and
    /// a rejection naming no line (or a `413`) is split in halves.
    ///
    /// Lines that may already be stored are re-sent, which is harmless when every line carries
    /// its own timestamp (the point is overwritten with the same values); a line without a
    /// timestamp would be stored again at a new server time.
    pub async fn write_isolating(&self, lines: Lines<'_>) -> Result<WriteReport, WriteError> {
        let mut report = WriteReport::default();
        let mut rejected: BTreeMap<usize, String> = BTreeMap::new();
        let mut pending: Vec<Vec<usize>> = vec![(0..lines.len()).collect()];
        // The body and line ranges of a part re-sent on its own.
        let (mut buf, mut ranges) = (Vec::new(), Vec::new());
        while let Some(set) = pending.pop() {
            if set.is_empty() {
                continue;
            }
            // Parts are ascending and distinct: one as long as `lines` is all of them.
            let sent = if set.len() == lines.len() {
                lines
            } else {
                buf.clear();
                ranges.clear();
                for &i in &set {
                    let start = buf.len();
                    buf.extend_from_slice(lines.line(i));
                    ranges.push(start..buf.len());
                    buf.push(b'\n');
                }
                Lines::from_parts(&buf, &ranges)
            };
            report.requests += 1;
            let (message, dropped, named) = match self.write(sent).await {
                Ok(()) => continue,
                Err(WriteError::Rejected {
                    message,
                    dropped,
                    lines,
                }) => (message, dropped, lines),
                Err(WriteError::Malformed { message, lines }) => (message, None, lines),
                Err(WriteError::TooLarge { message, .. }) => (message, None, Vec::new()),
                Err(other) => return Err(other),
            };
            // Sure: quoted (or numbered by the server). Suspected: matched by field.
            let by_field = classify::identify(&message, sent).by_field;
            let sure: Vec<usize> = named
                .iter()
                .copied()
                .filter(|k| by_field.binary_search(k).is_err())
                .collect();
            let everything_dropped =
                set.len() == 1 || dropped.is_some_and(|d| d + sure.len() >= set.len());
            if everything_dropped {
                for &line in &set {
                    rejected.insert(line, message.clone());
                }
                continue;
            }
            let mut suspects = Vec::new();
            let mut rest = Vec::new();
            for (k, &line) in set.iter().enumerate() {
                if sure.binary_search(&k).is_ok() {
                    rejected.insert(line, message.clone());
                } else if by_field.binary_search(&k).is_ok() {
                    suspects.push(line);
                } else {
                    rest.push(line);
                }
            }
            if suspects.is_empty() && sure.is_empty() {
                // Nothing named: halve.
                let (a, b) = set.split_at(set.len() / 2);
                pending.push(b.to_vec());
                pending.push(a.to_vec());
            } else if rest.is_empty() && sure.is_empty() {
                // Every line is a suspect, yet not all were dropped: halve the suspects.
                let (a, b) = suspects.split_at(suspects.len() / 2);
                pending.push(b.to_vec());
                pending.push(a.to_vec());
            } else {
                pending.push(rest);
                pending.push(suspects);
            }
        }
        report.rejected = rejected
            .into_iter()
            .map(|(line, message)| RejectedLine { line, message })
            .collect();
        Ok(report)
    }
}

#[cfg(test)]
mod tests;

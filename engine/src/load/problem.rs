//! The problems a load reports: [`Location`], [`Problem`] and [`LoadErrors`].
//!
//! Every problem names the file, the path of the offending node inside the document
//! (`scenarios[0].steps[2].request.url`), its 1-based line and column, and a message saying
//! what was expected.

use std::fmt;

use serde::Serialize;

/// A position in a source file; line and column are both 1-based (columns count characters).
#[derive(Serialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The line, starting at 1.
    pub line: usize,
    /// The column, starting at 1, counted in characters.
    pub column: usize,
}

impl Location {
    /// The first character of a file.
    pub const START: Location = Location { line: 1, column: 1 };

    /// A location from a saphyr marker (its lines are 1-based, its columns 0-based).
    pub(crate) fn from_marker(marker: &saphyr_parser::Marker) -> Location {
        Location {
            line: marker.line().max(1),
            column: marker.col().saturating_add(1),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// One thing wrong with a simulation file.
#[derive(Serialize, Debug, Clone, PartialEq)]
pub struct Problem {
    /// The file, as named by the caller.
    pub file: String,
    /// The path of the offending node (`scenarios[0].steps[2].request`); empty for the root.
    pub path: String,
    /// Where the offending node starts, when known.
    pub location: Option<Location>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl Problem {
    /// A problem with no position in the file, such as an I/O error.
    pub fn unlocated(file: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            path: String::new(),
            location: None,
            message: message.into(),
        }
    }

    /// A problem at `location` of `file`, about the node at `path`.
    pub fn at(
        file: impl Into<String>,
        path: impl Into<String>,
        location: Location,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.into(),
            path: path.into(),
            location: Some(location),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    /// `file:line:column: path: message`; the path part is left out when empty, the location
    /// when unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if let Some(loc) = self.location {
            write!(f, ":{}:{}", loc.line, loc.column)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

/// Everything wrong with a simulation; displayed as one problem per line.
#[derive(Debug, Default, thiserror::Error)]
#[error("{}", render_lines(.problems))]
pub struct LoadErrors {
    /// The problems, in the order they were found.
    pub problems: Vec<Problem>,
}

impl LoadErrors {
    /// Errors made of a single problem.
    pub fn single(problem: Problem) -> Self {
        LoadErrors {
            problems: vec![problem],
        }
    }

    /// Whether no problem was recorded.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Records one more problem.
    pub fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }
}

impl From<Problem> for LoadErrors {
    fn from(problem: Problem) -> Self {
        LoadErrors::single(problem)
    }
}

/// The problems, one per line.
fn render_lines(problems: &[Problem]) -> String {
    let lines: Vec<String> = problems.iter().map(Problem::to_string).collect();
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_display_has_every_part() {
        let p = Problem::at(
            "sim.yaml",
            "scenarios[0].steps[2].request",
            Location {
                line: 12,
                column: 7,
            },
            "unknown field `urll`",
        );
        assert_eq!(
            p.to_string(),
            "sim.yaml:12:7: scenarios[0].steps[2].request: unknown field `urll`"
        );
    }

    #[test]
    fn problem_display_omits_missing_parts() {
        let p = Problem::unlocated("sim.yaml", "cannot read");
        assert_eq!(p.to_string(), "sim.yaml: cannot read");
        let p = Problem::at("a.yaml", "", Location::START, "bad");
        assert_eq!(p.to_string(), "a.yaml:1:1: bad");
    }

    #[test]
    fn load_errors_display_one_per_line() {
        let mut errs = LoadErrors::default();
        assert!(errs.is_empty());
        errs.push(Problem::unlocated("a", "x"));
        errs.push(Problem::unlocated("b", "y"));
        assert!(!errs.is_empty());
        assert_eq!(errs.to_string(), "a: x\nb: y");
        assert_eq!(
            LoadErrors::single(Problem::unlocated("a", "x"))
                .problems
                .len(),
            1
        );
    }
}

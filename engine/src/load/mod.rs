//! Loading simulation files: YAML (and JSON, a subset of YAML 1.2) into any `serde` type, with
//! every error located.
//!
//! [`Document::parse`] builds a located tree of [`Node`]s with `saphyr-parser`;
//! [`Document::deserialize`] reads any `T: DeserializeOwned` from it. Every problem names the
//! file, the path of the node involved, its 1-based line and column, and what was expected:
//!
//! ```text
//! sim.yaml:12:7: scenarios[0].steps[2].request: unknown field `urll`, expected one of `name`, ...
//! ```
//!
//! Paths join map keys with `.` and write sequence indices as `[i]`; keys that are not
//! identifiers are quoted as JSON strings in brackets (`headers["content-type"]`); the root is
//! the empty string.
//!
//! Enums are externally tagged: a plain string names a unit variant (`- exit_here_if_failed`),
//! a single-key map `{variant: content}` any variant (`- pause: 1s`).

mod access;
mod de;
mod node;
mod path;
mod problem;
mod scalar;
mod yaml;

#[cfg(test)]
mod tests;

pub use node::{Node, NodeValue};
pub use path::{path_with_index, path_with_key};
pub use problem::{LoadErrors, Location, Problem};
pub use yaml::{MAX_ALIAS_NODES, MAX_DEPTH, MAX_INPUT_BYTES};

/// A parsed YAML document: its located tree and the name of its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    root: Node,
    file: String,
}

impl Document {
    /// Parses `text`, naming it `file` in problems.
    ///
    /// # Errors
    /// A syntax error, a duplicate or non-scalar map key, a second document, nesting deeper
    /// than [`MAX_DEPTH`], aliases expanding to more than [`MAX_ALIAS_NODES`] nodes, an input
    /// larger than [`MAX_INPUT_BYTES`], or an empty document; each located.
    pub fn parse(text: &str, file: &str) -> Result<Document, LoadErrors> {
        match yaml::parse(text) {
            Ok(root) => Ok(Document {
                root,
                file: file.to_owned(),
            }),
            Err(e) => Err(LoadErrors::single(Problem::at(
                file, e.path, e.loc, e.message,
            ))),
        }
    }

    /// Reads a `T` from the document.
    ///
    /// # Errors
    /// The first mismatch between the document and `T` (wrong type, integer out of range,
    /// unknown or missing field, unknown variant, ...), located at the innermost node involved.
    pub fn deserialize<T: serde::de::DeserializeOwned>(&self) -> Result<T, LoadErrors> {
        let root_path = de::Path::Root;
        T::deserialize(de::NodeDe::new(&self.root, &root_path)).map_err(|e| {
            LoadErrors::single(Problem {
                file: self.file.clone(),
                path: e.path.unwrap_or_default(),
                location: Some(e.loc.unwrap_or(self.root.loc)),
                message: e.message,
            })
        })
    }

    /// Location of the node at `path` (same path syntax as in problems); for a path that does
    /// not exist, the location of its nearest existing ancestor.
    pub fn locate(&self, path: &str) -> Option<Location> {
        Some(path::locate(&self.root, path))
    }

    /// A problem located at `path` (or at its nearest existing ancestor).
    pub fn problem(&self, path: &str, message: impl Into<String>) -> Problem {
        Problem {
            file: self.file.clone(),
            path: path.to_owned(),
            location: self.locate(path),
            message: message.into(),
        }
    }

    /// The file name given to [`Document::parse`].
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The document's root node.
    pub fn root(&self) -> &Node {
        &self.root
    }
}

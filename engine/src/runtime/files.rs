//! Where a simulation's relative file names (feeders, request bodies) are read from.
//!
//! Architecture invariant 7: no path given by a user is ever joined to a filesystem path
//! without validation. [`validate_relative_path`] is that validation; [`DirFiles`] applies it
//! before touching the disk. A distributed worker supplies its own [`FileSource`] (its
//! content-addressed cache).

use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

/// Reads the files a simulation names.
pub trait FileSource: Send + Sync {
    /// The content of the file at relative path `name`.
    fn read(&self, name: &str) -> Result<Bytes, String>;

    /// A directory that relative names resolve against, when the source is a directory.
    fn base_dir(&self) -> Option<&Path> {
        None
    }
}

/// Checks that a user-supplied relative path is safe to join: not empty, not absolute, no
/// `..`, no control characters, no backslashes, no drive prefixes.
pub fn validate_relative_path(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty file name".into());
    }
    if name.chars().any(|c| c.is_control()) {
        return Err(format!(
            "file name `{}` contains a control character",
            name.escape_debug()
        ));
    }
    if name.contains('\\') {
        return Err(format!("file name `{name}` contains a backslash; use `/`"));
    }
    let path = Path::new(name);
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("file name `{name}` must not contain `..`"))
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "file name `{name}` must be relative to the simulation file"
                ))
            }
        }
    }
    Ok(())
}

/// Files relative to a directory (the simulation file's own).
#[derive(Debug, Clone)]
pub struct DirFiles {
    dir: PathBuf,
}

impl DirFiles {
    /// Files under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirFiles { dir: dir.into() }
    }
}

impl FileSource for DirFiles {
    fn read(&self, name: &str) -> Result<Bytes, String> {
        validate_relative_path(name)?;
        let path = self.dir.join(name);
        std::fs::read(&path)
            .map(Bytes::from)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))
    }

    fn base_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}

/// No files at all (a simulation built in code that names none).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoFiles;

impl FileSource for NoFiles {
    fn read(&self, name: &str) -> Result<Bytes, String> {
        Err(format!("no file source: cannot read `{name}`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsafe_names() {
        assert!(validate_relative_path("data/users.csv").is_ok());
        assert!(validate_relative_path("./users.csv").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a\\b",
            "a\u{7}b",
            "a\nb",
        ] {
            assert!(
                validate_relative_path(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn dir_files_reads_inside_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), b"hello").unwrap();
        let files = DirFiles::new(dir.path());
        assert_eq!(files.read("a.txt").unwrap(), Bytes::from_static(b"hello"));
        assert!(files.read("../a.txt").is_err());
        assert!(files
            .read("missing.txt")
            .unwrap_err()
            .contains("cannot read"));
    }
}

//! Files the CLI writes for operators: certificates, keys and tokens.

use std::io::Write as _;
use std::path::Path;

/// Writes `text` to `path` (its directory created), readable by the owner only when `private`.
/// The text goes to a new temporary file beside `path` first (a random name, created with its
/// final mode) and is renamed into place, then the directory is synced: a crash leaves either
/// the old file or the whole new one — never a part that a later "keep what exists" run would
/// mistake for a finished file.
pub fn write(path: &Path, text: &str, private: bool) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("{}: {e}", path.display());
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let prefix = format!(".{}.", name.unwrap_or_default());
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".new");
    #[cfg(unix)]
    let mode = {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::Permissions::from_mode(if private { 0o600 } else { 0o644 })
    };
    #[cfg(unix)]
    builder.permissions(mode.clone());
    let mut temp = builder.tempfile_in(dir).map_err(fail)?;
    // The mode exactly, whatever the umask took from it at creation.
    #[cfg(unix)]
    temp.as_file().set_permissions(mode).map_err(fail)?;
    temp.write_all(text.as_bytes()).map_err(fail)?;
    temp.as_file().sync_all().map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    // The rename itself is durable once the directory is.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_files_and_private_ones_for_the_owner_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("secret");
        write(&path, "one\n", true).unwrap();
        write(&path, "two\n", true).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let names: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["secret"], "no temporary file is left");
    }
}

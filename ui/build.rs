//! Embeds every file under `assets/` in the library: writes `$OUT_DIR/assets.rs`, a sorted
//! table of `(path, bytes)` with `include_bytes!`, so that adding a file to `assets/` is all it
//! takes to serve it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        // Editors' swap files and other dotfiles are not assets (and would change the version).
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_none_or(|n| n.starts_with('.') || n.ends_with('~'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    files(&root, &mut found);
    let mut table = String::from("&[\n");
    for path in &found {
        println!("cargo:rerun-if-changed={}", path.display());
        let relative = path
            .strip_prefix(&root)
            .expect("under assets/")
            .to_str()
            .expect("asset paths are UTF-8")
            .replace('\\', "/");
        let absolute = path.to_str().expect("asset paths are UTF-8");
        writeln!(table, "    ({relative:?}, include_bytes!({absolute:?})),").expect("writes");
    }
    table.push(']');
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("assets.rs");
    std::fs::write(out, table).expect("writes assets.rs");
}

//! Loading feeder records from CSV files, JSON files and inline records.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use serde_json::Value;

use super::{FeederData, Record};
use crate::model::FeederDef;
use crate::runtime::{DirFiles, FileSource};

/// Shares field names between records: each distinct name is allocated once.
#[derive(Default)]
struct Names(HashMap<String, Arc<str>>);

impl Names {
    fn get(&mut self, name: &str) -> Arc<str> {
        if let Some(shared) = self.0.get(name) {
            return Arc::clone(shared);
        }
        let shared: Arc<str> = name.into();
        self.0.insert(name.to_string(), Arc::clone(&shared));
        shared
    }
}

impl FeederData {
    /// Loads the records of feeder `name` as `def` describes them; relative file names resolve
    /// against `base_dir` (the simulation file's directory) and are validated first (no `..`,
    /// no absolute paths).
    ///
    /// Errors name the feeder, the file and, where known, the line.
    pub fn load(name: &str, def: &FeederDef, base_dir: &Path) -> Result<FeederData, String> {
        Self::load_from(name, def, &DirFiles::new(base_dir))
    }

    /// Like [`FeederData::load`], reading files through `files` (a directory, or a distributed
    /// worker's file cache).
    pub fn load_from(
        name: &str,
        def: &FeederDef,
        files: &dyn FileSource,
    ) -> Result<FeederData, String> {
        let records = match (&def.csv, &def.json, &def.records) {
            (Some(file), None, None) => {
                let bytes = files
                    .read(file)
                    .map_err(|e| format!("feeder `{name}`: {e}"))?;
                parse_csv(&bytes).map_err(|e| format!("feeder `{name}`: `{file}`{e}"))?
            }
            (None, Some(file), None) => {
                let bytes = files
                    .read(file)
                    .map_err(|e| format!("feeder `{name}`: {e}"))?;
                parse_json(&bytes).map_err(|e| format!("feeder `{name}`: `{file}`{e}"))?
            }
            (None, None, Some(records)) => {
                let records = inline(records);
                if records.is_empty() {
                    return Err(format!("feeder `{name}`: `records` is empty"));
                }
                records
            }
            (csv, json, records) => {
                let set: Vec<&str> = [
                    (csv.is_some(), "`csv`"),
                    (json.is_some(), "`json`"),
                    (records.is_some(), "`records`"),
                ]
                .into_iter()
                .filter_map(|(is_set, key)| is_set.then_some(key))
                .collect();
                let found = if set.is_empty() {
                    "none".to_string()
                } else {
                    set.join(" and ")
                };
                return Err(format!(
                    "feeder `{name}`: set exactly one of `csv`, `json` or `records` (found {found})"
                ));
            }
        };
        Ok(FeederData {
            name: name.to_string(),
            records,
        })
    }
}

/// Parses a CSV file with a header line; values are trimmed strings. Errors start with the
/// location inside the file (`" line 3: ..."`, `": ..."`), to follow the file name.
pub(super) fn parse_csv(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(bytes);
    let header = reader.headers().map_err(|e| csv_error(&e))?.clone();
    if header.is_empty() {
        return Err(": the file is empty (expected a header line)".to_string());
    }
    let mut names: Vec<Arc<str>> = Vec::with_capacity(header.len());
    for (i, field) in header.iter().enumerate() {
        if field.is_empty() {
            return Err(format!(" header: column {} has no name", i + 1));
        }
        if names.iter().any(|n| &**n == field) {
            return Err(format!(" header: column `{field}` appears twice"));
        }
        names.push(field.into());
    }
    let mut records = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|e| csv_error(&e))?;
        let fields = names
            .iter()
            .zip(row.iter())
            .map(|(name, value)| (Arc::clone(name), Value::String(value.to_string())))
            .collect();
        records.push(Record::new(fields));
    }
    if records.is_empty() {
        return Err(": no records after the header line".to_string());
    }
    Ok(records)
}

fn csv_error(e: &csv::Error) -> String {
    let line = e
        .position()
        .map_or_else(String::new, |p| format!(" line {}", p.line()));
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("{line}: expected {expected_len} fields (as in the header), found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => format!("{line}: invalid UTF-8"),
        _ => format!("{line}: {e}"),
    }
}

/// Parses a JSON file holding an array of objects. Errors start like [`parse_csv`]'s.
pub(super) fn parse_json(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            " line {} column {}: invalid JSON: {e}",
            e.line(),
            e.column()
        )
    })?;
    let Value::Array(items) = value else {
        return Err(format!(
            ": expected an array of objects, found {}",
            a_type(&value)
        ));
    };
    if items.is_empty() {
        return Err(": the array is empty (no records)".to_string());
    }
    let mut names = Names::default();
    let mut records = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let Value::Object(map) = item else {
            return Err(format!(
                ": element {i} (0-based) is {}, expected an object",
                a_type(&item)
            ));
        };
        let fields = map.into_iter().map(|(k, v)| (names.get(&k), v)).collect();
        records.push(Record::new(fields));
    }
    Ok(records)
}

fn inline(records: &[BTreeMap<String, Value>]) -> Vec<Record> {
    let mut names = Names::default();
    records
        .iter()
        .map(|r| Record::new(r.iter().map(|(k, v)| (names.get(k), v.clone())).collect()))
        .collect()
}

/// `an object`, `a string`, ...
fn a_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

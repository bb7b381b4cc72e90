//! Feeders: data records handed to virtual users.
//!
//! A `- feed: users` step takes the next record of feeder `users` and copies its fields into
//! the user's session ([`apply`]). [`FeederData`] holds the records, loaded once from a CSV
//! file, a JSON file or inline records; a [`Feeder`] hands them out according to the feeder's
//! [`FeederStrategy`](crate::model::FeederStrategy), for one [`Segment`](crate::Segment) of a
//! distributed run, and is shared by every user of the run.
//!
//! Records are cheap to clone (one reference count), and their field names are shared
//! `Arc<str>`s, so feeding a user allocates only the copies of the values.

mod load;
mod strategy;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde_json::Value;

use crate::expr::Session;

pub use strategy::Feeder;

/// One data record: named values. Cloning is one reference-count increment.
#[derive(Debug, Clone, PartialEq)]
pub struct Record(Arc<[(Arc<str>, Value)]>);

impl Record {
    /// A record with these fields (names should be unique; the last of duplicates wins when the
    /// record is applied).
    pub fn new(fields: Vec<(Arc<str>, Value)>) -> Self {
        Record(fields.into())
    }

    /// The value of field `name`.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.iter().find(|(k, _)| &**k == name).map(|(_, v)| v)
    }

    /// The fields, in file order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> + '_ {
        self.0.iter().map(|(k, v)| (&**k, v))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the record has no field.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Copies the fields of `record` into `session` (field names are shared, not reallocated).
pub fn apply(record: &Record, session: &mut Session) {
    for (name, value) in record.0.iter() {
        session.set(Arc::clone(name), value.clone());
    }
}

/// The records of one feeder, loaded once and shared (in an `Arc`) by its [`Feeder`]s.
#[derive(Debug, Clone)]
pub struct FeederData {
    name: String,
    records: Vec<Record>,
}

impl FeederData {
    /// Records built in code. Unlike the loaders, this accepts an empty list (a [`Feeder`] over
    /// it hands out nothing).
    pub fn from_records(name: impl Into<String>, records: Vec<Record>) -> Self {
        FeederData {
            name: name.into(),
            records,
        }
    }

    /// The feeder's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every record, in file order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// Record number `i` (0-based, file order).
    pub fn get(&self, i: usize) -> Option<&Record> {
        self.records.get(i)
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there is no record (never the case for loaded data).
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

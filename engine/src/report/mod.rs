//! Reports (in progress).

#![allow(dead_code)]

mod svg;
mod text;

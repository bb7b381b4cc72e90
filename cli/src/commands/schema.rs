//! `broadside schema`: the JSON Schema of simulation files.

use clap::Args;

/// Arguments of `broadside schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {}

/// Prints the schema.
pub fn execute(_: SchemaArgs) -> u8 {
    let schema = broadside_engine::simulation::json_schema();
    match serde_json::to_string_pretty(&schema) {
        Ok(text) => {
            println!("{text}");
            super::EXIT_OK
        }
        Err(e) => {
            eprintln!("error: cannot render the schema: {e}");
            super::EXIT_BAD_INPUT
        }
    }
}

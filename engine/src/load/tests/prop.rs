//! Property tests: no input, however malformed, makes parsing or deserializing panic.

use proptest::prelude::*;

use super::Sim;
use crate::load::{Document, Location};

/// Parses and deserializes `text` every way the tests know; only panics matter here.
fn exercise(text: &str) {
    match Document::parse(text, "p.yaml") {
        Ok(doc) => {
            let _ = doc.deserialize::<serde_json::Value>();
            let _ = doc.deserialize::<Sim>();
            let _ = doc.deserialize::<Vec<super::Step>>();
            let _ = doc.locate("scenarios[0].steps[1].request");
        }
        Err(errors) => {
            for p in &errors.problems {
                if let Some(Location { line, column }) = p.location {
                    assert!(line >= 1 && column >= 1, "{p}");
                }
            }
        }
    }
}

/// Pieces of YAML syntax, assembled at random.
fn token() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        ":",
        ": ",
        "-",
        "- ",
        "[",
        "]",
        "{",
        "}",
        ",",
        "?",
        "? ",
        "'",
        "\"",
        "\\",
        "&a ",
        "*a",
        "&b ",
        "*b",
        "!",
        "!!str ",
        "|",
        ">",
        "#",
        "%YAML 1.2",
        "---",
        "...",
        "\n",
        "\n  ",
        "\n    ",
        "\t",
        " ",
        "  ",
        "name",
        "scenarios",
        "steps",
        "pause",
        "request",
        "repeat",
        "exit_here_if_failed",
        "1",
        "-1",
        "70000",
        "0x",
        "1e9",
        ".inf",
        "~",
        "null",
        "true",
        "é",
        "\u{feff}",
        "\r\n",
        "\0",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in "\\PC{0,200}") {
        exercise(&text);
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(text in any::<String>()) {
        exercise(&text);
    }

    #[test]
    fn yamlish_token_soup_never_panics(tokens in prop::collection::vec(token(), 0..80)) {
        exercise(&tokens.concat());
    }

    #[test]
    fn indented_structures_never_panic(
        lines in prop::collection::vec((0usize..8, token(), token(), token()), 0..30)
    ) {
        let text: String = lines
            .iter()
            .map(|(indent, a, b, c)| format!("{}{a}{b}{c}\n", " ".repeat(*indent)))
            .collect();
        exercise(&text);
    }
}

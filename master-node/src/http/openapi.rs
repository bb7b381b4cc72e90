//! The OpenAPI 3.1 document of the API, `GET /api/v1/openapi.json`.
//!
//! The document is maintained by hand next to the handlers (`openapi.json`); a test checks that
//! it describes exactly the routes the routers register, method by method.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub(crate) const DOCUMENT: &str = include_str!("openapi.json");

pub(super) async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::DOCUMENT;

    /// The router sources, whose `.route(...)` calls are the API.
    const SOURCES: [(&str, &str); 8] = [
        ("mod.rs", include_str!("mod.rs")),
        ("cluster.rs", include_str!("cluster.rs")),
        ("projects.rs", include_str!("projects.rs")),
        ("files.rs", include_str!("files.rs")),
        ("jobs.rs", include_str!("jobs.rs")),
        ("results.rs", include_str!("results.rs")),
        ("workers.rs", include_str!("workers.rs")),
        ("metrics.rs", include_str!("metrics.rs")),
    ];

    /// `(method, path)` of every route registered in the sources, in OpenAPI spelling.
    fn registered() -> BTreeSet<(String, String)> {
        let mut out = BTreeSet::new();
        for (file, source) in SOURCES {
            let mut rest = source;
            while let Some(at) = rest.find(".route(") {
                rest = &rest[at + ".route(".len()..];
                let open = rest.find('"').expect("route path");
                let close = open + 1 + rest[open + 1..].find('"').expect("end of path");
                let path = &rest[open + 1..close];
                // The handlers: up to the parenthesis closing `.route(`.
                let mut depth = 1usize;
                let end = rest
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '(' => depth += 1,
                            ')' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(rest.len(), |(i, _)| i);
                let call = &rest[close..end];
                let root = matches!(path, "/healthz" | "/readyz" | "/metrics");
                let full = if root {
                    path.to_owned()
                } else {
                    format!("/api/v1{}", path.replace("{*", "{"))
                };
                for method in ["get", "post", "put", "delete", "patch"] {
                    if call.contains(&format!("{method}(")) {
                        out.insert((method.to_owned(), full.clone()));
                    }
                }
                assert!(
                    out.iter().any(|(_, p)| *p == full),
                    "{file}: no method found for route {path}"
                );
            }
        }
        out
    }

    fn documented() -> BTreeSet<(String, String)> {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("valid JSON");
        assert!(doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1"));
        let mut out = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    out.insert((method.clone(), path.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn the_document_describes_exactly_the_registered_routes() {
        let registered = registered();
        assert!(registered.len() > 20, "the route scan found too little");
        let documented = documented();
        let missing: Vec<_> = registered.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&registered).collect();
        assert!(
            missing.is_empty(),
            "routes missing from openapi.json: {missing:?}"
        );
        assert!(
            extra.is_empty(),
            "openapi.json documents routes that do not exist: {extra:?}"
        );
    }
}

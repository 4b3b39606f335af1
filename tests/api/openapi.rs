//! The committed OpenAPI document equals what the code generates.

#[test]
fn committed_openapi_matches_the_code() {
    let generated = tessera::http::spec_json();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/tessera.json");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed.trim() != generated.trim() {
        if std::env::var("TESSERA_UPDATE_OPENAPI").is_ok() {
            std::fs::write(path, format!("{}\n", generated.trim())).unwrap();
            return;
        }
        panic!(
            "openapi/tessera.json is out of date: run `cargo run -- openapi > openapi/tessera.json` \
             (or the tests with TESSERA_UPDATE_OPENAPI=1)"
        );
    }
}

#[test]
fn every_operation_is_described_and_tagged() {
    let spec: serde_json::Value = serde_json::from_str(&tessera::http::spec_json()).unwrap();
    for (path, ops) in spec["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
            assert!(
                op["description"].is_string(),
                "{method} {path} has no description"
            );
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
        }
    }
}

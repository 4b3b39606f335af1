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

#[test]
fn every_field_is_described_and_admin_bodies_have_examples() {
    let spec: serde_json::Value = serde_json::from_str(&tessera::http::spec_json()).unwrap();
    let schemas = spec["components"]["schemas"].as_object().unwrap();
    for (name, schema) in schemas {
        for (field, prop) in schema["properties"].as_object().into_iter().flatten() {
            assert!(
                prop["description"].is_string(),
                "{name}.{field} has no description"
            );
        }
    }
    let mut bodies = 0;
    for (path, ops) in spec["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/") {
            continue;
        }
        for (method, op) in ops.as_object().unwrap() {
            assert!(
                op["security"][0]["adminToken"].is_array(),
                "{method} {path} does not declare the admin bearer scheme"
            );
            let body =
                op["requestBody"]["content"]["application/json; charset=utf-8"]["schema"]["$ref"]
                    .as_str();
            if let Some(r) = body {
                let name = r.rsplit('/').next().unwrap();
                assert!(
                    schemas[name]["example"].is_object(),
                    "{name} has no example"
                );
                bodies += 1;
            }
        }
    }
    assert_eq!(
        bodies, 8,
        "create/update client, create/update user, password, rotate, create federation, bind identity"
    );
    assert_eq!(
        spec["components"]["securitySchemes"]["adminToken"]["scheme"],
        "bearer"
    );
}

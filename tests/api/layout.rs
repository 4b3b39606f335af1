//! The shape of `src/`, checked on every test run: the domain stays free of poem, and the
//! top-level modules import each other without circles. Both read the source files, so
//! they need no server.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// Where poem may be named: the HTTP surface, the server, and the binary's entry points.
const POEM_ALLOWED: &[&str] = &["http/", "app.rs", "main.rs", "cli/"];

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, contents).
fn rust_files(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("readable source directory") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path
                    .strip_prefix(src_dir())
                    .expect("under src/")
                    .to_string_lossy()
                    .replace('\\', "/");
                let text = std::fs::read_to_string(&path).expect("readable source file");
                out.push((rel, text));
            }
        }
    }
    out.sort();
    assert!(out.len() > 20, "the source tree was not found at {dir:?}");
    out
}

/// The code of a file without comments (line comments and doc comments; the crate has no
/// block comments), so a comment may name poem or a module freely.
fn code_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| match l.find("//") {
        Some(i) if !l[..i].contains('"') => &l[..i],
        _ => l,
    })
}

/// Lines of `text` that use poem (an import or a path).
fn poem_uses(text: &str) -> Vec<String> {
    code_lines(text)
        .filter(|l| {
            let t = l.trim_start();
            t.starts_with("use poem")
                || l.contains("poem::")
                || l.contains("poem_openapi::")
                || t.starts_with("poem,")
                || t.starts_with("poem_openapi,")
        })
        .map(|l| l.trim().to_string())
        .collect()
}

/// Files outside the HTTP surface that use poem.
fn poem_outside_http(files: &[(String, String)]) -> Vec<String> {
    files
        .iter()
        .filter(|(rel, _)| !POEM_ALLOWED.iter().any(|a| rel.starts_with(a)))
        .flat_map(|(rel, text)| {
            poem_uses(text)
                .into_iter()
                .map(move |l| format!("{rel}: {l}"))
        })
        .collect()
}

/// The top-level module a file belongs to (`grants/password.rs` → `grants`).
fn top_module(rel: &str) -> String {
    let first = rel.split('/').next().unwrap_or(rel);
    first.trim_end_matches(".rs").to_string()
}

/// The top-level modules named after `crate::` in `code`, including inside
/// `use crate::{a::b, c}` groups.
fn crate_references(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Items of the group at depth 1: `a::b`, `c`, `d::{e, f}`.
            let mut depth = 1;
            let mut item_start = true;
            let mut chars = group.char_indices();
            while let Some((j, c)) = chars.next() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => item_start = true,
                    c if item_start && depth == 1 && (c.is_alphanumeric() || c == '_') => {
                        let name: String = group[j..]
                            .chars()
                            .take_while(|c| c.is_alphanumeric() || *c == '_')
                            .collect();
                        for _ in 1..name.chars().count() {
                            chars.next();
                        }
                        found.insert(name);
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

/// The import graph of the top-level modules: who names whom through `crate::`.
fn import_graph(files: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.iter().map(|(rel, _)| top_module(rel)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (rel, text) in files {
        let from = top_module(rel);
        let code: String = code_lines(text).collect::<Vec<_>>().join("\n");
        let edges = graph.entry(from.clone()).or_default();
        for to in crate_references(&code) {
            if to != from && modules.contains(&to) {
                edges.insert(to);
            }
        }
    }
    graph
}

/// One circle of the graph, if there is any (depth-first search for a back edge).
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == node) {
            let mut circle = path[i..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(c);
        }
    }
    None
}

/// The domain (everything but `http/`, `app.rs`, `main.rs` and `cli/`) is free of poem.
#[test]
fn poem_is_named_only_by_the_http_surface() {
    let offenders = poem_outside_http(&rust_files(&src_dir()));
    assert!(
        offenders.is_empty(),
        "poem used outside http/, app.rs, main.rs and cli/:\n{}",
        offenders.join("\n")
    );
}

/// The guard itself: it sees each form of naming poem, and ignores comments.
#[test]
fn the_poem_guard_sees_imports_and_paths() {
    for line in [
        "use poem::Request;",
        "use poem_openapi::Object;",
        "    let r: poem::Response = todo!();",
        "use {\n    poem,\n};",
    ] {
        let files = vec![("grants/mod.rs".to_string(), line.to_string())];
        assert_eq!(poem_outside_http(&files).len(), 1, "{line}");
    }
    let files = vec![
        (
            "grants/mod.rs".to_string(),
            "//! not poem::Request".to_string(),
        ),
        (
            "http/oauth.rs".to_string(),
            "use poem::Request;".to_string(),
        ),
    ];
    assert!(poem_outside_http(&files).is_empty());
}

/// No two top-level modules import each other, directly or through others.
#[test]
fn top_level_modules_import_each_other_without_circles() {
    let graph = import_graph(&rust_files(&src_dir()));
    assert!(graph.contains_key("grants") && graph["grants"].contains("context"));
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle: {}", circle.join(" -> "));
    }
}

/// The circle finder itself, on `use` groups as the crate writes them.
#[test]
fn the_circle_finder_sees_grouped_imports() {
    let files = vec![
        (
            "grants/mod.rs".to_string(),
            "use crate::{\n    authorize::{codes::X, Y},\n    error::OAuthError,\n};".to_string(),
        ),
        (
            "authorize/mod.rs".to_string(),
            "fn f() { crate::grants::token(); }".to_string(),
        ),
        ("error.rs".to_string(), String::new()),
    ];
    let graph = import_graph(&files);
    assert_eq!(
        graph["grants"],
        BTreeSet::from(["authorize".to_string(), "error".to_string()])
    );
    assert!(find_circle(&graph).is_some());
    let acyclic = import_graph(&files[..1]);
    assert!(find_circle(&acyclic).is_none());
}

//! The layers of `shared/DESIGN.md` hold in the code: a lower layer never
//! names a higher one. `store` (the database) knows nothing of what uses
//! it; `provision`, `oauth`, `events` and `webhooks` (what the service
//! does) know nothing of HTTP, the console, the command line or the tools
//! (`scimgate_tools`); `http` (the routers and the machine-facing surfaces)
//! knows nothing of the console, which is built on it. The tools know
//! nothing of the server's crate at all: it runs them, they only speak HTTP
//! to it. Comments may mention any module; code may not.

use std::path::{Path, PathBuf};

/// Modules above what the service does (`store` up to `webhooks`).
const FACES: &[&str] = &["http", "console", "cli"];

/// What each lower layer may not name, by the files that make it up.
fn rules() -> Vec<(&'static str, Vec<&'static str>)> {
    let with_faces = |others: &[&'static str]| {
        let mut v = others.to_vec();
        v.extend(FACES);
        v
    };
    vec![
        (
            "store",
            with_faces(&[
                "provision",
                "oauth",
                "events",
                "webhooks",
                "oidc",
                "housekeeping",
            ]),
        ),
        ("provision", with_faces(&["housekeeping"])),
        ("oauth", with_faces(&["housekeeping"])),
        ("events.rs", with_faces(&["provision", "housekeeping"])),
        ("webhooks.rs", with_faces(&["housekeeping"])),
        ("housekeeping.rs", FACES.to_vec()),
        ("http", vec!["console", "cli"]),
    ]
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        for entry in std::fs::read_dir(path).expect("read a source folder") {
            rust_files(&entry.expect("a directory entry").path(), out);
        }
    } else if path.extension().is_some_and(|e| e == "rs") {
        out.push(path.to_path_buf());
    }
}

/// The lines of a piece of source code, without their comments.
fn code_lines(source: &str) -> impl Iterator<Item = &str> {
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
}

/// The modules of this crate a piece of source code names (`crate::x`,
/// `crate::{x, y::z}`), outside comments.
fn named_modules(source: &str) -> Vec<String> {
    let mut out = Vec::new();
    for code in code_lines(source) {
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or_default();
                for item in inner.split(',') {
                    let name: String = item
                        .trim()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() {
                        out.push(name);
                    }
                }
            } else {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                out.push(name);
            }
        }
    }
    out
}

#[test]
fn the_reader_finds_what_code_names_and_skips_comments() {
    let source = "use crate::store::Db;\nuse crate::{http::AppState, events};\n\
                  // crate::console is only mentioned here\nlet x = crate::sim::run(); // crate::bench\n";
    assert_eq!(named_modules(source), ["store", "http", "events", "sim"]);
}

#[test]
fn lower_layers_do_not_name_higher_ones() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut violations = Vec::new();
    let mut files_read = 0;
    for (layer, forbidden) in rules() {
        let mut files = Vec::new();
        rust_files(&src.join(layer), &mut files);
        assert!(!files.is_empty(), "no source files for the layer {layer}");
        for file in files {
            files_read += 1;
            let source = std::fs::read_to_string(&file).expect("read a source file");
            let shown = file.strip_prefix(&src).unwrap_or(&file).display();
            for name in named_modules(&source) {
                if forbidden.contains(&name.as_str()) {
                    violations.push(format!("{shown} ({layer}) names crate::{name}"));
                }
            }
            if code_lines(&source).any(|code| code.contains("scimgate_tools::")) {
                violations.push(format!("{shown} ({layer}) names scimgate_tools"));
            }
        }
    }
    assert!(files_read > 20, "only {files_read} files read");
    assert!(
        violations.is_empty(),
        "lower layers name higher ones:\n{}",
        violations.join("\n")
    );
}

/// The top-level modules of `src/` and, for each, the others it names.
fn module_graph(src: &Path) -> Vec<(String, Vec<String>)> {
    let mut modules: Vec<String> = std::fs::read_dir(src)
        .expect("read src")
        .map(|e| e.expect("a directory entry").path())
        .filter_map(|p| {
            let name = p.file_stem()?.to_str()?.to_string();
            let module = p.is_dir() || p.extension().is_some_and(|e| e == "rs");
            (module && name != "lib" && name != "main").then_some(name)
        })
        .collect();
    modules.sort();
    modules.dedup();
    modules
        .iter()
        .map(|module| {
            let mut files = Vec::new();
            for path in [src.join(module), src.join(format!("{module}.rs"))] {
                if path.exists() {
                    rust_files(&path, &mut files);
                }
            }
            let mut named: Vec<String> = files
                .iter()
                .flat_map(|f| {
                    named_modules(&std::fs::read_to_string(f).expect("read a source file"))
                })
                .filter(|n| n != module && modules.contains(n))
                .collect();
            named.sort();
            named.dedup();
            (module.clone(), named)
        })
        .collect()
}

#[test]
fn the_architecture_page_shows_the_module_graph_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let graph = module_graph(&root.join("src"));
    assert!(graph.len() > 10, "only {} modules found", graph.len());
    // No cycle: modules whose named modules are all placed are placed,
    // until none is left (or none can be).
    let mut placed: Vec<&str> = Vec::new();
    while placed.len() < graph.len() {
        let before = placed.len();
        for (module, named) in &graph {
            if !placed.contains(&module.as_str())
                && named.iter().all(|n| placed.contains(&n.as_str()))
            {
                placed.push(module);
            }
        }
        assert!(
            placed.len() > before,
            "the modules of src/ name each other in a cycle; placed so far: {placed:?}"
        );
    }
    let mut expected = String::from("```text\n");
    for (module, named) in &graph {
        let named = if named.is_empty() {
            "(nothing)".to_string()
        } else {
            named.join(", ")
        };
        expected.push_str(&format!("{module:<13} → {named}\n"));
    }
    expected.push_str("```");
    let page =
        std::fs::read_to_string(root.join("docs/architecture.md")).expect("docs/architecture.md");
    let (begin, end) = ("<!-- module-graph:begin -->", "<!-- module-graph:end -->");
    let start = page.find(begin).expect("the graph's begin marker") + begin.len();
    let stop = start + page[start..].find(end).expect("the graph's end marker");
    assert_eq!(
        page[start..stop].trim(),
        expected,
        "docs/architecture.md does not show the module graph of src/; put this between its markers:\n{expected}"
    );
}

#[test]
fn the_tools_do_not_name_the_server_crate() {
    let tools = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/tools/src");
    let mut files = Vec::new();
    rust_files(&tools, &mut files);
    assert!(
        files.len() > 5,
        "only {} files in crates/tools",
        files.len()
    );
    let mut violations = Vec::new();
    for file in files {
        let source = std::fs::read_to_string(&file).expect("read a source file");
        for (n, code) in code_lines(&source).enumerate() {
            if code.contains("scimgate::") {
                violations.push(format!(
                    "{}:{} names scimgate::",
                    file.strip_prefix(&tools).unwrap_or(&file).display(),
                    n + 1
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "the tools name the server's crate:\n{}",
        violations.join("\n")
    );
}

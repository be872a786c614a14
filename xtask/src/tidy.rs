//! Tidy checks that run as ordinary tests (`cargo test -p xtask`), so a broken invariant fails
//! the build like any other test (rust-analyzer's tidy).
//!
//! * Dependency direction: library crates know no HTTP, async runtime or database.
//! * Every Rust source file starts with a `//!` module doc.
//! * No `dbg!`, `todo!` or `unimplemented!` in shipped code.

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "target") {
                    continue;
                }
                rust_files(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Crates that must stay free of HTTP, async runtimes and databases (style.md §9.2).
    const LIBRARIES: &[&str] = &["hegui-core", "hegui-label"];
    const FORBIDDEN_IN_LIBRARIES: &[&str] = &[
        "tokio", "axum", "hyper", "tower", "reqwest", "sqlx", "async-trait",
    ];

    #[test]
    fn tidy_library_crates_have_no_io_framework_dependencies() {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1"])
            .current_dir(root())
            .output()
            .expect("cargo metadata runs");
        let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
        let packages = meta["packages"].as_array().expect("packages");
        let resolve = meta["resolve"]["nodes"].as_array().expect("resolve graph");
        let name_of = |id: &str| {
            packages
                .iter()
                .find(|p| p["id"] == id)
                .and_then(|p| p["name"].as_str())
                .unwrap_or("")
                .to_string()
        };
        for lib in LIBRARIES {
            let Some(pkg) = packages.iter().find(|p| p["name"] == *lib) else {
                continue;
            };
            // Walk the normal (non-dev) dependency closure of the library.
            let mut stack = vec![pkg["id"].as_str().unwrap_or("").to_string()];
            let mut seen = std::collections::HashSet::new();
            while let Some(id) = stack.pop() {
                if !seen.insert(id.clone()) {
                    continue;
                }
                let name = name_of(&id);
                assert!(
                    !FORBIDDEN_IN_LIBRARIES.contains(&name.as_str()),
                    "{lib} depends (transitively) on {name}; libraries know nothing of HTTP, async or databases"
                );
                if let Some(node) = resolve.iter().find(|n| n["id"] == id.as_str()) {
                    for dep in node["deps"].as_array().into_iter().flatten() {
                        let normal = dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null());
                        if normal {
                            if let Some(d) = dep["pkg"].as_str() {
                                stack.push(d.to_string());
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn tidy_every_rust_file_has_a_module_doc() {
        let mut files = Vec::new();
        rust_files(&root().join("crates"), &mut files);
        rust_files(&root().join("xtask"), &mut files);
        rust_files(&root().join("fuzz"), &mut files);
        let missing: Vec<_> = files
            .iter()
            .filter(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_default();
                !text.trim_start().starts_with("//!")
            })
            .collect();
        assert!(missing.is_empty(), "files without a //! module doc: {missing:?}");
    }

    #[test]
    fn tidy_no_debugging_leftovers_in_shipped_code() {
        let mut files = Vec::new();
        rust_files(&root().join("crates"), &mut files);
        let mut bad = Vec::new();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap_or_default();
            for needle in ["dbg!(", "todo!(", "unimplemented!("] {
                if text.contains(needle) {
                    bad.push(format!("{}: {needle}", f.display()));
                }
            }
        }
        assert!(bad.is_empty(), "{bad:?}");
    }
}

//! Tidy checks that run as ordinary tests (`cargo test -p xtask`), so a broken invariant fails
//! the build like any other test (rust-analyzer's tidy).
//!
//! * Dependency direction: library crates know no HTTP, async runtime or database.
//! * Every Rust source file starts with a `//!` module doc.
//! * No `dbg!`, `todo!` or `unimplemented!` in shipped code.
//! * Every crate in the dependency graph has a permissive licence (no GPL, e.g. zhconv).

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
    const LIBRARIES: &[&str] = &[
        "hegui-core",
        "hegui-label",
        "hegui-guard",
        "hegui-classifier",
        "hegui-identity",
        "hegui-audit",
        "hegui-session",
    ];
    /// Layer 2 (persistence) may be async and use a database, but knows nothing of HTTP; the
    /// store trait itself names no SQL.
    const STORES: &[(&str, &[&str])] = &[
        (
            "hegui-store",
            &["axum", "hyper", "tower", "reqwest", "sqlx"],
        ),
        ("hegui-store-sqlite", &["axum", "hyper", "tower", "reqwest"]),
        (
            "hegui-store-postgres",
            &["axum", "hyper", "tower", "reqwest"],
        ),
    ];
    const FORBIDDEN_IN_LIBRARIES: &[&str] = &[
        "tokio",
        "axum",
        "hyper",
        "tower",
        "reqwest",
        "sqlx",
        "async-trait",
    ];

    #[test]
    fn tidy_crates_depend_only_down_their_layers() {
        let out = std::process::Command::new(env!("CARGO"))
            .args(["metadata", "--format-version", "1"])
            .current_dir(root())
            .output()
            .expect("cargo metadata runs");
        let meta: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("metadata is JSON");
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
        let rules = LIBRARIES
            .iter()
            .map(|l| (*l, FORBIDDEN_IN_LIBRARIES))
            .chain(STORES.iter().copied());
        for (lib, forbidden) in rules {
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
                    !forbidden.contains(&name.as_str()),
                    "{lib} depends (transitively) on {name}, which its layer forbids (ARCHITECTURE.md)"
                );
                if let Some(node) = resolve.iter().find(|n| n["id"] == id.as_str()) {
                    for dep in node["deps"].as_array().into_iter().flatten() {
                        let normal = dep["dep_kinds"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .any(|k| k["kind"].is_null());
                        if let Some(d) = dep["pkg"].as_str().filter(|_| normal) {
                            stack.push(d.to_string());
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
        assert!(
            missing.is_empty(),
            "files without a //! module doc: {missing:?}"
        );
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

    /// Licences a dependency may carry (alone, or as one side of an OR).
    const PERMISSIVE: &[&str] = &[
        "MIT",
        "MIT-0",
        "Apache-2.0",
        "Apache-2.0 WITH LLVM-exception",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "ISC",
        "Zlib",
        "0BSD",
        "CC0-1.0",
        "Unlicense",
        "BSL-1.0",
        "Unicode-3.0",
        "Unicode-DFS-2016",
        "OFL-1.1",
        "IJG",
    ];

    /// True when some alternative of the SPDX expression consists only of permissive licences.
    fn permissive(expr: &str) -> bool {
        let expr = expr.replace(['(', ')'], "");
        expr.split(" OR ")
            .flat_map(|alt| alt.split('/'))
            .any(|alt| {
                alt.split(" AND ")
                    .all(|part| PERMISSIVE.contains(&part.trim()))
            })
    }

    #[test]
    fn tidy_every_dependency_is_permissively_licensed() {
        let mut bad = Vec::new();
        for manifest in ["Cargo.toml", "fuzz/Cargo.toml"] {
            let out = std::process::Command::new(env!("CARGO"))
                .args([
                    "metadata",
                    "--format-version",
                    "1",
                    "--manifest-path",
                    manifest,
                ])
                .current_dir(root())
                .output()
                .expect("cargo metadata runs");
            if !out.status.success() {
                continue;
            }
            let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
            for p in meta["packages"].as_array().expect("packages") {
                let name = p["name"].as_str().unwrap_or("?");
                if p["source"].is_null() {
                    continue; // our own crates
                }
                match p["license"].as_str() {
                    Some(l) if permissive(l) => {}
                    other => bad.push(format!("{name}: {other:?}")),
                }
            }
        }
        bad.sort();
        bad.dedup();
        assert!(
            bad.is_empty(),
            "non-permissive or unknown licences: {bad:?}"
        );
    }

    #[test]
    fn tidy_licence_expressions() {
        assert!(permissive("MIT OR Apache-2.0"));
        assert!(permissive("MIT/Apache-2.0"));
        assert!(permissive("Apache-2.0 AND ISC"));
        assert!(!permissive("GPL-2.0-or-later"));
        assert!(!permissive("MPL-2.0"));
        assert!(!permissive("AGPL-3.0 AND MIT"));
    }
}

//! Records the optimisation level the crate is built with, and lists the
//! SQL migrations for `store::migrations`, which embeds them with
//! `include_str!`: one `(version, description, sql)` entry per file of
//! `migrations/sqlite` and `migrations/postgres`, ordered by version.
//! File names follow sqlx's convention, `<version>_<description>.sql`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    // `scimgate bench` says when it measures a build that is not fully
    // optimised (the `release` profile is built for speed of building).
    println!(
        "cargo:rustc-env=SCIMGATE_OPT_LEVEL={}",
        std::env::var("OPT_LEVEL").unwrap_or_default()
    );
    println!("cargo:rerun-if-changed=migrations");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut out = String::new();
    for (name, dir) in [("SQLITE", "sqlite"), ("POSTGRES", "postgres")] {
        let dir = root.join(dir);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("the migrations directory") {
            let path = entry.expect("a migration file").path();
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let Some(stem) = file.strip_suffix(".sql") else {
                continue;
            };
            let (version, description) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("{file}: expected <version>_<description>.sql"));
            let version: i64 = version
                .parse()
                .unwrap_or_else(|_| panic!("{file}: the version is not a number"));
            files.push((version, description.replace('_', " "), path));
        }
        files.sort_by_key(|(version, _, _)| *version);
        if let Some(pair) = files.windows(2).find(|w| w[0].0 == w[1].0) {
            panic!("two migrations numbered {} in {}", pair[0].0, dir.display());
        }
        writeln!(out, "pub(super) const {name}: &[(i64, &str, &str)] = &[").unwrap();
        for (version, description, path) in files {
            writeln!(
                out,
                "    ({version}, {description:?}, include_str!({:?})),",
                path.display().to_string()
            )
            .unwrap();
        }
        writeln!(out, "];").unwrap();
    }
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("migrations.rs");
    std::fs::write(dest, out).expect("writing the migration list");
}

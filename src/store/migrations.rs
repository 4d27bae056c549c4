//! The schema's migrations, embedded in the binary and run by sqlx's
//! `Migrator` at start.
//!
//! `build.rs` lists the files of `migrations/sqlite` and
//! `migrations/postgres`; each becomes a `Migration` here, with the
//! checksum sqlx records in `_sqlx_migrations` (SHA-384 of the file), so
//! databases migrated by earlier builds validate unchanged.

use std::borrow::Cow;
use std::sync::LazyLock;

use sqlx::migrate::{Migration, MigrationType, Migrator};

mod files {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

pub(super) static SQLITE: LazyLock<Migrator> = LazyLock::new(|| migrator(files::SQLITE));
pub(super) static POSTGRES: LazyLock<Migrator> = LazyLock::new(|| migrator(files::POSTGRES));

fn migrator(files: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect::<Vec<_>>();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_embedded_in_order_for_both_engines() {
        for (migrator, dir) in [(&*SQLITE, "sqlite"), (&*POSTGRES, "postgres")] {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let on_disk = std::fs::read_dir(&dir)
                .unwrap()
                .filter(|e| e.as_ref().unwrap().path().extension() == Some("sql".as_ref()))
                .count();
            let versions: Vec<i64> = migrator.iter().map(|m| m.version).collect();
            assert_eq!(versions.len(), on_disk, "{dir:?}");
            assert_eq!(
                versions,
                (1..=on_disk as i64).collect::<Vec<_>>(),
                "{dir:?}"
            );
        }
        let first = SQLITE.iter().next().unwrap();
        assert_eq!(first.description, "core");
        assert!(first.sql.contains("CREATE TABLE"));
    }

    #[test]
    fn the_checksum_is_sqlx_s_sha384_of_the_file() {
        use sha2::{Digest, Sha384};
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations/postgres/0013_email_index.sql");
        let bytes = std::fs::read(path).unwrap();
        let m = POSTGRES.iter().find(|m| m.version == 13).unwrap();
        assert_eq!(&*m.checksum, Sha384::digest(&bytes).as_slice());
        assert_eq!(m.description, "email index");
    }
}

//! A Parquet dataset of the four tables, partitioned by host: parse the logs once (a nightly
//! job), query many times without reading logs again.
//!
//! ```text
//! DIR/dataset.json                         what wrote it, when, and the row counts
//! DIR/processes/host=<name>/part-<i>.parquet
//! DIR/boots/host=<name>/part-<i>.parquet
//! DIR/findings/host=<name>/part-<i>.parquet
//! DIR/events/host=<name>/part-<i>.parquet
//! ```
//!
//! The `host` column is inside every file, so the folder name is only for people and for
//! pruning: host names come from the logs (attacker-controlled), so in folder names every
//! byte outside `A-Z a-z 0-9 . _ -` is percent-encoded, a name of dots is encoded whole, and a
//! long name is cut and suffixed with a hash; `<i>` is the host's index, so two machines that
//! share a name never share a file. Tools that read Hive partitions should be told not to
//! (the column is already in the files).
//!
//! The dataset is written into a temporary folder beside `DIR` and renamed into place when
//! complete, so a crashed or interrupted export never leaves a folder that looks finished.

use crate::cli::TableFormat;
use polars::prelude::*;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The name of the manifest file, and what its `format` field says.
pub const MANIFEST: &str = "dataset.json";
const FORMAT: &str = "lineage-dataset";
const VERSION: u32 = 1;

/// Longest encoded host name used in a folder name.
const MAX_NAME: usize = 100;

/// Errors opening or writing a dataset, with the path they concern.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{0}: already exists and is not empty (use --force to replace it)")]
    Exists(PathBuf),
    #[error(
        "{0}: not a lineage dataset (no readable {MANIFEST}; write one with `lineage export`)"
    )]
    NotADataset(PathBuf),
    #[error("{0}: dataset version {1} is newer than this lineage understands ({VERSION})")]
    Version(PathBuf, u64),
    #[error("{0}: path is not valid UTF-8")]
    NotUtf8(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{0}")]
    Polars(#[from] PolarsError),
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> DatasetError + '_ {
    move |source| DatasetError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Fail early (before minutes of reading) when `dir` cannot be written as asked.
pub fn check_target(dir: &Path, force: bool) -> Result<(), DatasetError> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if !force && entries.next().is_some() {
                return Err(DatasetError::Exists(dir.to_path_buf()));
            }
            if !dir.is_dir() {
                return Err(DatasetError::Exists(dir.to_path_buf()));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
            return Err(DatasetError::Exists(dir.to_path_buf()))
        }
        Err(e) => return Err(io_at(dir)(e)),
    }
    let parent = parent_of(dir);
    if !parent.is_dir() {
        return Err(io_at(&parent)(io::Error::new(
            io::ErrorKind::NotFound,
            "no such directory",
        )));
    }
    Ok(())
}

fn parent_of(dir: &Path) -> PathBuf {
    match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A dataset being written: a temporary folder until [`Writer::commit`].
pub struct Writer {
    tmp: tempfile::TempDir,
    target: PathBuf,
    rows: Vec<(String, usize, usize)>,
}

impl Writer {
    /// Start a dataset that will become `dir`.
    pub fn create(dir: &Path) -> Result<Writer, DatasetError> {
        let parent = parent_of(dir);
        let tmp = tempfile::Builder::new()
            .prefix(".lineage-export-")
            .tempdir_in(&parent)
            .map_err(io_at(&parent))?;
        Ok(Writer {
            tmp,
            target: dir.to_path_buf(),
            rows: Vec::new(),
        })
    }

    /// Write one host's part of `table`; empty frames write nothing.
    pub fn part(
        &mut self,
        table: &str,
        host: &str,
        index: usize,
        df: &mut DataFrame,
    ) -> Result<(), DatasetError> {
        let entry = match self.rows.iter_mut().find(|(t, _, _)| t == table) {
            Some(e) => e,
            None => {
                self.rows.push((table.to_string(), 0, 0));
                let at = self.rows.len() - 1;
                &mut self.rows[at]
            }
        };
        if df.height() == 0 {
            return Ok(());
        }
        entry.1 += df.height();
        entry.2 += 1;
        let folder = self
            .tmp
            .path()
            .join(table)
            .join(format!("host={}", folder_name(host)));
        fs::create_dir_all(&folder).map_err(io_at(&folder))?;
        let file = folder.join(format!("part-{index}.parquet"));
        let mut out = fs::File::create(&file).map_err(io_at(&file))?;
        super::write_frame(&mut out, df, TableFormat::Parquet, false).map_err(io_at(&file))?;
        out.sync_all().map_err(io_at(&file))
    }

    /// Write the manifest and move the dataset into place (replacing what `--force` allowed
    /// to be replaced).
    pub fn commit(self, hosts: &[String]) -> Result<PathBuf, DatasetError> {
        let tables: serde_json::Map<String, serde_json::Value> = self
            .rows
            .iter()
            .map(|(t, rows, files)| (t.clone(), serde_json::json!({"rows": rows, "files": files})))
            .collect();
        let manifest = serde_json::json!({
            "format": FORMAT,
            "version": VERSION,
            "written_by": concat!("lineage ", env!("CARGO_PKG_VERSION")),
            "created": crate::time::format_rfc3339_ms(&chrono::Utc::now()),
            "hosts": hosts,
            "tables": tables,
        });
        let path = self.tmp.path().join(MANIFEST);
        let text = serde_json::to_vec_pretty(&manifest).map_err(|e| io_at(&path)(e.into()))?;
        fs::write(&path, text).map_err(io_at(&path))?;
        let tmp = self.tmp.keep();
        let target = self.target;
        // A previous dataset (or an empty folder) moves aside first, and is removed only once
        // the new one is in place.
        let old = if target.exists() {
            let aside = parent_of(&target).join(format!(
                ".lineage-old-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_millis()
            ));
            fs::rename(&target, &aside).map_err(io_at(&target))?;
            Some(aside)
        } else {
            None
        };
        if let Err(e) = fs::rename(&tmp, &target) {
            if let Some(aside) = &old {
                let _ = fs::rename(aside, &target);
            }
            let _ = fs::remove_dir_all(&tmp);
            return Err(io_at(&target)(e));
        }
        if let Some(aside) = old {
            fs::remove_dir_all(&aside).map_err(io_at(&aside))?;
        }
        Ok(target)
    }
}

/// A host name as one safe folder-name component (see the module docs).
pub fn folder_name(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for b in host.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() || out.bytes().all(|b| b == b'.') {
        out = host.bytes().map(|b| format!("%{b:02X}")).collect();
        if out.is_empty() {
            out = "%00".into();
        }
    }
    if out.len() > MAX_NAME {
        // FNV-1a: stable across runs and platforms, enough to tell long names apart.
        let hash = host.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
        });
        out.truncate(MAX_NAME);
        out.push_str(&format!("~{hash:016x}"));
    }
    out
}

/// Check `dir` is a dataset this version can read.
pub fn open(dir: &Path) -> Result<(), DatasetError> {
    let path = dir.join(MANIFEST);
    let not = || DatasetError::NotADataset(dir.to_path_buf());
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(not()),
        Err(e) => return Err(io_at(&path)(e)),
    };
    let v: serde_json::Value = serde_json::from_slice(&text).map_err(|_| not())?;
    if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(not());
    }
    let version = v.get("version").and_then(|x| x.as_u64()).unwrap_or(0);
    if version > u64::from(VERSION) {
        return Err(DatasetError::Version(dir.to_path_buf(), version));
    }
    Ok(())
}

/// One table of a dataset as a lazy scan of its files; `empty` gives the schema when the
/// table has no rows (no files).
pub fn scan(dir: &Path, table: &str, empty: DataFrame) -> Result<LazyFrame, DatasetError> {
    let root = dir.join(table);
    let mut files = Vec::new();
    match fs::read_dir(&root) {
        Ok(parts) => {
            for part in parts {
                let part = part.map_err(io_at(&root))?.path();
                if !part.is_dir() {
                    continue;
                }
                for f in fs::read_dir(&part).map_err(io_at(&part))? {
                    let f = f.map_err(io_at(&part))?.path();
                    if f.extension().is_some_and(|e| e == "parquet") && f.is_file() {
                        files.push(f);
                    }
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(&root)(e)),
    }
    files.sort();
    if files.is_empty() {
        return Ok(empty.lazy());
    }
    let args = ScanArgsParquet {
        glob: false,
        hive_options: HiveOptions {
            enabled: Some(false),
            ..Default::default()
        },
        ..Default::default()
    };
    let paths = files
        .iter()
        .map(|f| {
            f.to_str()
                .map(PlRefPath::new)
                .ok_or_else(|| DatasetError::NotUtf8(f.clone()))
        })
        .collect::<Result<Vec<_>, DatasetError>>()?;
    // One scan over every file (not a union of scans): polars then plans it as one source,
    // which keeps `COUNT(*)` on its fast path.
    Ok(LazyFrame::scan_parquet_files(paths.into(), args)?)
}

#[cfg(test)]
mod tests {
    use super::folder_name;

    #[test]
    fn host_names_become_safe_folder_names() {
        assert_eq!(folder_name("WIN-AB12.corp.local"), "WIN-AB12.corp.local");
        assert_eq!(folder_name("../../etc"), "..%2F..%2Fetc");
        assert_eq!(folder_name(".."), "%2E%2E");
        assert_eq!(folder_name(""), "%00");
        assert_eq!(folder_name("a/b\\c\u{1b}"), "a%2Fb%5Cc%1B");
        let long = folder_name(&"x".repeat(5000));
        assert!(long.len() < 130, "{}", long.len());
        assert_ne!(long, folder_name(&"x".repeat(5001)));
    }
}

//! Finding input files and recognising their format from content, not from the extension.
//!
//! Responders get folders of logs named anything (`Security.evtx`, `host1_sec.bin`,
//! `export.xml.txt`), so each regular file is sniffed: EVTX by its `ElfFile\0` magic, the legacy
//! `.evt` format by `LfLe` (reported, not read), XML by its first markup, JSON lines by a `{`.
//! The order is stable (sorted paths, depth first) so runs are reproducible.

use crate::issues::{Issue, IssueKind};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A format we can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Evtx,
    Xml,
    JsonLines,
}

/// A file to read.
#[derive(Debug, Clone)]
pub struct Input {
    pub path: PathBuf,
    /// The path as shown in output and provenance.
    pub name: Arc<str>,
    pub format: Format,
    pub size: u64,
}

/// What discovery found: files to read and files it could not use.
#[derive(Debug, Default)]
pub struct Discovery {
    pub inputs: Vec<Input>,
    pub issues: Vec<Issue>,
}

/// A problem with a path the user named explicitly: fatal, as the run would be incomplete.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("{path}: no such file or directory")]
    Missing { path: String },
    #[error("{path}: {source}")]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Walk `paths` (files and directories, recursively). Symlinks are followed only with
/// `follow_links`, because an evidence folder may link outside itself.
pub fn discover(paths: &[PathBuf], follow_links: bool) -> Result<Discovery, DiscoverError> {
    let mut out = Discovery::default();
    for p in paths {
        let meta = fs::symlink_metadata(p).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => DiscoverError::Missing {
                path: p.display().to_string(),
            },
            _ => DiscoverError::Unreadable {
                path: p.display().to_string(),
                source: e,
            },
        })?;
        let meta = if meta.file_type().is_symlink() {
            // A link named on the command line is the user's explicit choice: follow it.
            fs::metadata(p).map_err(|e| DiscoverError::Unreadable {
                path: p.display().to_string(),
                source: e,
            })?
        } else {
            meta
        };
        if meta.is_dir() {
            let entries = fs::read_dir(p).map_err(|e| DiscoverError::Unreadable {
                path: p.display().to_string(),
                source: e,
            })?;
            drop(entries);
            walk(p, follow_links, &mut out);
        } else {
            consider(p, &mut out);
        }
    }
    Ok(out)
}

/// Depth-first walk with an explicit stack (no recursion on hostile trees).
fn walk(root: &Path, follow_links: bool, out: &mut Discovery) {
    let mut stack = vec![root.to_path_buf()];
    let mut seen_dirs = std::collections::HashSet::new();
    while let Some(dir) = stack.pop() {
        if follow_links {
            // Link loops would otherwise walk forever.
            if let Ok(c) = fs::canonicalize(&dir) {
                if !seen_dirs.insert(c) {
                    continue;
                }
            }
        }
        let mut entries: Vec<PathBuf> = match fs::read_dir(&dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                let name: Arc<str> = Arc::from(dir.display().to_string());
                out.issues.push(Issue::new(
                    IssueKind::Unreadable,
                    &name,
                    format!("cannot list directory: {e}"),
                ));
                continue;
            }
        };
        entries.sort();
        let mut subdirs = Vec::new();
        for path in entries {
            let Ok(meta) = fs::symlink_metadata(&path) else {
                continue;
            };
            let ft = meta.file_type();
            let (is_dir, is_file) = if ft.is_symlink() {
                if !follow_links {
                    continue;
                }
                match fs::metadata(&path) {
                    Ok(m) => (m.is_dir(), m.is_file()),
                    Err(_) => continue,
                }
            } else {
                (ft.is_dir(), ft.is_file())
            };
            if is_dir {
                subdirs.push(path);
            } else if is_file {
                consider(&path, out);
            }
        }
        // Reverse so the stack pops them in sorted order.
        stack.extend(subdirs.into_iter().rev());
    }
}

/// Sniff one regular file and add it as an input or an issue.
fn consider(path: &Path, out: &mut Discovery) {
    let name: Arc<str> = Arc::from(path.display().to_string());
    let mut head = [0u8; 512];
    let read = File::open(path).and_then(|mut f| {
        let size = f.metadata()?.len();
        let n = read_up_to(&mut f, &mut head)?;
        Ok((size, n))
    });
    match read {
        Err(e) => out.issues.push(Issue::new(
            IssueKind::Unreadable,
            &name,
            format!("cannot read: {e}"),
        )),
        Ok((size, n)) => match sniff(&head[..n]) {
            Ok(format) => out.inputs.push(Input {
                path: path.to_path_buf(),
                name,
                format,
                size,
            }),
            Err(why) => out
                .issues
                .push(Issue::new(IssueKind::Unsupported, &name, why)),
        },
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Recognise a format from the first bytes of a file.
pub fn sniff(head: &[u8]) -> Result<Format, String> {
    if head.starts_with(b"ElfFile\0") {
        return Ok(Format::Evtx);
    }
    if head.get(4..8) == Some(b"LfLe") {
        return Err(
            "legacy .evt format (Windows XP/2003) is not supported; convert it with \
                    wevtutil epl /lf:true first"
                .into(),
        );
    }
    if head.is_empty() {
        return Err("empty file".into());
    }
    if head.starts_with(&[0xff, 0xfe]) || head.starts_with(&[0xfe, 0xff]) {
        let utf16: Vec<u8> = head.iter().skip(2).copied().filter(|&b| b != 0).collect();
        return match first_text_byte(&utf16) {
            Some(b'<') => Ok(Format::Xml),
            _ => Err("UTF-16 text that is not XML".into()),
        };
    }
    let body = head.strip_prefix(&[0xef, 0xbb, 0xbf]).unwrap_or(head);
    match first_text_byte(body) {
        Some(b'<') => Ok(Format::Xml),
        Some(b'{') => Ok(Format::JsonLines),
        // `evtx_dump -o xml` writes "Record N" before each event.
        Some(b'R') if body.trim_ascii_start().starts_with(b"Record ") => Ok(Format::Xml),
        _ => Err("not an EVTX file, XML event export or JSON lines".into()),
    }
}

fn first_text_byte(b: &[u8]) -> Option<u8> {
    b.iter().copied().find(|c| !c.is_ascii_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_recognised_from_content() {
        assert_eq!(sniff(b"ElfFile\0rest"), Ok(Format::Evtx));
        assert_eq!(sniff(b"  <?xml version='1.0'?><Events>"), Ok(Format::Xml));
        assert_eq!(sniff(b"\xef\xbb\xbf<Event>"), Ok(Format::Xml));
        assert_eq!(sniff(b"\xff\xfe<\0E\0"), Ok(Format::Xml));
        assert_eq!(sniff(b"Record 1\n<?xml"), Ok(Format::Xml));
        assert_eq!(sniff(b"{\"Event\":{}}\n"), Ok(Format::JsonLines));
        assert!(sniff(b"\x30\x00\x00\x00LfLe")
            .unwrap_err()
            .contains("legacy"));
        assert!(sniff(b"").is_err());
        assert!(sniff(b"MZ\x90\x00").is_err());
    }

    #[test]
    fn directories_are_walked_in_sorted_order_and_junk_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("b");
        fs::create_dir(&sub).unwrap();
        fs::write(sub.join("z.evtx"), b"ElfFile\0").unwrap();
        fs::write(dir.path().join("a.log"), b"{\"Event\":1}").unwrap();
        fs::write(dir.path().join("c.bin"), b"\x00\x01junk").unwrap();
        let d = discover(&[dir.path().to_path_buf()], false).unwrap();
        let names: Vec<_> = d
            .inputs
            .iter()
            .map(|i| i.path.file_name().unwrap().to_string_lossy().to_string())
            .collect();
        assert_eq!(names, ["a.log", "z.evtx"]);
        assert_eq!(d.issues.len(), 1);
        assert_eq!(d.issues[0].kind, IssueKind::Unsupported);
    }

    #[test]
    fn a_missing_path_is_an_error() {
        let err = discover(&[PathBuf::from("/nonexistent/x.evtx")], false).unwrap_err();
        assert!(err.to_string().contains("no such file"));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_directories_are_not_followed_by_default() {
        let dir = tempfile::tempdir().unwrap();
        let target = tempfile::tempdir().unwrap();
        fs::write(target.path().join("x.evtx"), b"ElfFile\0").unwrap();
        std::os::unix::fs::symlink(target.path(), dir.path().join("link")).unwrap();
        assert!(discover(&[dir.path().to_path_buf()], false)
            .unwrap()
            .inputs
            .is_empty());
        assert_eq!(
            discover(&[dir.path().to_path_buf()], true)
                .unwrap()
                .inputs
                .len(),
            1
        );
    }
}

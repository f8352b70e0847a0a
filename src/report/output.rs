//! Where output goes, and making sure a half-written file never looks finished.
//!
//! Reports are often picked up by other jobs (a SIEM import, a nightly diff). If `lineage`
//! fails halfway through writing `report.csv`, a truncated file under the final name would be
//! read as a complete, clean report. So a file destination is written to a hidden temporary
//! file in the same directory (`.NAME.XXXXXX.tmp`) and only [`OutputFile::commit`] moves it
//! over the destination, with a rename, which replaces the old file in one step. Until then
//! an existing report at that path stays untouched; if the [`OutputFile`] is dropped without
//! a commit (an error, a panic unwinding, a Ctrl-C handler that makes the program return
//! normally) the temporary file is deleted.
//!
//! A process killed outright (SIGKILL, a default SIGINT, power loss) runs no destructors and
//! can leave the hidden `.NAME.*.tmp` file behind; the destination itself is still either the
//! old complete file or the new complete one.

use std::ffi::OsString;
use std::fs;
use std::io::{self, BufWriter, StdoutLock, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// Output buffer size. Output is many short lines; a large buffer keeps system calls rare.
pub const BUFFER_SIZE: usize = 256 * 1024;

/// Where the user asked the output to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

impl Destination {
    /// The usual command-line convention: no path, or `-`, means standard output.
    pub fn from_arg(path: Option<&Path>) -> Self {
        match path {
            Some(p) if p.as_os_str() != "-" => Destination::File(p.to_path_buf()),
            _ => Destination::Stdout,
        }
    }
}

/// An open output: buffered standard output, or a temporary file that becomes the
/// destination on [`commit`](OutputFile::commit).
///
/// For stdout this holds the stdout lock for its whole life (no per-write locking); progress
/// and diagnostics must go to stderr, and another thread that prints to stdout would block.
pub struct OutputFile {
    sink: Sink,
}

enum Sink {
    Stdout(BufWriter<StdoutLock<'static>>),
    /// A destination that exists and is not a regular file (`/dev/null`, a FIFO, a terminal):
    /// written in place, since renaming a temporary file over it would replace the device.
    Special(BufWriter<std::fs::File>),
    File {
        writer: BufWriter<NamedTempFile>,
        dest: PathBuf,
    },
}

impl OutputFile {
    /// Opens the destination. For a file this checks the directory and creates the
    /// temporary file now, so a wrong path fails before any input is read.
    ///
    /// Errors name the path: "output directory /x does not exist", "cannot create a
    /// temporary file in /x for /x/r.csv: Permission denied", and so on.
    pub fn create(dest: &Destination) -> io::Result<Self> {
        let sink = match dest {
            Destination::Stdout => {
                Sink::Stdout(BufWriter::with_capacity(BUFFER_SIZE, io::stdout().lock()))
            }
            Destination::File(path) if is_special(path) => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(|e| context(e, format!("cannot open {}", path.display())))?;
                Sink::Special(BufWriter::with_capacity(BUFFER_SIZE, f))
            }
            Destination::File(path) => Sink::File {
                writer: BufWriter::with_capacity(BUFFER_SIZE, create_temp(path)?),
                dest: path.clone(),
            },
        };
        Ok(OutputFile { sink })
    }

    /// The buffered writer to write the report into.
    pub fn writer(&mut self) -> &mut dyn Write {
        match &mut self.sink {
            Sink::Stdout(w) => w,
            Sink::Special(w) => w,
            Sink::File { writer, .. } => writer,
        }
    }

    /// True when writing to standard output (callers may then sanitise for a terminal).
    pub fn is_stdout(&self) -> bool {
        matches!(self.sink, Sink::Stdout(_))
    }

    /// Finishes the output. For stdout: flush. For a file: flush, fsync the data, rename
    /// over the destination, then fsync the directory (best effort) so the rename survives
    /// a crash. On error the temporary file is removed and the old destination, if any, is
    /// left as it was.
    ///
    /// A closed pipe on stdout comes back as an error for which [`is_broken_pipe`] is true.
    pub fn commit(self) -> io::Result<()> {
        match self.sink {
            Sink::Stdout(mut w) => w.flush(),
            Sink::Special(mut w) => w.flush(),
            Sink::File { writer, dest } => commit_file(writer, &dest),
        }
    }
}

/// True when `path` exists and is not a regular file or directory (a device, FIFO or socket).
fn is_special(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| !m.is_file() && !m.is_dir())
}

/// True when the reader went away (`lineage ... | head`). Rust ignores SIGPIPE, so writes
/// fail with this error instead of killing the process; the caller should stop writing and
/// exit quietly rather than report an error or panic. Also looks through one level of
/// wrapping, for errors re-wrapped with context.
pub fn is_broken_pipe(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
        || e.get_ref()
            .and_then(|inner| inner.downcast_ref::<io::Error>())
            .is_some_and(|inner| inner.kind() == io::ErrorKind::BrokenPipe)
}

/// Adds what we were doing and on which path, keeping the error kind (so callers can still
/// test for e.g. `NotFound`).
fn context(e: io::Error, what: String) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn parent_dir(dest: &Path) -> &Path {
    match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Checks that the directory exists and the destination is not a directory, so the error
/// names the real problem instead of a confusing temporary-file or rename failure.
fn check_destination(dest: &Path, dir: &Path) -> io::Result<()> {
    match fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("output directory {} is not a directory", dir.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("output directory {} does not exist", dir.display()),
            ))
        }
        Err(e) => {
            return Err(context(
                e,
                format!("cannot access output directory {}", dir.display()),
            ))
        }
    }
    if fs::metadata(dest).is_ok_and(|m| m.is_dir()) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("output path {} is a directory", dest.display()),
        ));
    }
    Ok(())
}

fn create_temp(dest: &Path) -> io::Result<NamedTempFile> {
    let name = dest.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("output path {} does not name a file", dest.display()),
        )
    })?;
    let dir = parent_dir(dest);
    check_destination(dest, dir)?;
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp").rand_bytes(6);
    #[cfg(unix)]
    builder.permissions(initial_permissions(dest));
    builder.tempfile_in(dir).map_err(|e| {
        let what = format!(
            "cannot create a temporary file in {} for {}",
            dir.display(),
            dest.display()
        );
        context(e, what)
    })
}

/// Temporary files are private (0600) by default; the finished report should get what a
/// plain `File::create` would give: the old file's mode when replacing one, else 0666 less
/// the umask.
#[cfg(unix)]
fn initial_permissions(dest: &Path) -> fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    let mode = match fs::metadata(dest) {
        Ok(m) if m.is_file() => m.permissions().mode() & 0o777,
        _ => 0o666,
    };
    fs::Permissions::from_mode(mode)
}

fn commit_file(writer: BufWriter<NamedTempFile>, dest: &Path) -> io::Result<()> {
    let failed = |e: io::Error| context(e, format!("cannot write {}", dest.display()));
    // On each error path the NamedTempFile is dropped, which deletes it.
    let tmp = writer.into_inner().map_err(|e| failed(e.into_error()))?;
    tmp.as_file().sync_all().map_err(failed)?;
    tmp.persist(dest).map_err(|e| {
        let what = format!(
            "cannot move the finished output into place at {}",
            dest.display()
        );
        context(e.error, what)
    })?;
    sync_dir(parent_dir(dest));
    Ok(())
}

/// Makes the rename durable. Best effort: the file is already complete and in place, and
/// some filesystems refuse to fsync a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    fn open(path: &Path) -> OutputFile {
        OutputFile::create(&Destination::File(path.to_path_buf())).unwrap()
    }

    #[cfg(unix)]
    #[test]
    fn dev_null_is_written_in_place_not_replaced() {
        let mut out = OutputFile::create(&Destination::File(PathBuf::from("/dev/null"))).unwrap();
        out.writer().write_all(b"discarded").unwrap();
        out.commit().unwrap();
        use std::os::unix::fs::FileTypeExt;
        let meta = std::fs::metadata("/dev/null").unwrap();
        assert!(
            meta.file_type().is_char_device(),
            "/dev/null is still a device"
        );
    }

    #[test]
    fn commit_produces_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        let mut out = open(&path);
        assert!(!out.is_stdout());
        out.writer().write_all(b"a,b\r\n").unwrap();
        let during = names(dir.path());
        assert_eq!(during.len(), 1);
        assert!(during[0].starts_with(".report.csv.") && during[0].ends_with(".tmp"));
        out.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"a,b\r\n");
        assert_eq!(names(dir.path()), ["report.csv"]);
    }

    #[test]
    fn drop_without_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let mut out = open(&path);
        out.writer().write_all(&[b'x'; 3 * BUFFER_SIZE]).unwrap();
        drop(out);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn panic_while_writing_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let result = std::panic::catch_unwind(|| {
            let mut out = open(&path);
            out.writer().write_all(b"partial").unwrap();
            panic!("simulated failure mid-report");
        });
        assert!(result.is_err());
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn existing_destination_is_replaced_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.csv");
        fs::write(&path, "old complete report").unwrap();

        let mut out = open(&path);
        out.writer().write_all(b"new report").unwrap();
        out.writer().flush().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "old complete report");
        drop(out);
        assert_eq!(fs::read_to_string(&path).unwrap(), "old complete report");
        assert_eq!(names(dir.path()), ["report.csv"]);

        let mut out = open(&path);
        out.writer().write_all(b"new report").unwrap();
        out.commit().unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new report");
        assert_eq!(names(dir.path()), ["report.csv"]);
    }

    #[test]
    fn missing_directory_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir");
        let path = missing.join("report.csv");
        let err = OutputFile::create(&Destination::File(path)).err().unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let msg = err.to_string();
        assert!(msg.contains(&missing.display().to_string()), "{msg}");
        assert!(msg.contains("does not exist"), "{msg}");
    }

    #[test]
    fn directory_as_destination_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = OutputFile::create(&Destination::File(dir.path().to_path_buf()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("is a directory"), "{err}");
        let file = dir.path().join("plain");
        fs::write(&file, "").unwrap();
        let err = OutputFile::create(&Destination::File(file.join("report.csv")))
            .err()
            .unwrap();
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn permissions_match_a_plain_create() {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;

        let reference = dir.path().join("reference");
        fs::File::create(&reference).unwrap();
        let path = dir.path().join("new.csv");
        open(&path).commit().unwrap();
        assert_eq!(mode(&path), mode(&reference));

        let reference = dir.path().join("reference640");
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&reference)
            .unwrap();
        let path = dir.path().join("existing.csv");
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&path)
            .unwrap();
        open(&path).commit().unwrap();
        assert_eq!(mode(&path), mode(&reference));
    }

    #[test]
    fn broken_pipe_is_recognised() {
        let e = io::Error::from(io::ErrorKind::BrokenPipe);
        assert!(is_broken_pipe(&e));
        assert!(is_broken_pipe(&context(e, "writing".into())));
        let wrapped = io::Error::other(io::Error::from(io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&wrapped));
        assert!(!is_broken_pipe(&io::Error::from(io::ErrorKind::NotFound)));
    }

    #[test]
    fn destination_from_arg() {
        assert_eq!(Destination::from_arg(None), Destination::Stdout);
        assert_eq!(
            Destination::from_arg(Some(Path::new("-"))),
            Destination::Stdout
        );
        assert_eq!(
            Destination::from_arg(Some(Path::new("r.csv"))),
            Destination::File(PathBuf::from("r.csv"))
        );
    }
}

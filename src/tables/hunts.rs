//! The hunt library: the SQL files of `queries/hunts/`, embedded so `lineage query --hunt
//! NAME` works from an installed binary, and their headers.
//!
//! Each file starts with `-- key: value` lines: `title`, `technique`, `finds` and `noise`
//! (what it finds, its ATT&CK technique, how much benign output to expect). A test checks
//! every file has all four and that this list holds every file in the folder.

/// One hunt: its name (the file name without `.sql`) and its SQL.
#[derive(Debug, Clone, Copy)]
pub struct Hunt {
    pub name: &'static str,
    pub sql: &'static str,
}

macro_rules! hunts {
    ($($name:literal),* $(,)?) => {
        &[$(Hunt {
            name: $name,
            sql: include_str!(concat!("../../queries/hunts/", $name, ".sql")),
        }),*]
    };
}

/// Every embedded hunt, stacking first.
pub const HUNTS: &[Hunt] = hunts!(
    "stack_parent_child",
    "stack_command_shapes",
    "stack_images",
    "rare_core_command_lines",
    "office_browser_to_shell",
    "services_children_outside_system32",
    "grandchildren_of_services_outside_system32",
    "missing_parent_in_captured_boot",
    "encoded_powershell",
    "user_writable_images",
    "recon_burst",
    "findings_by_rule",
    "log_cleared",
);

/// The hunt called `name` (case-insensitive; a trailing `.sql` is ignored).
pub fn find(name: &str) -> Option<Hunt> {
    let name = name.strip_suffix(".sql").unwrap_or(name);
    HUNTS
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .copied()
}

/// The value of `-- key:` in the header of `sql` (the leading comment lines).
pub fn header<'a>(sql: &'a str, key: &str) -> Option<&'a str> {
    sql.lines()
        .map(str::trim)
        .take_while(|l| l.starts_with("--"))
        .filter_map(|l| l.trim_start_matches('-').trim().split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(key))
        .map(|(_, v)| v.trim())
}

impl Hunt {
    pub fn title(&self) -> &'static str {
        header(self.sql, "title").unwrap_or("")
    }
    pub fn technique(&self) -> &'static str {
        header(self.sql, "technique").unwrap_or("")
    }
    pub fn finds(&self) -> &'static str {
        header(self.sql, "finds").unwrap_or("")
    }
    pub fn noise(&self) -> &'static str {
        header(self.sql, "noise").unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hunt_file_is_listed_and_documented() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/queries/hunts");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("queries/hunts")
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| n.strip_suffix(".sql").map(str::to_string))
            .collect();
        files.sort();
        let mut listed: Vec<String> = HUNTS.iter().map(|h| h.name.to_string()).collect();
        listed.sort();
        assert_eq!(files, listed, "queries/hunts and HUNTS differ");
        for h in HUNTS {
            for key in ["title", "technique", "finds", "noise"] {
                assert!(
                    header(h.sql, key).is_some_and(|v| v.len() > 5),
                    "{}: no `-- {key}:` header",
                    h.name
                );
            }
        }
        assert!(find("Stack_Parent_Child.sql").is_some());
        assert!(find("nope").is_none());
    }
}

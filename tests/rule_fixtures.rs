//! Every rule of `queries/baseline/core.toml` against crafted logs: one or more positive
//! fixtures (the anomaly: a finding of exactly that rule, on the right host, time, PID and
//! image, with the start record(s) as evidence) and one or more negative fixtures (the nearest
//! benign situation: no finding of that rule).
//!
//! The fixtures are scenarios of `lineage-testkit` written as real EVTX files (Sysmon,
//! Security, System) into a temporary folder, then read through the same readers as real logs
//! (`app::collect`), rebuilt (`lineage::build`) and scanned with the default baseline. The
//! corpus has no wrong user, no second lsass inside one boot, no look-alike name, no core
//! process under a copy of its parent and none at the wrong integrity level: these files are
//! where those rules are proven. Each fixture also lists every rule that fires on it, so a
//! change in any rule's reach shows here.
//!
//! In a positive scenario the anomalous start carries `tag 1` (the testkit reports the record
//! ids it got) and a forced `pid`; its time is absolute.

mod support;

use lineage::baseline::rules::{Baseline, Severity};
use lineage::baseline::{scan, Finding};
use lineage_testkit::scenario::Written;
use lineage_testkit::Scenario;
use std::collections::BTreeSet;
use std::path::Path;

/// What a fixture must show for its rule.
enum Expect {
    /// The rule fires on the process started with `tag 1`, with this PID and start time.
    Hit { pid: u64, at: &'static str },
    /// The rule does not fire.
    Miss,
}

struct Fixture {
    rule: &'static str,
    /// What the scenario crafts (the test name in failures).
    what: &'static str,
    expect: Expect,
    /// Every rule id that fires on the whole scenario (sorted set).
    fires: &'static [&'static str],
    scenario: &'static str,
}

use Expect::{Hit, Miss};

/// Reads a folder of logs the way `lineage scan` does.
fn scan_dir(dir: &Path) -> Vec<Finding> {
    let c = support::collect_events(&[dir.to_path_buf()], 1);
    let history = lineage::lineage::build(c.events);
    scan(&history, &Baseline::defaults().expect("default rules"))
}

fn write(scenario: &str, dir: &Path) -> (Scenario, Written) {
    let sc = Scenario::parse(scenario).expect("scenario parses");
    let written = sc.write(dir).expect("scenario writes");
    (sc, written)
}

fn describe(found: &[Finding]) -> String {
    found
        .iter()
        .map(|f| {
            format!(
                "  {} {} {} pid {:?} rec {} {}",
                f.severity,
                f.rule,
                lineage::time::format_rfc3339_ms(&f.time),
                f.pid,
                f.record_id,
                f.explanation
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs one fixture; returns a failure message instead of panicking so every fixture is
/// checked and all failures are shown at once.
fn check(f: &Fixture) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = format!("{} / {}", f.rule, f.what);
    let sc = Scenario::parse(f.scenario).map_err(|e| format!("{name}: {e}"))?;
    let written = sc.write(tmp.path()).map_err(|e| format!("{name}: {e}"))?;
    let found = scan_dir(tmp.path());
    let fired: BTreeSet<&str> = found.iter().map(|x| x.rule.as_str()).collect();
    let want: BTreeSet<&str> = f.fires.iter().copied().collect();
    if fired != want {
        return Err(format!(
            "{name}: rules fired {fired:?}, expected {want:?}\n{}",
            describe(&found)
        ));
    }
    match f.expect {
        Miss => {
            if let Some(x) = found.iter().find(|x| x.rule == f.rule) {
                return Err(format!("{name}: unexpected {}: {}", x.rule, x.explanation));
            }
        }
        Hit { pid, at } => {
            let hit = found
                .iter()
                .find(|x| x.rule == f.rule && x.pid == Some(pid))
                .ok_or_else(|| {
                    format!("{name}: no {} on pid {pid}\n{}", f.rule, describe(&found))
                })?;
            let time = lineage::time::format_rfc3339_ms(&hit.time);
            if !time.starts_with(at.trim_end_matches('Z')) {
                return Err(format!("{name}: time {time}, expected {at}"));
            }
            if hit.host != sc.host {
                return Err(format!("{name}: host {}, expected {}", hit.host, sc.host));
            }
            let tagged: BTreeSet<u64> = written.tagged.iter().map(|t| t.record_id).collect();
            let starts: BTreeSet<u64> = hit
                .evidence
                .iter()
                .filter(|e| matches!(e.event_id, 1 | 4688))
                .map(|e| e.record_id)
                .collect();
            if tagged.is_empty() || starts != tagged || !tagged.contains(&hit.record_id) {
                return Err(format!(
                    "{name}: evidence {starts:?} (first {}), expected the tagged records {tagged:?}",
                    hit.record_id
                ));
            }
            if hit.image.is_none() || hit.explanation.is_empty() {
                return Err(format!("{name}: finding without image or explanation"));
            }
        }
    }
    Ok(())
}

/// A console logon at 08:01; then the fixture's own lines.
macro_rules! console {
    ($($line:expr),* $(,)?) => {
        concat!(
            "host WIN10-A\nboot 2024-03-01T08:00:00Z\n+1m logon WIN10-A\\alice\n",
            $($line, "\n"),*
        )
    };
}

#[rustfmt::skip]
const FIXTURES: &[Fixture] = &[
    // ------------------------------------------------------------------ parents
    Fixture { rule: "parent.smss", what: "smss.exe started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.smss"],
        scenario: console!(r#"2024-03-01T09:00:00Z cmd.exe <- explorer.exe"#,
                           r#"2024-03-01T10:00:00Z smss.exe pid 4000 <- cmd.exe user SYSTEM tag 1"#) },
    Fixture { rule: "parent.smss", what: "an RDP session's smss child hours after boot", expect: Miss,
        fires: &[], scenario: console!("+3h rdp CORP\\bob", "+1h logoff CORP\\bob") },

    Fixture { rule: "parent.csrss", what: "csrss.exe started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.csrss"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           r#"2024-03-01T10:00:00Z csrss.exe pid 4000 <- cmd.exe user SYSTEM tag 1"#) },
    Fixture { rule: "parent.csrss", what: "an RDP session's csrss hours after boot", expect: Miss,
        fires: &[], scenario: console!("+3h rdp CORP\\bob") },

    Fixture { rule: "parent.wininit", what: "wininit.exe started by explorer", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["instances.once-per-boot", "parent.wininit", "session.zero", "start.late"],
        scenario: console!("2024-03-01T10:00:00Z wininit.exe pid 4000 <- explorer.exe user SYSTEM tag 1") },
    Fixture { rule: "parent.wininit", what: "the boot chain on Security 4688 v1 only (no parent names)", expect: Miss,
        fires: &[], scenario: concat!("sources security-v1\n", console!("+2h rdp CORP\\bob")) },

    Fixture { rule: "parent.winlogon", what: "winlogon.exe started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.winlogon"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM",
                           "2024-03-01T10:00:00Z winlogon.exe pid 4000 <- cmd.exe tag 1") },
    Fixture { rule: "parent.winlogon", what: "an RDP session's winlogon hours after boot, Security v2 only", expect: Miss,
        fires: &[], scenario: concat!("sources security-v2\n", console!("+5h rdp CORP\\bob")) },

    Fixture { rule: "parent.services", what: "services.exe started by a shell (PPLdump)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["instances.once-per-boot", "integrity.core-system", "parent.services", "session.zero", "start.late", "user.core-system"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           "2024-03-01T10:00:00Z services.exe pid 4000 <- cmd.exe tag 1") },
    Fixture { rule: "parent.services", what: "Security v1 log starting mid-boot: parents of later starts never logged", expect: Miss,
        fires: &[],
        scenario: concat!("sources security-v1\n2024-03-01T07:59:00Z audit creation off\n",
                          console!("+1h audit creation on", "+1m svchost.exe <- services.exe cmd \"svchost.exe -k netsvcs -p -s BITS\" user SYSTEM",
                                   "+1m rdp CORP\\bob", "+1m cmd.exe <- explorer.exe")) },

    Fixture { rule: "parent.lsass", what: "lsass.exe cloned by lsass.exe (credential dump)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["child.lsass", "instances.once-per-boot", "parent.lsass", "start.late"],
        scenario: console!("2024-03-01T10:00:00Z lsass.exe pid 4000 <- lsass.exe tag 1") },
    Fixture { rule: "parent.lsass", what: "lsass.exe started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["instances.once-per-boot", "integrity.core-system", "parent.lsass", "session.zero", "start.late", "user.core-system"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           "2024-03-01T10:00:00Z lsass.exe pid 4000 <- cmd.exe tag 1") },
    Fixture { rule: "parent.lsass", what: "lsass.exe under wininit, Sysmon only, two boots", expect: Miss,
        fires: &[], scenario: concat!("sources sysmon\n", console!("+8h shutdown", "boot +10h", "+1m logon WIN10-A\\alice")) },

    Fixture { rule: "parent.lsaiso", what: "lsaiso.exe started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.core-system", "parent.lsaiso", "start.late", "user.core-system"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           "2024-03-01T10:00:00Z lsaiso.exe pid 4000 <- cmd.exe session 0 tag 1") },
    Fixture { rule: "parent.lsaiso", what: "Credential Guard's lsaiso.exe under wininit at boot", expect: Miss,
        fires: &[], scenario: "host WIN10-A\nboot 2024-03-01T08:00:00Z\n+3s lsaiso.exe <- wininit.exe\n+1m logon WIN10-A\\alice\n" },

    Fixture { rule: "parent.svchost", what: "svchost.exe -k started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.svchost", "user.svchost"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- cmd.exe cmd "C:\Windows\system32\svchost.exe -k netsvcs" tag 1"#) },
    Fixture { rule: "parent.svchost", what: "svchost.exe without -k under Defender's MsMpEng.exe", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1h MsMpEng.exe <- services.exe image "C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.2104.14-0\MsMpEng.exe" user SYSTEM"#,
                           r#"+1h svchost.exe <- MsMpEng.exe cmd "C:\Windows\system32\svchost.exe""#) },

    Fixture { rule: "parent.userinit", what: "userinit.exe started by explorer", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.userinit"],
        scenario: console!("2024-03-01T10:00:00Z userinit.exe pid 4000 <- explorer.exe tag 1", "+5s exit userinit.exe") },
    Fixture { rule: "parent.userinit", what: "an RDP logon's userinit under its winlogon", expect: Miss,
        fires: &[], scenario: console!("+4h rdp CORP\\bob") },

    Fixture { rule: "parent.explorer", what: "explorer.exe started by Word", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.explorer"],
        scenario: console!(r#"2024-03-01T09:00:00Z WINWORD.EXE <- explorer.exe image "C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE""#,
                           "2024-03-01T10:00:00Z explorer.exe pid 4000 <- WINWORD.EXE tag 1") },
    Fixture { rule: "parent.explorer", what: "explorer.exe restarted by itself", expect: Miss,
        fires: &[], scenario: console!("+2h explorer.exe <- explorer.exe") },

    Fixture { rule: "parent.taskhost", what: "taskhostw.exe started by a shell", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["parent.taskhost"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           "2024-03-01T10:00:00Z taskhostw.exe pid 4000 <- cmd.exe tag 1") },
    Fixture { rule: "parent.taskhost", what: "taskhostw, sihost and RuntimeBroker under service hosts", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1m taskhostw.exe <- svchost.exe cmd "taskhostw.exe {222A245B-E637-4AE9-A93F-A59CA119A75E}" user WIN10-A\alice"#,
                           r#"+1s sihost.exe <- svchost.exe user WIN10-A\alice"#,
                           r#"+1s RuntimeBroker.exe <- svchost.exe user WIN10-A\alice"#) },

    // ------------------------------------------------------------------ grandparents
    // The copy in the middle runs as SYSTEM so that only tree rules (not accounts) fire on
    // what it starts.
    Fixture { rule: "grandparent.smss-child", what: "smss.exe started by a copy of smss.exe that a shell started", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.smss-child", "parent.smss"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM",
                           r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- cmd.exe cmd "\SystemRoot\System32\smss.exe""#,
                           r#"2024-03-01T10:00:00Z smss.exe pid 4000 <- 3000 cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2 tag 1"#,
                           "+1s exit 4000") },
    Fixture { rule: "grandparent.smss-child", what: "RDP sessions' smss children under the master smss (System's), on each log", expect: Miss,
        fires: &[], scenario: console!("+3h rdp CORP\\bob", "+1h logoff CORP\\bob", "+1h shutdown", "boot +1h", "+2h rdp CORP\\carol") },
    Fixture { rule: "grandparent.smss-child", what: "creation audited from mid-boot: the master smss is a placeholder with no parent", expect: Miss,
        fires: &[],
        scenario: concat!("sources security-v2\n2024-03-01T07:59:00Z audit creation off\n",
                          console!("+1h audit creation on", "+1h rdp CORP\\bob")) },

    Fixture { rule: "grandparent.session-core", what: "csrss.exe under an smss.exe that a shell started", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.session-core", "parent.smss"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM",
                           r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- cmd.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           "2024-03-01T10:00:00Z csrss.exe pid 4000 <- 3000 tag 1", "+1s exit 3000") },
    Fixture { rule: "grandparent.session-core", what: "the boot chain and RDP sessions on Security v1 (links by PID and time only)", expect: Miss,
        fires: &[], scenario: concat!("sources security-v1\n", console!("+2h rdp CORP\\bob", "+3h rdp CORP\\carol")) },

    Fixture { rule: "grandparent.services-lsass", what: "lsass.exe under a wininit.exe that a shell started", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.services-lsass", "instances.once-per-boot", "parent.wininit", "start.late"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM session 0",
                           "2024-03-01T09:59:59Z wininit.exe pid 3000 <- cmd.exe",
                           "2024-03-01T10:00:00Z lsass.exe pid 4000 <- 3000 tag 1") },
    Fixture { rule: "grandparent.services-lsass", what: "services.exe under a wininit.exe whose shell started before logging: named by the copy's own event", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.services-lsass", "parent.wininit", "start.late"],
        scenario: concat!("2024-03-01T07:59:00Z audit creation off\n",
                          console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM session 0", "2024-03-01T09:30:00Z audit creation on",
                                   "2024-03-01T09:59:59Z wininit.exe pid 3000 <- cmd.exe",
                                   "2024-03-01T10:00:00Z services.exe pid 4000 <- 3000 tag 1")) },
    Fixture { rule: "grandparent.services-lsass", what: "services, lsass and Credential Guard's lsaiso over two boots, Sysmon only", expect: Miss,
        fires: &[],
        scenario: concat!("sources sysmon\nhost WIN10-A\nboot 2024-03-01T08:00:00Z\n+3s lsaiso.exe <- wininit.exe\n",
                          "+1m logon WIN10-A\\alice\n+8h shutdown\nboot +10h\n+1m logon WIN10-A\\alice\n") },

    Fixture { rule: "grandparent.svchost", what: "svchost.exe -k under a services.exe that a shell started", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.svchost", "instances.once-per-boot", "parent.services", "start.late"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM session 0",
                           "2024-03-01T09:59:59Z services.exe pid 3000 <- cmd.exe",
                           r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- 3000 cmd "C:\Windows\system32\svchost.exe -k netsvcs -p" tag 1"#) },
    Fixture { rule: "grandparent.svchost", what: "creation audited from mid-boot: services.exe never logged, its svchost children are", expect: Miss,
        fires: &[],
        scenario: concat!("2024-03-01T07:59:00Z audit creation off\n",
                          console!("+1h audit creation on", r#"+1m svchost.exe <- services.exe cmd "svchost.exe -k netsvcs -p -s BITS" user SYSTEM"#,
                                   r#"+1m svchost.exe <- services.exe cmd "svchost.exe -k LocalService" user "LOCAL SERVICE""#)) },

    Fixture { rule: "grandparent.userinit", what: "userinit.exe under a winlogon.exe that a shell started", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.userinit", "parent.winlogon"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM",
                           "2024-03-01T09:59:59Z winlogon.exe pid 3000 <- cmd.exe session 2",
                           r"2024-03-01T10:00:00Z userinit.exe pid 4000 <- 3000 user WIN10-A\alice tag 1", "+5s exit 4000") },
    Fixture { rule: "grandparent.userinit", what: "console and RDP logons: userinit under the session's winlogon", expect: Miss,
        fires: &[], scenario: console!("+4h rdp CORP\\bob", "+1h logoff CORP\\bob", "+1h rdp CORP\\bob") },

    Fixture { rule: "grandparent.explorer", what: "explorer.exe under a userinit.exe that a shell started: low", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.explorer", "parent.userinit"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           "2024-03-01T09:59:59Z userinit.exe pid 3000 <- cmd.exe",
                           "2024-03-01T10:00:00Z explorer.exe pid 4000 <- 3000 tag 1", "+5s exit 3000") },
    Fixture { rule: "grandparent.explorer", what: "explorer under an exited userinit under winlogon; explorer restarted by itself", expect: Miss,
        fires: &[], scenario: console!("+2h explorer.exe <- explorer.exe", "+1h rdp CORP\\bob") },

    Fixture { rule: "grandparent.taskhost", what: "taskhostw.exe under an svchost.exe that a shell started", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["grandparent.taskhost", "parent.svchost"],
        scenario: console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM",
                           r#"2024-03-01T09:59:59Z svchost.exe pid 3000 <- cmd.exe cmd "svchost.exe -k netsvcs -p -s Schedule""#,
                           r#"2024-03-01T10:00:00Z taskhostw.exe pid 4000 <- 3000 cmd "taskhostw.exe" user WIN10-A\alice tag 1"#) },
    Fixture { rule: "grandparent.taskhost", what: "taskhostw, sihost and RuntimeBroker under service hosts of services.exe", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1m taskhostw.exe <- svchost.exe cmd "taskhostw.exe {222A245B-E637-4AE9-A93F-A59CA119A75E}" user WIN10-A\alice"#,
                           r#"+1s sihost.exe <- svchost.exe user WIN10-A\alice"#,
                           r#"+1s RuntimeBroker.exe <- svchost.exe user WIN10-A\alice"#,
                           r#"+1h taskhostw.exe <- svchost.exe user SYSTEM"#) },

    // ------------------------------------------------------------------ images
    Fixture { rule: "path.core", what: "svchost.exe in C:\\Users\\Public", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["path.core"],
        scenario: console!(r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- services.exe image C:\Users\Public\svchost.exe cmd "svchost.exe -k netsvcs" user SYSTEM tag 1"#) },
    Fixture { rule: "path.core", what: "lsass.exe in C:\\Windows\\Temp, written as \\??\\ and upper case", expect: Hit { pid: 4000, at: "2024-03-01T08:00:30Z" },
        fires: &["instances.once-per-boot", "path.core"],
        scenario: r"host WIN10-A
boot 2024-03-01T08:00:00Z
2024-03-01T08:00:30Z lsass.exe pid 4000 <- wininit.exe image \??\C:\WINDOWS\TEMP\LSASS.EXE tag 1
" },
    Fixture { rule: "path.core", what: "System32 written as \\SystemRoot\\, %SystemRoot%, \\??\\, \\Device\\HarddiskVolume3\\, upper case, SysWOW64", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1m svchost.exe <- services.exe image \SystemRoot\System32\svchost.exe cmd "svchost.exe -k a" user SYSTEM"#,
                           r#"+1m svchost.exe <- services.exe image %SystemRoot%\system32\svchost.exe cmd "svchost.exe -k b" user SYSTEM"#,
                           r#"+1m svchost.exe <- services.exe image \??\C:\Windows\System32\svchost.exe cmd "svchost.exe -k c" user SYSTEM"#,
                           r#"+1m svchost.exe <- services.exe image \Device\HarddiskVolume3\Windows\System32\svchost.exe cmd "svchost.exe -k d" user SYSTEM"#,
                           r#"+1m svchost.exe <- services.exe image C:\WINDOWS\SYSTEM32\SVCHOST.EXE cmd "svchost.exe -k e" user SYSTEM"#,
                           r#"+1m svchost.exe <- services.exe image C:\Windows\SysWOW64\svchost.exe cmd "svchost.exe -k f" user SYSTEM"#,
                           r#"+1m taskhostw.exe <- svchost.exe image \SystemRoot\System32\taskhostw.exe"#) },

    Fixture { rule: "path.explorer", what: "explorer.exe in a temp folder", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["path.explorer"],
        scenario: console!(r"2024-03-01T10:00:00Z explorer.exe pid 4000 <- explorer.exe image C:\Users\alice\AppData\Local\Temp\explorer.exe tag 1") },
    Fixture { rule: "path.explorer", what: "explorer.exe as \\SystemRoot\\ and the SysWOW64 copy", expect: Miss,
        fires: &[],
        scenario: console!(r"+1h explorer.exe <- explorer.exe image \SystemRoot\explorer.exe",
                           r"+1h explorer.exe <- explorer.exe image C:\Windows\SysWOW64\explorer.exe") },

    Fixture { rule: "name.lookalike", what: "scvhost.exe (transposition)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!(r#"2024-03-01T10:00:00Z scvhost.exe pid 4000 <- explorer.exe tag 1"#) },
    Fixture { rule: "name.lookalike", what: "svch0st.exe (digit for letter)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!(r#"2024-03-01T10:00:00Z svch0st.exe pid 4000 <- explorer.exe tag 1"#) },
    Fixture { rule: "name.lookalike", what: "lsаss.exe with a Cyrillic а", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!("2024-03-01T10:00:00Z ls\u{430}ss.exe pid 4000 <- explorer.exe tag 1") },
    Fixture { rule: "name.lookalike", what: "svchоst.exe with a Cyrillic о, in System32", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!("2024-03-01T10:00:00Z svch\u{43e}st.exe pid 4000 <- services.exe user SYSTEM tag 1") },
    Fixture { rule: "name.lookalike", what: "right-to-left override that displays as lsass.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!("2024-03-01T10:00:00Z \u{202e}exe.ssasl pid 4000 <- explorer.exe image \"C:\\Users\\Public\\\u{202e}exe.ssasl\" tag 1") },
    Fixture { rule: "name.lookalike", what: "zero-width space inside svchost.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!("2024-03-01T10:00:00Z svc\u{200b}host.exe pid 4000 <- explorer.exe tag 1") },
    Fixture { rule: "name.lookalike", what: "trailing space: \"svchost.exe \" in System32 under services.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!(r#"2024-03-01T10:00:00Z x pid 4000 <- services.exe image "C:\Windows\System32\svchost.exe " cmd "svchost.exe -k netsvcs" user SYSTEM tag 1"#) },
    Fixture { rule: "name.lookalike", what: "trailing dot: services.exe.", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!(r"2024-03-01T10:00:00Z x pid 4000 <- explorer.exe image C:\Users\Public\services.exe. tag 1") },
    Fixture { rule: "name.lookalike", what: "double extension: winlogon.exe.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.lookalike"],
        scenario: console!(r"2024-03-01T10:00:00Z winlogon.exe.exe pid 4000 <- explorer.exe tag 1") },
    Fixture { rule: "name.lookalike", what: "iexplore, taskhost, lsm, smartscreen, sihclient, wininet-like names", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1h iexplore.exe <- explorer.exe image "C:\Program Files\Internet Explorer\iexplore.exe""#,
                           "+1m taskhost.exe <- svchost.exe", "+1m smartscreen.exe <- svchost.exe",
                           "+1m sihclient.exe <- svchost.exe", "+1m lsm.exe <- wininit.exe", "+1m notepad.exe <- explorer.exe",
                           "+1m SVCHOST.EXE <- services.exe cmd \"svchost.exe -k x\" user SYSTEM") },

    Fixture { rule: "name.original", what: "svchost.exe whose binary is cmd.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["name.original"],
        scenario: console!(r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- services.exe cmd "svchost.exe -k netsvcs" user SYSTEM original Cmd.Exe tag 1"#) },
    Fixture { rule: "name.original", what: "OriginalFileName in another case", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1h svchost.exe <- services.exe cmd "svchost.exe -k netsvcs" user SYSTEM original SVCHOST.EXE"#,
                           "+1h explorer.exe <- explorer.exe original EXPLORER.EXE") },

    // ------------------------------------------------------------------ accounts
    Fixture { rule: "user.core-system", what: "csrss.exe of a crafted session running as a person (Sysmon only)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.core-system", "user.core-system"],
        scenario: concat!("sources sysmon\n", console!(r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           r"2024-03-01T10:00:00Z csrss.exe pid 4000 <- 3000 user WIN10-A\alice tag 1")) },
    Fixture { rule: "user.core-system", what: "winlogon.exe as a person, Security v2 only (TargetUserSid)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.core-system", "user.core-system"],
        scenario: concat!("sources security-v2\n", console!(r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           r"2024-03-01T10:00:00Z winlogon.exe pid 4000 <- 3000 user CORP\bob tag 1")) },
    Fixture { rule: "user.core-system", what: "lsass.exe made by a person's shell, Security v1 only (the creator's account)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["instances.once-per-boot", "parent.lsass", "start.late", "user.core-system"],
        scenario: concat!("sources security-v1\n", console!("2024-03-01T09:00:00Z cmd.exe <- explorer.exe",
                           "2024-03-01T10:00:00Z lsass.exe pid 4000 <- cmd.exe tag 1")) },
    Fixture { rule: "user.core-system", what: "the boot chain on each log (SYSTEM as NT AUTHORITY\\SYSTEM, HOST$, S-1-5-18)", expect: Miss,
        fires: &[],
        scenario: "host WIN10-A\nsources sysmon,security-v2\nboot 2024-03-01T08:00:00Z\n+2h rdp CORP\\bob\n+1h shutdown\nboot +1h\n" },

    Fixture { rule: "user.svchost", what: "a per-user svchost under services.exe: low only", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["user.svchost"],
        scenario: console!(r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- services.exe cmd "svchost.exe -k UnistackSvcGroup -s CDPUserSvc" user WIN10-A\alice tag 1"#) },
    Fixture { rule: "user.svchost", what: "service hosts as LOCAL SERVICE and NETWORK SERVICE on Security v2 and v1", expect: Miss,
        fires: &[],
        scenario: concat!("sources security-v1\n", console!(r#"+1h svchost.exe <- services.exe cmd "svchost.exe -k LocalService" user "LOCAL SERVICE""#,
                           r#"+1h svchost.exe <- services.exe cmd "svchost.exe -k NetworkService" user "NETWORK SERVICE""#)) },

    Fixture { rule: "user.shell-not-system", what: "explorer.exe running as SYSTEM", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["user.shell-not-system"],
        scenario: console!("2024-03-01T10:00:00Z explorer.exe pid 4000 <- explorer.exe user SYSTEM tag 1") },
    Fixture { rule: "user.shell-not-system", what: "console and RDP logons on Security v1 (userinit's creator is winlogon, SYSTEM)", expect: Miss,
        fires: &[],
        scenario: concat!("sources security-v1\n", console!("+2h rdp CORP\\bob")) },

    Fixture { rule: "session.zero", what: "lsaiso.exe under wininit in session 1", expect: Hit { pid: 4000, at: "2024-03-01T08:00:03Z" },
        fires: &["session.zero"],
        scenario: "host WIN10-A\nboot 2024-03-01T08:00:00Z\n2024-03-01T08:00:03Z lsaiso.exe pid 4000 <- wininit.exe session 1 tag 1\n" },
    Fixture { rule: "session.zero", what: "wininit, services, lsass in session 0 with sessions 1 and 2 in use", expect: Miss,
        fires: &[], scenario: console!("+1h rdp CORP\\bob") },

    // ------------------------------------------------------------------ integrity levels
    Fixture { rule: "integrity.core-system", what: "winlogon.exe of a new session as SYSTEM but at High integrity (Sysmon and Security v2)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.core-system"],
        scenario: console!(r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           "2024-03-01T10:00:00Z winlogon.exe pid 4000 <- 3000 integrity High tag 1", "+1s exit 3000") },
    Fixture { rule: "integrity.core-system", what: "csrss.exe at Medium, Security v2 only (MandatoryLabel S-1-16-8192)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.core-system"],
        scenario: concat!("sources security-v2\n", console!(r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           "2024-03-01T10:00:00Z csrss.exe pid 4000 <- 3000 integrity Medium tag 1", "+1s exit 3000")) },
    Fixture { rule: "integrity.core-system", what: "the boot chain and an RDP session on each log (System, S-1-16-16384)", expect: Miss,
        fires: &[], scenario: console!("+2h rdp CORP\\bob", "+1h shutdown", "boot +1h") },
    Fixture { rule: "integrity.core-system", what: "the same Medium csrss on Security v1: no label logged, no finding", expect: Miss,
        fires: &[],
        scenario: concat!("sources security-v1\n", console!(r#"2024-03-01T09:59:59Z smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           "2024-03-01T10:00:00Z csrss.exe pid 4000 <- 3000 integrity Medium", "+1s exit 3000")) },

    Fixture { rule: "integrity.service-account", what: "svchost.exe as LOCAL SERVICE at Medium integrity", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.service-account"],
        scenario: console!(r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- services.exe cmd "svchost.exe -k LocalServiceNetworkRestricted -p" user "LOCAL SERVICE" integrity Medium tag 1"#) },
    Fixture { rule: "integrity.service-account", what: "taskhostw.exe as SYSTEM at High integrity, Security v2 only", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.service-account"],
        scenario: concat!("sources security-v2\n", console!("2024-03-01T10:00:00Z taskhostw.exe pid 4000 <- svchost.exe user SYSTEM integrity High tag 1")) },
    Fixture { rule: "integrity.service-account", what: "service hosts at System; a person's per-user svchost and taskhostw at Medium", expect: Miss,
        fires: &["user.svchost"],
        scenario: console!(r#"+1h svchost.exe <- services.exe cmd "svchost.exe -k NetworkService" user "NETWORK SERVICE""#,
                           r#"+1m svchost.exe <- services.exe cmd "svchost.exe -k UnistackSvcGroup -s CDPUserSvc" user WIN10-A\alice"#,
                           r#"+1m taskhostw.exe <- svchost.exe user SYSTEM"#,
                           r#"+1m taskhostw.exe <- svchost.exe user WIN10-A\alice"#) },

    Fixture { rule: "integrity.user-shell", what: "a person's explorer.exe at System integrity (stolen token)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.user-shell"],
        scenario: console!("2024-03-01T10:00:00Z explorer.exe pid 4000 <- explorer.exe integrity System tag 1") },
    Fixture { rule: "integrity.user-shell", what: "a person's sihost.exe at Low integrity, Security v2 only", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["integrity.user-shell"],
        scenario: concat!("sources security-v2\n", console!(r"2024-03-01T10:00:00Z sihost.exe pid 4000 <- svchost.exe user WIN10-A\alice integrity Low tag 1")) },
    Fixture { rule: "integrity.user-shell", what: "logons at Medium, an elevated explorer and taskhostw at High, SYSTEM's taskhostw", expect: Miss,
        fires: &[],
        scenario: console!("+1h rdp CORP\\bob", "+1m explorer.exe <- explorer.exe integrity High",
                           r"+1m taskhostw.exe <- svchost.exe user WIN10-A\alice integrity High",
                           "+1m taskhostw.exe <- svchost.exe user SYSTEM") },

    // ------------------------------------------------------------------ instances and timing
    Fixture { rule: "instances.once-per-boot", what: "a second services.exe while the first lives", expect: Hit { pid: 4000, at: "2024-03-01T08:00:40Z" },
        fires: &["instances.once-per-boot"],
        scenario: "host WIN10-A\nboot 2024-03-01T08:00:00Z\n2024-03-01T08:00:40Z services.exe pid 4000 <- wininit.exe tag 1\n+1h logon WIN10-A\\alice\n" },
    Fixture { rule: "instances.once-per-boot", what: "lsass.exe restarted after the first exited, and one per boot over two boots", expect: Miss,
        fires: &[],
        scenario: "host WIN10-A\nboot 2024-03-01T08:00:00Z\n+30s exit lsass.exe status 0xc0000005\n+10s lsass.exe <- wininit.exe\n+1h shutdown\nboot +1h\n+1m logon WIN10-A\\alice\n" },

    Fixture { rule: "start.late", what: "lsass.exe started two hours after boot (the first exited)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["start.late"],
        scenario: console!("2024-03-01T09:59:00Z exit lsass.exe", "2024-03-01T10:00:00Z lsass.exe pid 4000 <- wininit.exe tag 1") },
    Fixture { rule: "start.late", what: "the same late lsass when the boot's start is not in any log", expect: Miss,
        fires: &[],
        scenario: concat!("sources security-v2\n", console!("+1h clear system", "clear security", "2024-03-01T09:59:00Z exit lsass.exe",
                           "2024-03-01T10:00:00Z lsass.exe <- wininit.exe")) },

    Fixture { rule: "start.session-late", what: "winlogon.exe five minutes after its session's smss.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:05:00Z" },
        fires: &["exit.smss-child", "start.session-late"],
        scenario: console!(r#"2024-03-01T10:00:00Z smss.exe pid 3000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000dc 00000084" session 2"#,
                           "+80ms csrss.exe <- 3000", "2024-03-01T10:05:00Z winlogon.exe pid 4000 <- 3000 tag 1", "+1s exit 3000") },
    Fixture { rule: "start.session-late", what: "RDP sessions' csrss and winlogon hours after boot", expect: Miss,
        fires: &[], scenario: console!("+6h rdp CORP\\bob", "+1d rdp CORP\\carol") },

    Fixture { rule: "exit.smss-child", what: "a boot-time smss child that never exits", expect: Hit { pid: 4000, at: "2024-03-01T08:00:02Z" },
        fires: &["exit.smss-child"],
        scenario: r#"host WIN10-A
boot 2024-03-01T08:00:00Z
2024-03-01T08:00:02Z smss.exe pid 4000 <- smss.exe cmd "\SystemRoot\System32\smss.exe 000000e4 00000084" session 3 tag 1
+2h logon WIN10-A\alice
"# },
    Fixture { rule: "exit.smss-child", what: "boot-time smss children whose exits are not audited", expect: Miss,
        fires: &[],
        scenario: concat!("2024-03-01T07:59:00Z audit termination off\n", console!("+2h rdp CORP\\bob")) },
    Fixture { rule: "exit.smss-child", what: "an RDP session's smss child that exits", expect: Miss,
        fires: &[], scenario: console!("+2h rdp CORP\\bob", "+2h logon WIN10-A\\alice") },

    Fixture { rule: "exit.userinit", what: "userinit.exe still running an hour after logon", expect: Hit { pid: 4000, at: "2024-03-01T08:01:00Z" },
        fires: &["exit.userinit"],
        scenario: r"host WIN10-A
boot 2024-03-01T08:00:00Z
2024-03-01T08:01:00Z userinit.exe pid 4000 <- winlogon.exe user WIN10-A\alice tag 1
+1s explorer.exe <- userinit.exe
+1h cmd.exe <- explorer.exe
+1m exit cmd.exe
" },
    Fixture { rule: "exit.userinit", what: "userinit.exe that runs a minute, and one whose exit is not audited", expect: Miss,
        fires: &[],
        scenario: "host WIN10-A\nboot 2024-03-01T08:00:00Z\n+1m userinit.exe <- winlogon.exe user WIN10-A\\alice\n+1m exit userinit.exe\n+1h audit termination off\n+1m logon CORP\\bob\n+1h cmd.exe <- explorer.exe\n" },

    // ------------------------------------------------------------------ command lines and children
    Fixture { rule: "cmdline.svchost-k", what: "svchost.exe without -k under services.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["cmdline.svchost-k"],
        scenario: console!(r#"2024-03-01T10:00:00Z svchost.exe pid 4000 <- services.exe cmd "C:\Windows\system32\svchost.exe" user SYSTEM tag 1"#) },
    Fixture { rule: "cmdline.svchost-k", what: "svchost without -k under MsMpEng; -k at the end, quoted, or /k", expect: Miss,
        fires: &[],
        scenario: console!(r#"+1h MsMpEng.exe <- services.exe image "C:\Program Files\Windows Defender\MsMpEng.exe" user SYSTEM"#,
                           r#"+1m svchost.exe <- MsMpEng.exe cmd "C:\Windows\system32\svchost.exe""#,
                           r#"+1m svchost.exe <- services.exe cmd "C:\Windows\System32\svchost.exe -k" user SYSTEM"#,
                           r#"+1m svchost.exe <- services.exe cmd "svchost.exe /k netsvcs" user SYSTEM"#) },

    Fixture { rule: "child.lsass", what: "cmd.exe started by lsass.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["child.lsass"],
        scenario: console!("2024-03-01T10:00:00Z cmd.exe pid 4000 <- lsass.exe tag 1") },
    Fixture { rule: "child.lsass", what: "efsui.exe and WerFault.exe under lsass.exe", expect: Miss,
        fires: &[], scenario: console!("+1h efsui.exe <- lsass.exe", "+1h WerFault.exe <- lsass.exe cmd \"WerFault.exe -u -p 640 -s 112\"") },

    Fixture { rule: "child.csrss", what: "rundll32.exe started by csrss.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["child.csrss"],
        scenario: console!("2024-03-01T10:00:00Z rundll32.exe pid 4000 <- csrss.exe tag 1") },
    Fixture { rule: "child.csrss", what: "conhost.exe and WerFault.exe under csrss.exe", expect: Miss,
        fires: &[], scenario: console!("+1h conhost.exe <- csrss.exe", "+1h WerFault.exe <- csrss.exe") },

    Fixture { rule: "child.smss", what: "a BootExecute program under smss.exe", expect: Hit { pid: 4000, at: "2024-03-01T08:00:01.500Z" },
        fires: &["child.smss"],
        scenario: "host WIN10-A\nboot 2024-03-01T08:00:00Z\n2024-03-01T08:00:01.500Z evil.exe pid 4000 <- smss.exe image C:\\Windows\\System32\\evil.exe tag 1\n+1s exit evil.exe\n" },
    Fixture { rule: "child.smss", what: "autochk, setupcl and per-session smss under smss", expect: Miss,
        fires: &[], scenario: console!("+1h setupcl.exe <- smss.exe", "+1s exit setupcl.exe", "+2h rdp CORP\\bob") },

    Fixture { rule: "child.shell-of-core", what: "cmd.exe under services.exe (PsExec-style service)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["child.shell-of-core"],
        scenario: console!(r#"2024-03-01T10:00:00Z cmd.exe pid 4000 <- services.exe cmd "cmd.exe /c echo abc > \\.\pipe\abc" user SYSTEM tag 1"#) },
    Fixture { rule: "child.shell-of-core", what: "cmd.exe under winlogon.exe (sticky keys)", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["child.shell-of-core"],
        scenario: console!(r#"2024-03-01T10:00:00Z cmd.exe pid 4000 <- winlogon.exe cmd "C:\Windows\system32\cmd.exe sethc.exe 211" tag 1"#) },
    Fixture { rule: "child.shell-of-core", what: "powershell.exe under wininit.exe", expect: Hit { pid: 4000, at: "2024-03-01T10:00:00Z" },
        fires: &["child.shell-of-core"],
        scenario: console!(r"2024-03-01T10:00:00Z powershell.exe pid 4000 <- wininit.exe image C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe tag 1") },
    Fixture { rule: "child.shell-of-core", what: "PSEXESVC, svchost under services; userinit under winlogon; cmd under explorer", expect: Miss,
        fires: &[],
        scenario: console!(r"+1h PSEXESVC.exe <- services.exe image C:\Windows\PSEXESVC.exe user SYSTEM",
                           "+1m cmd.exe <- explorer.exe", "+1m powershell.exe <- cmd.exe", "+1h rdp CORP\\bob") },
];

#[test]
fn every_rule_has_a_positive_and_a_negative_fixture() {
    let baseline = Baseline::defaults().unwrap();
    let mut missing = Vec::new();
    for r in &baseline.rules {
        let pos = FIXTURES
            .iter()
            .any(|f| f.rule == r.id && matches!(f.expect, Hit { .. }));
        let neg = FIXTURES
            .iter()
            .any(|f| f.rule == r.id && matches!(f.expect, Miss));
        if !pos || !neg {
            missing.push(format!("{} (positive: {pos}, negative: {neg})", r.id));
        }
    }
    for f in FIXTURES {
        assert!(
            baseline.rules.iter().any(|r| r.id == f.rule),
            "fixture for unknown rule {}",
            f.rule
        );
    }
    assert!(missing.is_empty(), "rules without fixtures: {missing:#?}");
}

#[test]
fn every_fixture_shows_what_its_rule_says() {
    let failures: Vec<String> = FIXTURES.iter().filter_map(|f| check(f).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        FIXTURES.len(),
        failures.join("\n\n")
    );
}

/// The per-user svchost finding is low: `--fail-on medium` passes it, `--fail-on low` not.
#[test]
fn the_binary_exits_1_only_for_findings_at_or_above_fail_on() {
    let by_rule = |rule: &str, hit: bool| {
        FIXTURES
            .iter()
            .find(|f| f.rule == rule && matches!(f.expect, Hit { .. }) == hit)
            .unwrap()
    };
    let cases: &[(&Fixture, &str, i32, &[&str])] = &[
        (
            by_rule("parent.lsass", true),
            "high",
            1,
            &["parent.lsass", "child.lsass"],
        ),
        (
            by_rule("user.svchost", true),
            "medium",
            0,
            &["user.svchost"],
        ),
        (by_rule("user.svchost", true), "low", 1, &["user.svchost"]),
        (by_rule("start.session-late", false), "low", 0, &[]),
        (by_rule("path.core", false), "info", 0, &[]),
    ];
    for (f, fail_on, code, rules) in cases {
        let tmp = tempfile::tempdir().unwrap();
        write(f.scenario, tmp.path());
        let out_file = tmp.path().join("findings.jsonl");
        let out = support::run(&[
            "scan",
            &tmp.path().to_string_lossy(),
            "--format",
            "jsonl",
            "--fail-on",
            fail_on,
            "-o",
            &out_file.to_string_lossy(),
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(*code),
            "{} / {} --fail-on {fail_on}: {stderr}",
            f.rule,
            f.what
        );
        let lines = support::read_jsonl(&out_file);
        for rule in *rules {
            let hit = lines.iter().find(|l| l["rule"] == *rule);
            let hit = hit.unwrap_or_else(|| panic!("{}: no {rule} in {lines:?}", f.what));
            for key in [
                "severity",
                "host",
                "time",
                "image",
                "pid",
                "record_id",
                "file",
                "ancestry",
            ] {
                assert!(!hit[key].is_null(), "{rule}: no {key} in {hit}");
            }
            assert_eq!(hit["host"], "WIN10-A");
        }
        if rules.is_empty() {
            assert!(lines.is_empty(), "{}: {lines:?}", f.what);
        }
        let min = lines
            .iter()
            .filter_map(|l| l["severity"].as_str()?.parse::<Severity>().ok())
            .max();
        assert_eq!(min.is_some(), !rules.is_empty());
    }
}

/// `name.lookalike` judges each distinct name once per host: every process that carries a
/// look-alike name is still a finding of its own, and a name judged clean stays clean.
#[test]
fn every_process_with_a_lookalike_name_is_a_finding() {
    let tmp = tempfile::tempdir().unwrap();
    write(
        console!(
            r"2024-03-01T10:00:00Z scvhost.exe pid 4000 <- explorer.exe",
            r#"2024-03-01T10:05:00Z svchost.exe pid 4004 <- services.exe cmd "svchost.exe -k netsvcs" user SYSTEM"#,
            r"2024-03-01T10:10:00Z scvhost.exe pid 4008 <- explorer.exe",
            r"2024-03-01T10:15:00Z notepad.exe pid 4012 <- explorer.exe",
            r"2024-03-01T10:20:00Z scvhost.exe pid 4016 <- explorer.exe",
            r"2024-03-01T10:25:00Z notepad.exe pid 4020 <- explorer.exe"
        ),
        tmp.path(),
    );
    let found = scan_dir(tmp.path());
    let lookalikes: Vec<(Option<u64>, String)> = found
        .iter()
        .filter(|f| f.rule == "name.lookalike")
        .map(|f| (f.pid, lineage::time::format_rfc3339_ms(&f.time)))
        .collect();
    assert_eq!(
        lookalikes,
        [
            (Some(4000), "2024-03-01T10:00:00.000Z".to_string()),
            (Some(4008), "2024-03-01T10:10:00.000Z".to_string()),
            (Some(4016), "2024-03-01T10:20:00.000Z".to_string()),
        ],
        "{}",
        describe(&found)
    );
}

/// Without parent names (4688 v1) and without logged exits, a link is a PID alive at the
/// right time and nothing more: a wrong grandparent over such links is one step less severe
/// and says why, as a wrong parent over such a link is.
#[test]
fn a_grandparent_over_links_by_pid_and_time_alone_is_one_step_lower() {
    let scenario = concat!(
        "sources security-v1\n2024-03-01T07:59:00Z audit termination off\n",
        console!(
            "2024-03-01T09:00:00Z cmd.exe <- explorer.exe user SYSTEM session 0",
            "2024-03-01T09:59:59Z wininit.exe pid 3000 <- cmd.exe",
            "2024-03-01T10:00:00Z lsass.exe pid 4000 <- 3000"
        )
    );
    let tmp = tempfile::tempdir().unwrap();
    write(scenario, tmp.path());
    let found = scan_dir(tmp.path());
    let hit = found
        .iter()
        .find(|f| f.rule == "grandparent.services-lsass" && f.pid == Some(4000))
        .unwrap_or_else(|| panic!("no grandparent finding\n{}", describe(&found)));
    assert_eq!(hit.severity, Severity::Medium, "{}", describe(&found));
    assert!(
        hit.explanation.contains("PID and time only"),
        "{}",
        hit.explanation
    );
    assert_eq!(hit.parent_link, "pid_time");
}

/// A grandparent whose own start was never logged is still named by its child's event, as a
/// parent is by its child's in `parent` rules; the finding says which it is.
#[test]
fn a_grandparent_named_only_by_the_parents_event_says_so() {
    let f = FIXTURES
        .iter()
        .find(|f| f.rule == "grandparent.services-lsass" && f.what.contains("before logging"))
        .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    write(f.scenario, tmp.path());
    let found = scan_dir(tmp.path());
    let hit = found
        .iter()
        .find(|x| x.rule == f.rule && x.pid == Some(4000))
        .unwrap_or_else(|| panic!("{}", describe(&found)));
    assert!(
        hit.explanation
            .contains("its own start not logged; named by wininit.exe's"),
        "{}",
        hit.explanation
    );
    assert_eq!(hit.severity, Severity::High);
}

/// Sightings (Sysmon 17/18) of processes whose start is not logged, written as real EVTX with
/// the testkit's builders: the scenario language has no pipes, so these are built directly.
mod sightings {
    use super::*;
    use chrono::{DateTime, Utc};
    use lineage::baseline::Evidence;
    use lineage_testkit::events::{PipeEvent, ProcessCreate};
    use lineage_testkit::values::Guid;
    use lineage_testkit::{Event, EventFactory, EvtxWriter, Header};

    const HOST: &str = "WIN10-S";
    const MACHINE: u32 = 0x747f_3d96;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    /// A Sysmon GUID of this host started at `at`.
    fn guid(at: &str, counter: u16) -> Guid {
        Guid::sysmon(MACHINE, t(at).timestamp() as u32, counter, 0)
    }

    fn header(at: &str) -> Header {
        Header {
            time: t(at),
            process_id: 3320,
            thread_id: 4584,
        }
    }

    fn pipe(created: bool, at: &str, guid: Guid, pid: u32, image: &str) -> PipeEvent {
        PipeEvent {
            created,
            utc_time: t(at),
            guid,
            pid,
            pipe_name: "\\svchost".into(),
            image: image.into(),
        }
    }

    /// A Sysmon 1 of a well-formed service host (or any image) with the given parent.
    fn create(
        at: &str,
        g: Guid,
        pid: u32,
        image: &str,
        parent: (Guid, u32, &str),
    ) -> ProcessCreate {
        ProcessCreate {
            utc_time: t(at),
            guid: g,
            pid,
            image: image.into(),
            file_version: String::new(),
            description: String::new(),
            product: String::new(),
            company: String::new(),
            original_file_name: lineage::lineage::image_name(image).into(),
            command_line: format!("{image} -k netsvcs -p"),
            current_directory: "C:\\Windows\\system32\\".into(),
            user: "NT AUTHORITY\\SYSTEM".into(),
            logon_guid: guid("2024-03-01T08:00:00Z", 1),
            logon_id: 0x3e7,
            session: 0,
            integrity: "System".into(),
            hashes: String::new(),
            parent_guid: parent.0,
            parent_pid: parent.1,
            parent_image: parent.2.into(),
            parent_command_line: String::new(),
            parent_user: String::new(),
        }
    }

    /// Writes the events as one Sysmon log; returns the record id of each.
    fn write_sysmon(dir: &Path, events: &[Event]) -> Vec<u64> {
        let path = dir.join("Microsoft-Windows-Sysmon%4Operational.evtx");
        let mut w = EvtxWriter::create(&path).expect("create");
        let ids = events
            .iter()
            .map(|e| w.append(&e.record).expect("append"))
            .collect();
        w.finish().expect("finish");
        ids
    }

    fn ev(e: &Evidence) -> (u32, u64) {
        (e.event_id, e.record_id)
    }

    /// Case 14 in small: a renamed PsExec service in `C:\Windows` creates its pipe; its start
    /// was not logged. path.core fires on it, dated and evidenced by the pipe record.
    #[test]
    fn a_core_name_sighted_outside_system32_without_a_start_is_found() {
        let f = EventFactory::new(HOST);
        let fake = guid("2024-03-01T10:00:00Z", 7);
        let system = guid("2024-03-01T08:00:00Z", 1);
        let events = [
            f.sysmon_pipe(
                &header("2024-03-01T10:00:00.800Z"),
                &pipe(
                    true,
                    "2024-03-01T10:00:00.713Z",
                    fake,
                    1120,
                    r"C:\Windows\svchost.exe",
                ),
            ),
            f.sysmon_pipe(
                &header("2024-03-01T10:00:01Z"),
                &pipe(false, "2024-03-01T10:00:00.948Z", system, 4, "System"),
            ),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let ids = write_sysmon(tmp.path(), &events);
        let found = scan_dir(tmp.path());
        let rules: Vec<&str> = found.iter().map(|x| x.rule.as_str()).collect();
        assert_eq!(rules, ["path.core"], "{}", describe(&found));
        let hit = &found[0];
        assert_eq!(hit.host, HOST);
        assert_eq!(hit.pid, Some(1120));
        assert_eq!(
            lineage::time::format_rfc3339_ms(&hit.time),
            "2024-03-01T10:00:00.713Z"
        );
        assert_eq!(hit.record_id, ids[0]);
        assert_eq!(
            hit.evidence.iter().map(ev).collect::<Vec<_>>(),
            [(17, ids[0])]
        );
        assert_eq!(
            hit.evidence[0].channel,
            "Microsoft-Windows-Sysmon/Operational"
        );
        assert!(!hit.coverage.start_logged && !hit.coverage.parent_logged);
        assert_eq!(hit.parent_link, "not_logged");
        assert_eq!(hit.guid.as_deref(), Some(fake.to_braced().as_str()));
    }

    /// The nearest benign case: the real service host, sighted without its start.
    #[test]
    fn a_system32_service_host_sighted_without_a_start_raises_nothing() {
        let f = EventFactory::new(HOST);
        let real = guid("2024-03-01T10:00:00Z", 7);
        let events = [f.sysmon_pipe(
            &header("2024-03-01T10:00:01Z"),
            &pipe(
                false,
                "2024-03-01T10:00:00.948Z",
                real,
                1000,
                r"C:\Windows\system32\svchost.exe",
            ),
        )];
        let tmp = tempfile::tempdir().unwrap();
        write_sysmon(tmp.path(), &events);
        let found = scan_dir(tmp.path());
        assert!(found.is_empty(), "{}", describe(&found));
    }

    /// A sighting of a process whose start is logged adds nothing: no second process, and a
    /// forged image on the sighting does not override the start's.
    #[test]
    fn a_sighting_of_a_logged_process_makes_no_duplicate() {
        let f = EventFactory::new(HOST);
        let services = guid("2024-03-01T08:00:05Z", 2);
        let g = guid("2024-03-01T10:00:00Z", 7);
        let image = r"C:\Windows\System32\svchost.exe";
        let start = create(
            "2024-03-01T10:00:00.100Z",
            g,
            1000,
            image,
            (services, 640, r"C:\Windows\System32\services.exe"),
        );
        let events = [
            f.sysmon_process_create(&header("2024-03-01T10:00:00.200Z"), &start),
            f.sysmon_pipe(
                &header("2024-03-01T10:00:01Z"),
                &pipe(true, "2024-03-01T10:00:00.948Z", g, 1000, image),
            ),
            f.sysmon_pipe(
                &header("2024-03-01T10:00:02Z"),
                &pipe(
                    true,
                    "2024-03-01T10:00:01.948Z",
                    g,
                    1000,
                    r"C:\Windows\svchost.exe",
                ),
            ),
        ];
        let tmp = tempfile::tempdir().unwrap();
        write_sysmon(tmp.path(), &events);
        let found = scan_dir(tmp.path());
        assert!(found.is_empty(), "{}", describe(&found));
        let h = history_dir(tmp.path());
        let host = &h.hosts[0];
        let with_guid: Vec<_> = host
            .processes
            .iter()
            .filter(|p| p.info.guid.as_deref() == Some(g.to_braced().as_str()))
            .collect();
        assert_eq!(with_guid.len(), 1);
        assert!(with_guid[0].seen.is_none());
        assert_eq!(with_guid[0].info.image.as_deref(), Some(image));
        assert_eq!(h.stats.sighted, 0);
    }

    /// A parent known only from its child's ParentProcessGuid, with no ParentImage: the
    /// sighting names it, and path.core cites the sighting.
    #[test]
    fn a_sighting_names_a_placeholder_parent() {
        let f = EventFactory::new(HOST);
        let fake = guid("2024-03-01T10:00:00Z", 7);
        let child = create(
            "2024-03-01T10:00:05Z",
            guid("2024-03-01T10:00:05Z", 8),
            2000,
            r"C:\Windows\System32\cmd.exe",
            (fake, 1120, ""),
        );
        let events = [
            f.sysmon_pipe(
                &header("2024-03-01T10:00:01Z"),
                &pipe(
                    true,
                    "2024-03-01T10:00:00.713Z",
                    fake,
                    1120,
                    r"C:\Windows\svchost.exe",
                ),
            ),
            f.sysmon_process_create(&header("2024-03-01T10:00:05.100Z"), &child),
        ];
        let tmp = tempfile::tempdir().unwrap();
        let ids = write_sysmon(tmp.path(), &events);
        let h = history_dir(tmp.path());
        let host = &h.hosts[0];
        assert_eq!(host.processes.len(), 2, "the parent once, not twice");
        assert_eq!(h.stats.sighted, 1);
        let found = scan_dir(tmp.path());
        let hit = found
            .iter()
            .find(|x| x.rule == "path.core")
            .unwrap_or_else(|| panic!("{}", describe(&found)));
        assert_eq!(hit.pid, Some(1120));
        assert_eq!(
            hit.evidence.iter().map(ev).collect::<Vec<_>>(),
            [(17, ids[0])]
        );
        assert!(!hit.coverage.start_logged);
    }

    /// No sighting at all: the child's ParentImage alone names a parent outside System32, and
    /// the child's start is the evidence.
    #[test]
    fn a_parent_image_outside_system32_is_judged_from_the_childs_record() {
        let f = EventFactory::new(HOST);
        let fake = guid("2024-03-01T10:00:00Z", 7);
        let child = create(
            "2024-03-01T10:00:05.250Z",
            guid("2024-03-01T10:00:05Z", 8),
            2000,
            r"C:\Windows\System32\cmd.exe",
            (fake, 1120, r"C:\Windows\svchost.exe"),
        );
        let events = [f.sysmon_process_create(&header("2024-03-01T10:00:05.300Z"), &child)];
        let tmp = tempfile::tempdir().unwrap();
        let ids = write_sysmon(tmp.path(), &events);
        let found = scan_dir(tmp.path());
        let hit = found
            .iter()
            .find(|x| x.rule == "path.core")
            .unwrap_or_else(|| panic!("{}", describe(&found)));
        assert_eq!(hit.pid, Some(1120));
        assert_eq!(hit.image.as_deref(), Some(r"C:\Windows\svchost.exe"));
        assert_eq!(
            lineage::time::format_rfc3339_ms(&hit.time),
            "2024-03-01T10:00:05.250Z"
        );
        assert_eq!(
            hit.evidence.iter().map(ev).collect::<Vec<_>>(),
            [(1, ids[0])]
        );
        assert!(!hit.coverage.start_logged);
    }

    /// A look-alike name seen only through its pipe.
    #[test]
    fn a_lookalike_sighted_without_a_start_is_found() {
        let f = EventFactory::new(HOST);
        let g = guid("2024-03-01T10:00:00Z", 7);
        let events = [f.sysmon_pipe(
            &header("2024-03-01T10:00:01Z"),
            &pipe(
                true,
                "2024-03-01T10:00:00.713Z",
                g,
                1120,
                r"C:\Windows\System32\scvhost.exe",
            ),
        )];
        let tmp = tempfile::tempdir().unwrap();
        let ids = write_sysmon(tmp.path(), &events);
        let found = scan_dir(tmp.path());
        let rules: Vec<&str> = found.iter().map(|x| x.rule.as_str()).collect();
        assert_eq!(rules, ["name.lookalike"], "{}", describe(&found));
        assert_eq!(found[0].record_id, ids[0]);
    }
}

/// Reads a folder of logs and rebuilds its history.
fn history_dir(dir: &Path) -> lineage::lineage::History {
    let c = support::collect_events(&[dir.to_path_buf()], 1);
    lineage::lineage::build(c.events)
}

//! Starting and ending processes, and turning them into Sysmon and Security events.

use super::{
    Ended, Host, Integrity, Pending, PendingItem, Proc, SecurityVersion, Spawn, TruthProcess, User,
    SYSTEM_PID,
};
use crate::error::ModelError;
use crate::events::{Account, Channel, Event, Header, NewProcessV2};
use crate::images::{default_path, image_info};
use crate::values::{Guid, Sid};
use chrono::{DateTime, Duration, Utc};

/// `TokenElevationType` texts.
const ELEVATION_DEFAULT: &str = "%%1936";
const ELEVATION_FULL: &str = "%%1937";
const ELEVATION_LIMITED: &str = "%%1938";

impl Host {
    pub(super) fn logged(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        t + self.clock_offset
    }

    pub(super) fn header(&mut self, t: DateTime<Utc>, process_id: u32) -> Header {
        Header {
            time: self.logged(t),
            process_id,
            thread_id: 4 * self.rng.range(20, 3000) as u32,
        }
    }

    pub(super) fn push(&mut self, t: DateTime<Utc>, item: PendingItem) {
        self.seq += 1;
        if t > self.last_time {
            self.last_time = t;
        }
        self.pending.push(Pending {
            time: t,
            seq: self.seq,
            item,
            tag: self.tag,
        });
    }

    pub(super) fn push_event(&mut self, t: DateTime<Utc>, e: Event) {
        self.push(t, PendingItem::Event(e));
    }

    /// Starts a process under the live process `parent` at true time `at`.
    pub fn spawn(&mut self, at: DateTime<Utc>, parent: u32, s: Spawn) -> Result<Proc, ModelError> {
        let boot = self.boot.as_ref().ok_or(ModelError::NotRunning)?.start;
        let parent = self
            .live
            .get(&parent)
            .cloned()
            .ok_or_else(|| ModelError::NoSuchProcess(parent.to_string()))?;
        let pid = match s.pid {
            Some(p) => self.pids.take(p)?,
            None => self.pids.alloc(&mut self.rng)?,
        };
        // A child never starts before its parent: a parent spawned for a later time (explorer
        // 900 ms after userinit, a service host restarted seconds after its exit) may be
        // picked by an item timed in between.
        let at = match at.max(boot) {
            t if t < parent.start => parent.start + Duration::milliseconds(1),
            t => t,
        };
        let p = self.new_proc(at, pid, &parent, s);
        self.emit_create(&p, &parent);
        if let Some(truth) = self.truth.as_mut() {
            truth.push(TruthProcess {
                pid: p.pid,
                guid: p.guid,
                image: p.image.clone(),
                start: p.start + self.clock_offset,
                parent_pid: parent.pid,
                parent_guid: parent.guid,
                parent_start: parent.start + self.clock_offset,
                boot: self.boots,
            });
        }
        self.live.insert(pid, p.clone());
        Ok(p)
    }

    fn new_proc(&mut self, at: DateTime<Utc>, pid: u32, parent: &Proc, s: Spawn) -> Proc {
        let image = default_path(&s.image);
        let user = match &s.user {
            Some(u) => self.user(u),
            None => parent.user.clone(),
        };
        let integrity = s.integrity.unwrap_or(if user == parent.user {
            parent.integrity
        } else if user.service {
            Integrity::System
        } else {
            Integrity::Medium
        });
        let command_line = s.command_line.unwrap_or_else(|| match image.contains(' ') {
            true => format!("\"{image}\""),
            false => image.clone(),
        });
        let cwd = s.cwd.unwrap_or_else(|| default_cwd(&user));
        Proc {
            pid,
            guid: self.next_guid(at),
            image,
            command_line,
            cwd,
            session: s.session.unwrap_or(parent.session),
            user,
            integrity,
            start: at,
            parent_pid: parent.pid,
            parent_guid: parent.guid,
            parent_start: parent.start,
            original_file_name: s.original_file_name,
            boot: self.boots,
        }
    }

    /// Sysmon's process GUID for a process started at true time `at` (Sysmon reads the
    /// host clock, so the embedded seconds follow clock jumps).
    pub(super) fn next_guid(&mut self, at: DateTime<Utc>) -> Guid {
        self.guid_counter = self.guid_counter.wrapping_add(1);
        let secs = u32::try_from(self.logged(at).timestamp()).unwrap_or(0);
        Guid::sysmon(self.machine, secs, self.guid_counter, 3)
    }

    fn emit_create(&mut self, p: &Proc, parent: &Proc) {
        if !self.log_creation {
            return;
        }
        if self.sources.sysmon {
            let e = self.sysmon_create(p, parent);
            let delay = Duration::milliseconds(self.rng.range(5, 60) as i64);
            self.push_event(p.start + delay, e);
        }
        if let Some(v) = self.sources.security {
            let e = self.security_create(p, parent, v);
            self.push_event(p.start, e);
        }
    }

    fn sysmon_create(&mut self, p: &Proc, parent: &Proc) -> crate::events::Event {
        let info = image_info(&p.image, p.original_file_name.as_deref());
        let create = crate::events::ProcessCreate {
            utc_time: self.logged(p.start),
            guid: p.guid,
            pid: p.pid,
            image: p.image.clone(),
            file_version: info.file_version,
            description: info.description,
            product: info.product,
            company: info.company,
            original_file_name: info.original_file_name,
            command_line: p.command_line.clone(),
            current_directory: p.cwd.clone(),
            user: p.user.display.clone(),
            logon_guid: self.logon_guid(&p.user),
            logon_id: p.user.account.logon_id,
            session: p.session,
            integrity: p.integrity.name().to_string(),
            hashes: info.hashes,
            parent_guid: parent.guid,
            parent_pid: parent.pid,
            parent_image: parent.image.clone(),
            parent_command_line: parent.command_line.clone(),
            parent_user: parent.user.display.clone(),
        };
        let sysmon = self.sysmon_pid();
        let h = self.header(p.start, sysmon);
        self.factory.sysmon_process_create(&h, &create)
    }

    fn security_create(&mut self, p: &Proc, parent: &Proc, v: SecurityVersion) -> Event {
        let elevation = match (p.user.service, p.integrity) {
            (true, _) => ELEVATION_DEFAULT,
            (false, Integrity::High) => ELEVATION_FULL,
            (false, _) => ELEVATION_LIMITED,
        };
        let v2 = (v == SecurityVersion::V2).then(|| NewProcessV2 {
            target: target_account(&p.user, &parent.user),
            parent_image: if parent.pid == SYSTEM_PID {
                String::new()
            } else {
                parent.image.clone()
            },
            mandatory_label: Sid::parse(p.integrity.label()).unwrap_or_else(Sid::local_system),
        });
        let create = crate::events::NewProcess {
            subject: parent.user.account.clone(),
            pid: p.pid,
            image: p.image.clone(),
            elevation: elevation.to_string(),
            creator_pid: parent.pid,
            command_line: p.command_line.clone(),
            v2,
        };
        let h = self.header(p.start, SYSTEM_PID);
        self.factory.security_process_create(&h, &create)
    }

    fn logon_guid(&self, u: &User) -> Guid {
        let id = u.account.logon_id;
        let mut g = Guid::sysmon(self.machine, 0, 0, 0).0;
        let boot = self.boot.as_ref().map_or(0, |b| b.start.timestamp());
        g[4..8].copy_from_slice(&u32::try_from(boot).unwrap_or(0).to_le_bytes());
        g[8..16].copy_from_slice(&id.to_le_bytes());
        Guid(g)
    }

    pub(super) fn sysmon_pid(&self) -> u32 {
        self.boot.as_ref().map_or(0, |b| b.sysmon)
    }

    /// Ends a live process with exit status `status`.
    pub fn exit(&mut self, at: DateTime<Utc>, pid: u32, status: u32) -> Result<Proc, ModelError> {
        if pid == SYSTEM_PID {
            return Err(ModelError::Invalid("the System process cannot exit".into()));
        }
        let p = self
            .live
            .remove(&pid)
            .ok_or_else(|| ModelError::NoSuchProcess(pid.to_string()))?;
        self.pids.release(pid);
        let at = at.max(p.start);
        if !self.log_termination {
            return Ok(p);
        }
        if self.sources.sysmon {
            let t = crate::events::ProcessTerminate {
                utc_time: self.logged(at),
                guid: p.guid,
                pid,
                image: p.image.clone(),
                user: p.user.display.clone(),
            };
            let h = self.header(at, self.sysmon_pid());
            let e = self.factory.sysmon_process_terminate(&h, &t);
            self.push_event(at + Duration::milliseconds(20), e);
        }
        if self.sources.security.is_some() {
            let x = crate::events::ProcessExit {
                subject: p.user.account.clone(),
                status,
                pid,
                image: p.image.clone(),
            };
            let h = self.header(at, SYSTEM_PID);
            let e = self.factory.security_process_exit(&h, &x);
            self.push_event(at, e);
        }
        Ok(p)
    }

    /// Clears `channel` at `at` as the account `by`. The event-log service then logs who did
    /// it: 1102 as the first record of the new Security log, 104 in System for any other log
    /// (the System log itself included, whose new file starts with it).
    pub fn clear_log(&mut self, at: DateTime<Utc>, channel: Channel, by: &str) {
        self.push(at, PendingItem::Clear(channel));
        let who = self.user(by).account;
        let eventlog = self.boot.as_ref().map_or(0, |b| b.eventlog);
        let h = self.header(at, eventlog);
        let e = match channel {
            Channel::Security if self.sources.security.is_none() => return,
            Channel::Security => self.factory.security_log_cleared(&h, &who),
            other => self.factory.system_log_cleared(&h, &who, other.name()),
        };
        self.push_event(at, e);
    }

    /// The process `by` sets the clock `delta` forward (or back) at true time `at`: Security
    /// 4616 with the previous and new time, logged with the new clock and naming the process
    /// and its account (the Windows Time service's svchost as LOCAL SERVICE, a person's
    /// settings app). [`Host::clock_jump`] is the unlogged kind (a wrong RTC, a VM resume).
    pub fn set_clock(
        &mut self,
        at: DateTime<Utc>,
        delta: Duration,
        by: u32,
    ) -> Result<(), ModelError> {
        let p = self
            .live
            .get(&by)
            .cloned()
            .ok_or_else(|| ModelError::NoSuchProcess(by.to_string()))?;
        let previous = self.logged(at);
        self.clock_offset += delta;
        if self.sources.security.is_some() {
            let change = crate::events::TimeChange {
                subject: p.user.account.clone(),
                previous,
                new: self.logged(at),
                pid: p.pid,
                image: p.image.clone(),
            };
            let h = self.header(at, SYSTEM_PID);
            let e = self.factory.security_time_changed(&h, &change);
            self.push_event(at, e);
        }
        Ok(())
    }

    /// Sysmon 16: the configuration was changed to `path`.
    pub fn sysmon_config(&mut self, at: DateTime<Utc>, path: &str) {
        if self.sources.sysmon {
            let h = self.header(at, self.sysmon_pid());
            let hash = image_info(path, None).hashes;
            let e = self.factory.sysmon_config(&h, path, &hash);
            self.push_event(at, e);
        }
    }

    /// Marks the current boot as ended without shutdown markers (power loss, bugcheck).
    pub fn crash(&mut self, at: DateTime<Utc>) {
        if self.boot.take().is_some() {
            self.ended = Ended::Dirty(self.logged(at));
            self.live.clear();
        }
    }
}

/// 4688 v2 logs the NULL SID as target when the new process runs as its creator.
fn target_account(user: &User, creator: &User) -> Account {
    if user.account.sid == creator.account.sid {
        return Account {
            sid: Sid::parse("S-1-0-0").unwrap_or_else(Sid::local_system),
            name: "-".to_string(),
            domain: "-".to_string(),
            logon_id: 0,
        };
    }
    user.account.clone()
}

fn default_cwd(user: &User) -> String {
    if user.service {
        "C:\\Windows\\system32\\".to_string()
    } else {
        format!("C:\\Users\\{}\\", user.account.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::Sources;

    /// A logon times explorer.exe 900 ms after userinit; a program started under it in
    /// between used to start before its parent (found by `tests/accuracy_4688.rs`).
    #[test]
    fn a_child_timed_before_its_parent_starts_just_after_it() {
        let mut host = Host::new("WKS-T", Sources::default(), 1);
        let t = DateTime::from_timestamp(1_709_280_000, 0).unwrap_or_default();
        host.boot(t).unwrap();
        let logon = t + Duration::minutes(1);
        host.logon(logon, "CORP\\alice", false).unwrap();
        let explorer = host.find("explorer.exe").unwrap();
        let parent_start = host.process(explorer).unwrap().start;
        assert!(parent_start > logon + Duration::milliseconds(100));
        let child = host
            .spawn(
                logon + Duration::milliseconds(100),
                explorer,
                Spawn::new("notepad.exe"),
            )
            .unwrap();
        assert_eq!(child.start, parent_start + Duration::milliseconds(1));
    }
}

//! Boots, sessions and shutdowns: the core-process chain as Windows 10 logs it
//! (`../shared/BASELINE.md`): smss <- System; a per-session smss child starts csrss and
//! wininit (session 0) or csrss and winlogon (session 1+) and exits; services and lsass <-
//! wininit; svchost -k ... <- services; userinit <- winlogon; explorer <- userinit.

use super::{Boot, Ended, Host, Initiator, Integrity, Proc, Spawn, SYSTEM_PID};
use crate::error::ModelError;
use crate::events::{DirtyReboot, ShutdownRequest};
use crate::values::Guid;
use chrono::{DateTime, Duration, Utc};
use std::collections::BTreeMap;

const CSRSS_CMD: &str = "%SystemRoot%\\system32\\csrss.exe ObjectDirectory=\\Windows \
SharedSection=1024,20480,768 Windows=On SubSystemType=Windows \
ServerDll=basesrv,1 ServerDll=winsrv:UserServerDllInitialization,3 ServerDll=sxssrv,4 \
ProfileControl=Off MaxRequestThreads=16";

/// Services started at boot: command line and account. The third runs the EventLog service.
const BOOT_SERVICES: &[(&str, &str)] = &[
    ("svchost.exe -k DcomLaunch -p", "SYSTEM"),
    ("svchost.exe -k RPCSS -p", "NETWORK SERVICE"),
    (
        "svchost.exe -k LocalServiceNetworkRestricted -p",
        "LOCAL SERVICE",
    ),
    ("svchost.exe -k LocalSystemNetworkRestricted -p", "SYSTEM"),
    ("svchost.exe -k netsvcs -p", "SYSTEM"),
    ("svchost.exe -k LocalService -p", "LOCAL SERVICE"),
    ("svchost.exe -k NetworkService -p", "NETWORK SERVICE"),
    ("svchost.exe -k LocalServiceNoNetwork -p", "LOCAL SERVICE"),
    (
        "svchost.exe -k LocalServiceNetworkRestricted -p -s lmhosts",
        "LOCAL SERVICE",
    ),
    ("svchost.exe -k utcsvc -p", "SYSTEM"),
    ("spoolsv.exe", "SYSTEM"),
    ("svchost.exe -k appmodel -p -s StateRepository", "SYSTEM"),
];

fn ms(n: u64) -> Duration {
    Duration::milliseconds(n as i64)
}

impl Host {
    /// Boots at true time `at`. A host that is still running crashed first (the next boot
    /// then logs 6008). Logs Kernel-General 12, EventLog 6005/6013, Security 4608, Sysmon 4
    /// and the whole core chain with ~5 s of spacing.
    pub fn boot(&mut self, at: DateTime<Utc>) -> Result<(), ModelError> {
        if self.boot.is_some() {
            let last = self.last_time.max(at - Duration::seconds(1));
            self.crash(last.min(at));
        }
        self.boots += 1;
        self.live.clear();
        self.pids.reset(&mut self.rng);
        self.guid_counter = self.rng.range(0, 0x200) as u16;
        let system = self.system_process(at);
        self.live.insert(SYSTEM_PID, system);
        self.boot = Some(Boot {
            start: at,
            smss: 0,
            services: 0,
            lsass: 0,
            eventlog: 0,
            sysmon: 0,
            winlogon: BTreeMap::new(),
            next_session: 2,
        });
        let header = self.header(at + ms(500), SYSTEM_PID);
        let e = self.factory.kernel_boot(&header, self.logged(at));
        self.push_event(at + ms(500), e);
        if matches!(self.ended, Ended::Dirty(_)) {
            // Kernel-Power 41 comes from the kernel early in the boot after a dirty end;
            // EventLog's 6008 follows once the service runs (boot_markers).
            let header = self.header(at + ms(700), SYSTEM_PID);
            let e = self.factory.dirty_reboot(&header, &DirtyReboot::default());
            self.push_event(at + ms(700), e);
        }
        let jitter = self.rng.range(0, 400);
        let t = self.boot_sessions(at + ms(1000 + jitter))?;
        let t = self.boot_services(t)?;
        self.boot_markers(at, t);
        Ok(())
    }

    fn system_process(&mut self, at: DateTime<Utc>) -> Proc {
        let user = self.user("SYSTEM");
        Proc {
            pid: SYSTEM_PID,
            guid: self.next_guid(at),
            image: "System".to_string(),
            command_line: String::new(),
            cwd: String::new(),
            user,
            session: 0,
            integrity: Integrity::System,
            start: at,
            parent_pid: 0,
            parent_guid: Guid([0; 16]),
            parent_start: at,
            original_file_name: None,
            boot: self.boots,
        }
    }

    /// smss, autochk, session 0 (csrss, wininit) and session 1 (csrss, winlogon).
    fn boot_sessions(&mut self, t: DateTime<Utc>) -> Result<DateTime<Utc>, ModelError> {
        let smss_cmd = "\\SystemRoot\\System32\\smss.exe";
        let smss = self.spawn(t, SYSTEM_PID, Spawn::new("smss.exe").cmd(smss_cmd))?;
        self.set_boot(|b| b.smss = smss.pid);
        let autochk = Spawn::new("autochk.exe").cmd("\\??\\C:\\Windows\\system32\\autochk.exe *");
        let a = self.spawn(t + ms(300), smss.pid, autochk)?;
        self.exit(t + ms(900), a.pid, 0)?;
        let (wininit, t) = self.session_start(t + ms(1200), 0)?;
        let (winlogon, t) = self.session_start(t + ms(200), 1)?;
        let w = wininit.pid;
        let s = self.spawn(t + ms(300), w, Spawn::new("services.exe").cmd(SERVICES_CMD))?;
        let l = self.spawn(t + ms(350), w, Spawn::new("lsass.exe").cmd(LSASS_CMD))?;
        self.set_boot(|b| {
            b.services = s.pid;
            b.lsass = l.pid;
        });
        let font = Spawn::new("fontdrvhost.exe")
            .cmd("\"fontdrvhost.exe\"")
            .user("Font Driver Host\\UMFD-0");
        self.spawn(t + ms(400), w, font)?;
        self.winlogon_children(t + ms(500), winlogon.pid, 1)?;
        let header = self.header(t + ms(900), l.pid);
        let e = self.factory.security_startup(&header);
        self.push_event(t + ms(900), e);
        Ok(t + ms(1000))
    }

    /// A per-session smss child: csrss plus wininit (session 0) or winlogon (1+). Returns
    /// the wininit/winlogon process and the time the child exited.
    fn session_start(
        &mut self,
        t: DateTime<Utc>,
        session: u32,
    ) -> Result<(Proc, DateTime<Utc>), ModelError> {
        let smss = self.boot.as_ref().map_or(0, |b| b.smss);
        let args = format!(
            "\\SystemRoot\\System32\\smss.exe {:08x} {:08x}",
            0xcc + 8 * session,
            0x84
        );
        let mut child = Spawn::new("smss.exe").cmd(&args);
        child.session = Some(session);
        let child = self.spawn(t, smss, child)?;
        let mut csrss = Spawn::new("csrss.exe").cmd(CSRSS_CMD);
        csrss.session = Some(session);
        self.spawn(t + ms(80), child.pid, csrss)?;
        let name = if session == 0 {
            "wininit.exe"
        } else {
            "winlogon.exe"
        };
        let mut next = Spawn::new(name).cmd(name);
        next.session = Some(session);
        let p = self.spawn(t + ms(150), child.pid, next)?;
        if session > 0 {
            self.set_boot(|b| {
                b.winlogon.insert(session, p.pid);
            });
        }
        self.exit(t + ms(250), child.pid, 0)?;
        Ok((p, t + ms(250)))
    }

    /// fontdrvhost, LogonUI and dwm under a session's winlogon.
    fn winlogon_children(
        &mut self,
        t: DateTime<Utc>,
        w: u32,
        session: u32,
    ) -> Result<(), ModelError> {
        let font = Spawn::new("fontdrvhost.exe")
            .cmd("\"fontdrvhost.exe\"")
            .user(&format!("Font Driver Host\\UMFD-{session}"));
        self.spawn(t, w, font)?;
        let ui = "\"LogonUI.exe\" /flags:0x2 /state0:0xa3b92855 /state1:0x41c64e6d";
        self.spawn(t + ms(100), w, Spawn::new("LogonUI.exe").cmd(ui))?;
        let dwm = Spawn::new("dwm.exe")
            .cmd("\"dwm.exe\"")
            .user(&format!("Window Manager\\DWM-{session}"));
        self.spawn(t + ms(200), w, dwm)?;
        Ok(())
    }

    /// The boot services under services.exe, Sysmon's own service, and Sysmon 4.
    fn boot_services(&mut self, mut t: DateTime<Utc>) -> Result<DateTime<Utc>, ModelError> {
        let services = self.boot.as_ref().map_or(0, |b| b.services);
        for (i, (cmd, user)) in BOOT_SERVICES.iter().enumerate() {
            let image = cmd.split(' ').next().unwrap_or("svchost.exe");
            let full = format!("C:\\Windows\\system32\\{cmd}");
            let p = self.spawn(t, services, Spawn::new(image).cmd(&full).user(user))?;
            if i == 2 {
                self.set_boot(|b| b.eventlog = p.pid);
            }
            t += ms(60 + self.rng.range(0, 150));
        }
        if self.sources.sysmon {
            let sysmon = Spawn::new("Sysmon64.exe").cmd("C:\\Windows\\Sysmon64.exe");
            let p = self.spawn(t, services, sysmon)?;
            self.set_boot(|b| b.sysmon = p.pid);
            let h = self.header(t + ms(100), p.pid);
            let e = self.factory.sysmon_state(&h, "Started", "13.33", "4.81");
            self.push_event(t + ms(100), e);
        }
        Ok(t + ms(200))
    }

    /// System 6008 (after a crash), 6005 and 6013 once the EventLog service runs.
    fn boot_markers(&mut self, boot: DateTime<Utc>, t: DateTime<Utc>) {
        if let Ended::Dirty(previous) = self.ended {
            let h = self.header(t, 0);
            let e = self.factory.unexpected_shutdown(&h, previous);
            self.push_event(t, e);
        }
        self.ended = Ended::Never;
        let h = self.header(t, 0);
        let e = self.factory.eventlog_started(&h);
        self.push_event(t, e);
        let h = self.header(t + ms(1), 0);
        let uptime = (t - boot).num_seconds().max(0) as u64;
        let e = self.factory.uptime(&h, uptime);
        self.push_event(t + ms(1), e);
    }

    fn set_boot(&mut self, f: impl FnOnce(&mut Boot)) {
        if let Some(b) = self.boot.as_mut() {
            f(b);
        }
    }
}

const SERVICES_CMD: &str = "C:\\Windows\\system32\\services.exe";
const LSASS_CMD: &str = "C:\\Windows\\system32\\lsass.exe";

impl Host {
    /// An interactive logon by `user` at `at`: at the console (session 1, whose winlogon
    /// started at boot) or over RDP (a new session: smss child -> csrss + winlogon, then
    /// fontdrvhost, LogonUI, dwm). Then userinit <- winlogon, explorer <- userinit, and
    /// userinit exits. Returns the session number.
    pub fn logon(
        &mut self,
        at: DateTime<Utc>,
        user: &str,
        remote: bool,
    ) -> Result<u32, ModelError> {
        let boot = self.boot.as_ref().ok_or(ModelError::NotRunning)?;
        let (session, winlogon, t) = if remote {
            let session = boot.next_session;
            self.set_boot(|b| b.next_session += 1);
            let (w, t) = self.session_start(at, session)?;
            self.winlogon_children(t + ms(100), w.pid, session)?;
            (session, w.pid, t + ms(2000))
        } else {
            let w = boot
                .winlogon
                .get(&1)
                .copied()
                .ok_or(ModelError::NotRunning)?;
            (1, w, at)
        };
        let mut init = Spawn::new("userinit.exe")
            .cmd("C:\\Windows\\system32\\userinit.exe")
            .user(user);
        init.session = Some(session);
        let init = self.spawn(t, winlogon, init)?;
        let explorer = Spawn::new("explorer.exe").cmd("C:\\Windows\\Explorer.EXE");
        self.spawn(t + ms(900), init.pid, explorer)?;
        let lasted = self.rng.range(3000, 7000);
        self.exit(t + ms(lasted), init.pid, 0)?;
        Ok(session)
    }

    /// Ends `user`'s processes; a remote session's csrss, winlogon and helpers end too.
    pub fn logoff(&mut self, at: DateTime<Utc>, user: &str) -> Result<(), ModelError> {
        let sid = self.user(user).account.sid;
        let sessions: Vec<u32> = self
            .live
            .values()
            .filter(|p| p.user.account.sid == sid && p.session > 0)
            .map(|p| p.session)
            .collect();
        let mut victims: Vec<(DateTime<Utc>, u32)> = self
            .live
            .values()
            .filter(|p| sessions.contains(&p.session))
            .filter(|p| p.user.account.sid == sid || p.session > 1)
            .map(|p| (p.start, p.pid))
            .collect();
        victims.sort_by(|a, b| b.cmp(a));
        for (i, (_, pid)) in victims.into_iter().enumerate() {
            self.exit(at + ms(50 * i as u64), pid, 0)?;
        }
        let ended: Vec<u32> = sessions.into_iter().filter(|&s| s > 1).collect();
        self.set_boot(|b| b.winlogon.retain(|s, _| !ended.contains(s)));
        Ok(())
    }

    /// User32 1074 at `at`: `initiator` asks for a restart (`restart`) or a power off. Logged
    /// by winlogon; the shutdown itself is [`Host::shutdown`], seconds later.
    pub fn request_shutdown(
        &mut self,
        at: DateTime<Utc>,
        restart: bool,
        initiator: &Initiator,
    ) -> Result<(), ModelError> {
        let boot = self.boot.as_ref().ok_or(ModelError::NotRunning)?;
        let winlogon = boot.winlogon.get(&1).copied().unwrap_or(0);
        let host = self.name.clone();
        let (process, reason, code, user) = match initiator {
            Initiator::User(name) => (
                format!("C:\\Windows\\System32\\RuntimeBroker.exe ({host})"),
                "Other (Unplanned)",
                0,
                self.user(name),
            ),
            Initiator::LogonScreen => (
                format!("C:\\Windows\\system32\\winlogon.exe ({host})"),
                "No title for this reason could be found",
                0x500ff,
                self.user("SYSTEM"),
            ),
            Initiator::Update => (
                format!("C:\\Windows\\system32\\svchost.exe ({host})"),
                "Operating System: Service pack (Planned)",
                0x8002_0010,
                self.user("SYSTEM"),
            ),
        };
        let request = ShutdownRequest {
            process,
            reason: reason.to_string(),
            reason_code: code,
            action: if restart { "restart" } else { "power off" }.to_string(),
            comment: String::new(),
            user: user.display.clone(),
            user_sid: user.account.sid.clone(),
        };
        let h = self.header(at, winlogon);
        let e = self.factory.shutdown_requested(&h, &request);
        self.push_event(at, e);
        Ok(())
    }

    /// A clean shutdown at `at`: Security 4609 and 1100, System 6006 and Kernel-General 13.
    pub fn shutdown(&mut self, at: DateTime<Utc>) -> Result<(), ModelError> {
        let boot = self.boot.take().ok_or(ModelError::NotRunning)?;
        if self.sources.security.is_some() {
            let h = self.header(at + ms(1000), boot.lsass);
            let e = self.factory.security_shutdown(&h);
            self.push_event(at + ms(1000), e);
            let h = self.header(at + ms(2000), boot.eventlog);
            let e = self.factory.eventlog_service_shutdown(&h);
            self.push_event(at + ms(2000), e);
        }
        let h = self.header(at + ms(1500), 0);
        let e = self.factory.eventlog_stopped(&h);
        self.push_event(at + ms(1500), e);
        let stop = at + ms(3000);
        let h = self.header(stop, SYSTEM_PID);
        let e = self.factory.kernel_shutdown(&h, self.logged(stop));
        self.push_event(stop, e);
        self.live.clear();
        self.ended = Ended::Clean;
        Ok(())
    }
}

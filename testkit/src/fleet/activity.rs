//! A host's days: boots and reboots, sessions, user programs, background work, service
//! restarts, exits, and the planted anomalies.

use super::anomaly::{plant, AnomalyKind, Planted};
use super::{minutes, FleetConfig, HostPlan};
use crate::error::ModelError;
use crate::host::{Host, Initiator, Proc, Spawn};
use crate::logset::TaggedRecord;
use crate::rng::Rng;
use crate::values::Guid;
use chrono::{DateTime, Duration, Utc};
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Something that happens later: a process exit (if that process still runs) or a logoff.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Later {
    Exit(u32, Guid),
    Logoff(String),
}

/// User programs: image path (`{u}` is the user name), children images, minutes alive.
const APPS: &[(&str, &[&str], u64)] = &[
    (
        "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        &["chrome"],
        180,
    ),
    (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
        &[],
        480,
    ),
    (
        "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
        &[],
        60,
    ),
    ("notepad.exe", &[], 20),
    (
        "cmd.exe",
        &["conhost.exe", "whoami.exe", "ipconfig.exe", "net.exe"],
        10,
    ),
    ("powershell.exe", &["conhost.exe", "tasklist.exe"], 15),
    (
        "C:\\Users\\{u}\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe",
        &[],
        300,
    ),
    ("mmc.exe", &[], 30),
];

/// Background work: image, the svchost group that starts it, user (`{u}` = session user).
const BACKGROUND: &[(&str, &str, &str)] = &[
    ("taskhostw.exe", "-k netsvcs", "{u}"),
    ("WmiPrvSE.exe", "-k DcomLaunch", "NETWORK SERVICE"),
    ("RuntimeBroker.exe", "-k DcomLaunch", "{u}"),
    ("backgroundTaskHost.exe", "-k DcomLaunch", "{u}"),
    ("taskhostw.exe", "-k netsvcs", "SYSTEM"),
    ("MpCmdRun.exe", "-k netsvcs", "SYSTEM"),
    ("wuauclt.exe", "-k netsvcs", "SYSTEM"),
    ("conhost.exe", "-k LocalSystemNetworkRestricted", "SYSTEM"),
];

pub struct Simulation<'a> {
    cfg: &'a FleetConfig,
    plan: &'a HostPlan,
    rng: Rng,
    later: BinaryHeap<Reverse<(DateTime<Utc>, Later)>>,
    console_user: Option<String>,
    /// Tag, kind, process, its start as logged, parent image.
    planted: Vec<(u32, AnomalyKind, Proc, DateTime<Utc>, String)>,
}

impl<'a> Simulation<'a> {
    pub fn new(cfg: &'a FleetConfig, plan: &'a HostPlan) -> Simulation<'a> {
        Simulation {
            cfg,
            plan,
            rng: Rng::from_text(&plan.name, cfg.seed ^ 0x5eed),
            later: BinaryHeap::new(),
            console_user: None,
            planted: Vec::new(),
        }
    }

    fn day_start(&self, day: u32) -> DateTime<Utc> {
        self.cfg.start + Duration::days(i64::from(day))
    }

    fn at(&mut self, day: u32, from_min: u64, to_min: u64) -> DateTime<Utc> {
        let secs = self.rng.range(from_min * 60, to_min * 60);
        self.day_start(day) + Duration::seconds(secs as i64)
    }

    /// Simulates one day and returns the time before which every event is final. The
    /// morning boot, the logon, the evening and the night are items like the others, in
    /// time order: nothing runs on a machine that is off.
    pub fn day(&mut self, host: &mut Host, day: u32) -> Result<DateTime<Utc>, ModelError> {
        let mut items = Vec::new();
        if !host.is_running() {
            let t = if day == 0 {
                self.at(day, 0, 60)
            } else {
                self.at(day, 420, 500)
            };
            items.push((t, Item::Boot));
        }
        if !self.plan.server {
            items.push((self.at(day, 480, 570), Item::ConsoleLogon));
        }
        items.extend(self.plan_items(day));
        items.push((self.at(day, 1080, 1200), Item::EveningLogoff));
        items.push((self.at(day, 1230, 1400), Item::Night));
        items.sort_by_key(|(t, _)| *t);
        for (t, item) in items {
            self.run_due(host, t)?;
            self.item(host, t, item)?;
        }
        Ok(self.day_start(day + 1))
    }

    /// The day's timed items: activities, service restarts, RDP sessions, anomalies.
    fn plan_items(&mut self, day: u32) -> Vec<(DateTime<Utc>, Item)> {
        let n = (u64::from(self.cfg.procs_per_day) * 3 / 4).max(1);
        let mut items = Vec::new();
        for _ in 0..self.rng.range(n * 8 / 10, n * 12 / 10 + 1) {
            let office = !self.plan.server && self.rng.chance(0.75);
            let t = if office {
                self.at(day, 510, 1080)
            } else {
                self.at(day, 0, 1440)
            };
            let user_app = office && self.rng.chance(0.6);
            items.push((
                t,
                if user_app {
                    Item::App
                } else {
                    Item::Background
                },
            ));
        }
        for _ in 0..self.rng.range(2, 7) {
            items.push((self.at(day, 0, 1440), Item::ServiceRestart));
        }
        if self.plan.server && self.rng.chance(0.6) {
            items.push((self.at(day, 480, 1080), Item::Rdp));
        }
        if self.rng.chance(0.8) {
            items.push((self.at(day, 0, 1440), Item::TimeSync));
        }
        let planted: Vec<AnomalyKind> = self
            .plan
            .anomalies
            .iter()
            .filter(|(d, _)| *d == day)
            .map(|(_, k)| *k)
            .collect();
        for k in planted {
            items.push((self.at(day, 600, 960), Item::Anomaly(k)));
        }
        items
    }

    fn item(&mut self, host: &mut Host, t: DateTime<Utc>, item: Item) -> Result<(), ModelError> {
        if item == Item::Boot {
            return self.boot(host, t);
        }
        // Off, or planned for minutes when a quick reboot had the machine down.
        if host.boot_time().is_none_or(|b| b > t) {
            return Ok(());
        }
        match item {
            Item::Boot => Ok(()),
            Item::ConsoleLogon => self.console_logon(host, t),
            Item::EveningLogoff => self.evening_logoff(host, t),
            Item::Night => self.night(host, t),
            Item::App => self.user_app(host, t),
            Item::Background => self.background(host, t),
            Item::ServiceRestart => self.service_restart(host, t),
            Item::Rdp => self.rdp(host, t),
            Item::TimeSync => self.time_sync(host, t),
            Item::Anomaly(k) => self.anomaly(host, t, k),
        }
    }

    /// Runs exits and logoffs due before `t`.
    fn run_due(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        while let Some(Reverse((when, _))) = self.later.peek() {
            if *when > t {
                break;
            }
            let Some(Reverse((when, what))) = self.later.pop() else {
                break;
            };
            match what {
                Later::Exit(pid, guid) => {
                    if host.process(pid).is_some_and(|p| p.guid == guid) {
                        host.exit(when, pid, 0)?;
                    }
                }
                Later::Logoff(user) => host.logoff(when, &user)?,
            }
        }
        Ok(())
    }

    fn exit_later(&mut self, p: &Proc, after: Duration) {
        self.later
            .push(Reverse((p.start + after, Later::Exit(p.pid, p.guid))));
    }

    fn boot(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        self.later.clear();
        self.console_user = None;
        host.boot(t)
    }

    fn console_logon(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        if self.console_user.is_some() || !host.is_running() {
            return Ok(());
        }
        let Some(user) = self.rng.pick(&self.plan.users).cloned() else {
            return Ok(());
        };
        self.run_due(host, t)?;
        host.logon(t, &user, false)?;
        self.console_user = Some(user);
        Ok(())
    }

    fn session_user(&self) -> String {
        self.console_user
            .clone()
            .or_else(|| self.plan.users.first().cloned())
            .unwrap_or_else(|| "SYSTEM".to_string())
    }

    /// A user program under explorer, with children for shells and browsers.
    fn user_app(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        let Ok(explorer) = host.find("explorer.exe") else {
            return self.background(host, t);
        };
        let Some(&(image, children, life)) = self.rng.pick(APPS) else {
            return Ok(());
        };
        let user = self.session_user();
        let name = user.rsplit('\\').next().unwrap_or(&user).to_string();
        let image = image.replace("{u}", &name);
        let app = host.spawn(t, explorer, Spawn::new(&image))?;
        let lived = minutes(self.rng.range(1, life * 2));
        let mut when = t;
        for _ in 0..self.rng.range(0, 4).min(children.len() as u64 * 2) {
            let Some(&child) = self.rng.pick(children) else {
                break;
            };
            when += Duration::seconds(self.rng.range(1, 40) as i64);
            let spawn = match child {
                "chrome" => Spawn::new(&image).cmd(&format!("\"{image}\" --type=renderer")),
                other => Spawn::new(other),
            };
            let c = host.spawn(when, app.pid, spawn)?;
            let secs = Duration::seconds(self.rng.range(1, 600) as i64);
            self.exit_later(&c, secs);
        }
        // A process cannot start children once it has exited: it lives at least until its
        // last child's start (drawn after the children so the random sequence is unchanged).
        self.exit_later(&app, lived.max(when - t + Duration::seconds(1)));
        Ok(())
    }

    /// Background work started by a service host.
    fn background(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        let Some(&(image, group, user)) = self.rng.pick(BACKGROUND) else {
            return Ok(());
        };
        let Some(parent) = by_command_line(host, group) else {
            return Ok(());
        };
        let user = if user == "{u}" {
            match &self.console_user {
                Some(u) => u.clone(),
                None => "SYSTEM".to_string(),
            }
        } else {
            user.to_string()
        };
        let p = host.spawn(t, parent, Spawn::new(image).user(&user))?;
        let secs = Duration::seconds(self.rng.range(2, 900) as i64);
        self.exit_later(&p, secs);
        Ok(())
    }

    /// A service host stops and services.exe starts it again a few seconds later.
    fn service_restart(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        let Ok(services) = host.find("services.exe") else {
            return Ok(());
        };
        let candidates: Vec<(u32, String, String)> = host
            .live()
            .filter(|p| p.parent_pid == services && p.command_line.contains("-k Local"))
            .map(|p| (p.pid, p.command_line.clone(), p.user.display.clone()))
            .collect();
        let Some((pid, cmd, user)) = self.rng.pick(&candidates).cloned() else {
            return Ok(());
        };
        let user = user.rsplit('\\').next().unwrap_or("SYSTEM").to_string();
        host.exit(t, pid, 0)?;
        let again = t + Duration::seconds(self.rng.range(1, 10) as i64);
        host.spawn(
            again,
            services,
            Spawn::new("svchost.exe").cmd(&cmd).user(&user),
        )?;
        Ok(())
    }

    /// An administrator's RDP session that ends an hour or two later.
    fn rdp(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        let Some(user) = self.rng.pick(&self.plan.users).cloned() else {
            return Ok(());
        };
        let running = host
            .live()
            .any(|p| p.user.display.eq_ignore_ascii_case(&user));
        if running {
            return Ok(());
        }
        host.logon(t, &user, true)?;
        let end = t + minutes(self.rng.range(20, 150));
        self.later.push(Reverse((end, Later::Logoff(user))));
        Ok(())
    }

    /// The Windows Time service (in `svchost -k LocalService`, as LOCAL SERVICE) corrects
    /// the clock by under a second: Security 4616, as in the corpus's lab machines.
    fn time_sync(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        let Some(w32time) = by_command_line(host, "-k LocalService -p") else {
            return Ok(());
        };
        let ms = self.rng.range(5, 900) as i64;
        let delta = Duration::milliseconds(if self.rng.chance(0.5) { ms } else { -ms });
        host.set_clock(t, delta, w32time)
    }

    fn anomaly(
        &mut self,
        host: &mut Host,
        t: DateTime<Utc>,
        k: AnomalyKind,
    ) -> Result<(), ModelError> {
        let tag = self.planted.len() as u32;
        let user = self.session_user();
        let user = if user == "SYSTEM" {
            format!("{}\\user", host.name)
        } else {
            user
        };
        host.set_tag(Some(tag));
        let result = plant(host, t, k, &user);
        host.set_tag(None);
        match result {
            Ok(p) => {
                let parent = host.process(p.parent_pid).map(|q| q.image.clone());
                let logged = host.clock(p.start);
                self.planted
                    .push((tag, k, p, logged, parent.unwrap_or_default()));
            }
            Err(ModelError::NoSuchProcess(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Evening: most console users log off.
    fn evening_logoff(&mut self, host: &mut Host, t: DateTime<Utc>) -> Result<(), ModelError> {
        if let Some(user) = self.console_user.clone() {
            if self.rng.chance(0.7) {
                host.logoff(t, &user)?;
                self.console_user = None;
            }
        }
        Ok(())
    }

    /// Night: often nothing; sometimes a restart (Windows Update or a person: User32 1074
    /// first), a crash (the next boot logs Kernel-Power 41 and 6008), or a workstation
    /// powered off until the morning.
    fn night(&mut self, host: &mut Host, night: DateTime<Utc>) -> Result<(), ModelError> {
        let r = self.rng.range(0, 100);
        let back = night + minutes(self.rng.range(1, 10));
        let down = night + Duration::seconds(self.rng.range(3, 10) as i64);
        match r {
            0..=9 => {
                let who = if self.rng.chance(0.6) {
                    Initiator::Update
                } else {
                    self.initiator()
                };
                host.request_shutdown(night, true, &who)?;
                host.shutdown(down)?;
                self.boot(host, back)?;
            }
            10..=11 => {
                host.crash(night);
                self.boot(host, back)?;
            }
            12..=35 if !self.plan.server => {
                host.request_shutdown(night, false, &self.initiator())?;
                host.shutdown(down)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Who shuts the machine down by hand: the console user from the Start menu, or whoever
    /// presses the button on the logon screen.
    fn initiator(&self) -> Initiator {
        match &self.console_user {
            Some(u) => Initiator::User(u.clone()),
            None => Initiator::LogonScreen,
        }
    }

    /// The planted anomalies with the record ids their starts got.
    pub fn finish(self, tagged: &[TaggedRecord]) -> Vec<Planted> {
        self.planted
            .into_iter()
            .map(|(tag, kind, p, time, parent_image)| Planted {
                host: self.plan.name.clone(),
                time,
                kind,
                image: p.image.clone(),
                pid: p.pid,
                guid: p.guid,
                parent_pid: p.parent_pid,
                parent_image,
                records: tagged
                    .iter()
                    .filter(|r| r.tag == tag)
                    .map(|r| (r.channel, r.record_id))
                    .collect(),
                rules: kind.rules(self.plan.sources, &p),
            })
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Boot,
    ConsoleLogon,
    EveningLogoff,
    Night,
    App,
    Background,
    ServiceRestart,
    Rdp,
    TimeSync,
    Anomaly(AnomalyKind),
}

/// The live service host whose command line holds `needle` (`-k netsvcs`).
fn by_command_line(host: &Host, needle: &str) -> Option<u32> {
    host.live()
        .filter(|p| p.command_line.contains(needle) && p.name() == "svchost.exe")
        .map(|p| p.pid)
        .next()
}

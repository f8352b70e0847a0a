//! Processes by boot and PID.
//!
//! Windows reuses PIDs quickly, so one (boot, PID) pair names several processes over a boot,
//! but most pairs only a few. A list per pair was an allocation (and a free) for most
//! processes; instead each process points to the one before it with the same pair, and a map
//! holds the newest of each.

use super::ProcIdx;
use foldhash::{HashMap, HashMapExt};

/// The processes of each (boot, PID), as chains from the newest.
pub struct PidChains {
    newest: HashMap<(usize, u64), ProcIdx>,
    /// Per process (by index), the one added before it with the same boot and PID.
    previous: Vec<Option<ProcIdx>>,
}

impl PidChains {
    pub fn with_capacity(processes: usize) -> Self {
        PidChains {
            newest: HashMap::with_capacity(processes),
            previous: Vec::with_capacity(processes),
        }
    }

    /// Add the next process (processes are added in index order, each once; one without a
    /// PID is added too, to keep the indices aligned, but is in no chain).
    pub fn push(&mut self, boot: usize, pid: Option<u64>) {
        let idx = self.previous.len();
        let before = pid.and_then(|pid| self.newest.insert((boot, pid), idx));
        self.previous.push(before);
    }

    /// The processes with this boot and PID, the last added first.
    pub fn newest_first(&self, boot: usize, pid: u64) -> impl Iterator<Item = ProcIdx> + '_ {
        let newest = self.newest.get(&(boot, pid)).copied();
        std::iter::successors(newest, |&i| self.previous.get(i).copied().flatten())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chains_list_each_pid_newest_first() {
        let mut c = PidChains::with_capacity(4);
        for (boot, pid) in [
            (0, Some(8)),
            (0, Some(12)),
            (0, None),
            (1, Some(8)),
            (0, Some(8)),
        ] {
            c.push(boot, pid);
        }
        assert_eq!(c.newest_first(0, 8).collect::<Vec<_>>(), [4, 0]);
        assert_eq!(c.newest_first(0, 12).collect::<Vec<_>>(), [1]);
        assert_eq!(c.newest_first(1, 8).collect::<Vec<_>>(), [3]);
        assert_eq!(c.newest_first(2, 8).count(), 0);
    }
}

//! Process ids as Windows hands them out: multiples of 4 from a handle table, freed ids
//! reused after a while, so a long-running host sees the same PID on many processes.

use crate::error::ModelError;
use crate::rng::Rng;
use std::collections::{BTreeSet, VecDeque};

/// The highest PID handed out; Windows' table grows further on busy servers.
const MAX_PID: u32 = 65_532;
/// Freed ids wait in a queue; once it is this long, new processes often reuse them.
const REUSE_AFTER: usize = 24;

#[derive(Debug, Clone)]
pub struct PidAllocator {
    next: u32,
    free: VecDeque<u32>,
    used: BTreeSet<u32>,
}

impl PidAllocator {
    pub fn new() -> PidAllocator {
        PidAllocator {
            next: 4,
            free: VecDeque::new(),
            used: BTreeSet::new(),
        }
    }

    /// Forgets every process (a reboot); the next PIDs start low again.
    pub fn reset(&mut self, rng: &mut Rng) {
        self.next = 4 * rng.range(60, 100) as u32;
        self.free.clear();
        self.used.clear();
        self.used.insert(4);
    }

    /// A fresh or reused PID.
    pub fn alloc(&mut self, rng: &mut Rng) -> Result<u32, ModelError> {
        let reuse = self.free.len() > REUSE_AFTER && rng.chance(0.6);
        if reuse || self.next >= MAX_PID {
            while let Some(pid) = self.free.pop_front() {
                if self.used.insert(pid) {
                    return Ok(pid);
                }
            }
        }
        while self.next < MAX_PID {
            self.next += 4 * rng.range(1, 5) as u32;
            if self.next <= MAX_PID && self.used.insert(self.next) {
                return Ok(self.next);
            }
        }
        Err(ModelError::PidsExhausted)
    }

    /// Claims a specific PID (a scenario forcing reuse). Windows only hands out multiples
    /// of 4, but a scenario may ask for any id but 0 (Idle) and 4 (System).
    pub fn take(&mut self, pid: u32) -> Result<u32, ModelError> {
        if pid == 0 || pid == 4 {
            return Err(ModelError::BadPid(pid));
        }
        if !self.used.insert(pid) {
            return Err(ModelError::PidInUse(pid));
        }
        self.free.retain(|&p| p != pid);
        Ok(pid)
    }

    pub fn release(&mut self, pid: u32) {
        if self.used.remove(&pid) {
            self.free.push_back(pid);
        }
    }
}

impl Default for PidAllocator {
    fn default() -> Self {
        PidAllocator::new()
    }
}

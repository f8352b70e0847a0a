//! Process exit codes.
//!
//! `lineage` runs unattended (cron, CI, a SOAR playbook), where the exit code is often the
//! only thing anyone looks at. The codes and the rule for combining outcomes are documented
//! for operators in `docs/exit-codes.md`; keep the two in step.
//!
//! Values: 0 to 4 are the ordinary outcomes, small and dense so a shell `case` stays short.
//! `Usage` is 2 because clap already exits with 2 on a bad argument, so every usage problem
//! has one code whether clap or `lineage` found it. `Internal` is 70, `EX_SOFTWARE` from BSD
//! `sysexits.h`, set apart from the ordinary outcomes so a wrapper can tell "the tool is
//! broken" from "the run went badly". (A panic that is not caught exits with Rust's 101,
//! which means the same thing.)

/// How a run ended. The numeric values are the process exit status.
///
/// The numbers are *not* a severity order (`Damaged` = 3 is less severe than `Findings` =
/// 1); combine outcomes with [`ExitCode::merge`], never with `max`.
#[repr(u8)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ExitCode {
    /// Completed; all input was read; nothing reached `--fail-on`.
    #[default]
    Success = 0,
    /// A finding reached the `--fail-on` threshold (used by the `scan` command).
    Findings = 1,
    /// Bad arguments or missing inputs; nothing useful was done.
    Usage = 2,
    /// Completed, but some input was damaged or unreadable and was skipped, so the output
    /// may be missing events.
    Damaged = 3,
    /// Could not write the output, or another fatal I/O error. With a file destination the
    /// previous report (if any) is left as it was, so it is stale.
    Io = 4,
    /// A bug in `lineage` (an internal invariant failed or a panic was caught).
    Internal = 70,
}

impl ExitCode {
    /// Every code, in precedence order from least to most severe.
    pub const BY_PRECEDENCE: [ExitCode; 6] = [
        ExitCode::Success,
        ExitCode::Damaged,
        ExitCode::Findings,
        ExitCode::Io,
        ExitCode::Usage,
        ExitCode::Internal,
    ];

    /// The process exit status.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// Combines two outcomes of one run, keeping the one that should decide the exit status:
    ///
    /// `Internal` > `Usage` > `Io` > `Findings` > `Damaged` > `Success`.
    ///
    /// Why this order:
    /// * `Findings` beats `Damaged`: a nightly job must learn about a possible compromise
    ///   even when one of a hundred log files was truncated. A finding from the readable
    ///   input is real however much other input was lost; the damage is still listed in
    ///   the run summary and the JSON output.
    /// * `Io` beats `Findings`: if the report could not be written, the findings are not in
    ///   it. The atomic writer leaves the *previous* report in place, so exiting with
    ///   `Findings` would send an analyst to yesterday's file. Fixing the output and
    ///   rerunning brings the findings back, with a report to read.
    /// * `Usage` beats `Io`: the run did not do what was asked at all; the invocation must be
    ///   fixed before anything else means anything.
    /// * `Internal` beats everything: after a bug no other result can be trusted.
    #[must_use]
    pub fn merge(self, other: ExitCode) -> ExitCode {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }

    /// A short description, for logs and `--help` text.
    pub fn description(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Findings => "findings reached --fail-on",
            ExitCode::Usage => "bad arguments or missing inputs",
            ExitCode::Damaged => "completed, but some input was damaged and skipped",
            ExitCode::Io => "could not write output (fatal I/O error)",
            ExitCode::Internal => "internal error (a bug in lineage)",
        }
    }

    /// Position in [`Self::BY_PRECEDENCE`]; the single source of the order.
    fn rank(self) -> usize {
        Self::BY_PRECEDENCE
            .iter()
            .position(|&c| c == self)
            .unwrap_or(Self::BY_PRECEDENCE.len())
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

impl std::fmt::Display for ExitCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.code(), self.description())
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode::*;
    use super::*;

    #[test]
    fn values_are_stable() {
        let codes: Vec<u8> = [Success, Findings, Usage, Damaged, Io, Internal]
            .iter()
            .map(|c| c.code())
            .collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 70]);
    }

    #[test]
    fn findings_beat_damage() {
        assert_eq!(Damaged.merge(Findings), Findings);
        assert_eq!(Findings.merge(Damaged), Findings);
    }

    #[test]
    fn io_beats_findings_and_usage_beats_io() {
        assert_eq!(Findings.merge(Io), Io);
        assert_eq!(Io.merge(Findings), Io);
        assert_eq!(Io.merge(Usage), Usage);
        assert_eq!(Usage.merge(Io), Usage);
    }

    #[test]
    fn success_is_the_identity_and_internal_absorbs() {
        for c in ExitCode::BY_PRECEDENCE {
            assert_eq!(Success.merge(c), c);
            assert_eq!(c.merge(Success), c);
            assert_eq!(c.merge(Internal), Internal);
            assert_eq!(Internal.merge(c), Internal);
            assert_eq!(c.merge(c), c);
        }
    }

    #[test]
    fn merge_is_commutative_and_associative() {
        for a in ExitCode::BY_PRECEDENCE {
            for b in ExitCode::BY_PRECEDENCE {
                assert_eq!(a.merge(b), b.merge(a));
                for c in ExitCode::BY_PRECEDENCE {
                    assert_eq!(a.merge(b).merge(c), a.merge(b.merge(c)));
                }
            }
        }
    }

    #[test]
    fn folding_a_run() {
        let outcomes = [Success, Damaged, Findings, Damaged, Success];
        let code = outcomes
            .into_iter()
            .fold(ExitCode::default(), ExitCode::merge);
        assert_eq!(code, Findings);
    }

    #[test]
    fn converts_to_process_exit_code() {
        let code: std::process::ExitCode = Internal.into();
        assert_eq!(code, std::process::ExitCode::from(70));
    }

    #[test]
    fn documentation_lists_every_code() {
        let doc = include_str!("../docs/exit-codes.md");
        for c in ExitCode::BY_PRECEDENCE {
            let row = format!("| {} | `{:?}` |", c.code(), c);
            assert!(
                doc.contains(&row),
                "docs/exit-codes.md lacks the row {row:?}"
            );
        }
    }
}

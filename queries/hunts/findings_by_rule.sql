-- title: Baseline findings stacked by rule across the fleet
-- technique: (by rule; see docs/rules.md)
-- finds: For each baseline rule that fired, how many hosts, boots and findings, the worst severity and the first and last time, rarest first: one host with a wrong-parent lsass.exe matters more than a rule that fires on every machine (which is a tuning question).
-- noise: None of its own; it summarises `lineage scan`.
SELECT
    rule,
    MAX(severity_rank) AS worst,
    MIN(title) AS title,
    COUNT(DISTINCT host) AS hosts,
    COUNT(DISTINCT boot_key) AS boots,
    COUNT(*) AS findings,
    MIN(time) AS first_seen,
    MAX(time) AS last_seen
FROM findings
GROUP BY rule
ORDER BY hosts, findings, worst DESC, rule

-- title: Processes whose parent is missing although the boot was logged from its start
-- technique: T1070 Indicator Removal; T1562.002 Impair Defenses: Disable Windows Event Logging; T1055 Process Injection
-- finds: Logged processes in boots whose first processes are in the logs, whose parent could not be found (no match, ambiguous, or a parent that started in this boot but has no start event). With the boot captured, a parent should be there: its record may have been deleted, the log may have been paused or cleared, or the parent may be a process that was never started normally.
-- noise: Low to moderate: events lost to a full log or to damaged chunks look the same; check the boot's log_cleared and clock_changed columns and the input's integrity report.
SELECT
    c.host,
    c.boot,
    c.start,
    c.pid,
    c.image,
    c.parent_pid,
    c.parent_image,
    c.link,
    p.origin AS parent_origin,
    b.log_cleared,
    c.process_key
FROM processes c
JOIN boots b ON c.boot_key = b.boot_key
LEFT JOIN processes p ON c.parent_key = p.process_key
WHERE b.processes_captured
  AND c.origin = 'logged'
  AND c.image_name NOT IN ('smss.exe', 'registry', 'memory compression')
  AND (c.link IN ('not_logged', 'ambiguous') OR p.origin = 'missing_event')
ORDER BY c.host, c.boot, c.start

-- title: Executable paths, rarest first
-- technique: T1036.005 Masquerading: Match Legitimate Name or Location; T1204.002 Malicious File
-- finds: Every normalised image path with how many hosts, boots and processes ran it, rarest first: the binary that ran once on one machine, and a core name (svchost.exe) run from a second folder.
-- noise: Moderate: per-user installs (AppData) and versioned update folders are rare by nature.
SELECT
    image_path,
    COUNT(DISTINCT host) AS hosts,
    COUNT(DISTINCT boot_key) AS boots,
    COUNT(*) AS processes,
    MIN(start) AS first_seen,
    MIN(process_key) AS example
FROM processes
WHERE origin = 'logged' AND image_path IS NOT NULL
GROUP BY image_path
ORDER BY hosts, boots, processes, image_path

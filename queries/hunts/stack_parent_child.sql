-- title: Parent -> child pairs, rarest first
-- technique: T1059 Command and Scripting Interpreter; T1036 Masquerading; T1204 User Execution
-- finds: Every (parent, child) pair of image names with how many hosts, boots and processes show it, rarest first, with where it was first seen. A pair that one host shows once, in a fleet where the parent runs everywhere, is where to look first (winword.exe -> cmd.exe, services.exe -> powershell.exe, svchost.exe -> rundll32.exe with a user-folder DLL).
-- noise: High on one host (everything is rare there); meant for many hosts and boots. Installers, updaters and admin tools fill the rare end; an allowlist of known pairs in a WHERE clause cuts them.
SELECT
    COALESCE(parent_image_name, '?') AS parent,
    image_name AS child,
    COUNT(DISTINCT host) AS hosts,
    COUNT(DISTINCT boot_key) AS boots,
    COUNT(*) AS processes,
    MIN(start) AS first_seen,
    MAX(start) AS last_seen,
    MIN(process_key) AS example
FROM processes
WHERE origin = 'logged' AND image_name IS NOT NULL
GROUP BY COALESCE(parent_image_name, '?'), image_name
ORDER BY hosts, boots, processes, parent, child

-- title: Parent -> child pairs, rarest first
-- technique: T1059 Command and Scripting Interpreter; T1036 Masquerading; T1204 User Execution
-- finds: Every (parent, child) pair of image names with how many hosts, boots and processes show it, rarest first, with where it was first seen. A pair that one host shows once, in a fleet where the parent runs everywhere, is where to look first (winword.exe -> cmd.exe, services.exe -> powershell.exe, svchost.exe -> rundll32.exe with a user-folder DLL).
-- noise: Pairs need both names: the parent is the linked parent's image, else the parent image the child logged; children with neither (Security 4688 version 0/1 with no linked parent) are left out. High on one host (everything is rare there); meant for many hosts and boots. Installers, updaters and admin tools fill the rare end; an allowlist of known pairs in a WHERE clause cuts them.
WITH pairs AS (
    SELECT
        COALESCE(p.image_name, c.parent_image_name) AS parent,
        c.image_name AS child,
        c.host AS host,
        c.boot_key AS boot_key,
        c.start AS start,
        c.process_key AS process_key
    FROM processes c
    LEFT JOIN processes p ON c.parent_key = p.process_key
    WHERE c.origin = 'logged' AND c.image_name IS NOT NULL
)
SELECT
    parent,
    child,
    COUNT(DISTINCT host) AS hosts,
    COUNT(DISTINCT boot_key) AS boots,
    COUNT(*) AS processes,
    MIN(start) AS first_seen,
    MAX(start) AS last_seen,
    MIN(process_key) AS example
FROM pairs
WHERE parent IS NOT NULL
GROUP BY parent, child
ORDER BY hosts, boots, processes, parent, child

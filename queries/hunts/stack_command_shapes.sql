-- title: Command-line shapes per program, rarest first
-- technique: T1059 Command and Scripting Interpreter; T1218 System Binary Proxy Execution
-- finds: For every program, each command-line shape (numbers, GUIDs, hex, user names and base64 blobs replaced by placeholders) with how many hosts, boots and processes ran it, rarest first. The one rundll32.exe or powershell.exe line that differs from the thousands of routine ones stands out.
-- noise: High on one host; meant for fleets. Interactive admin work and one-off installers are rare by nature.
SELECT
    image_name AS program,
    command_shape,
    COUNT(DISTINCT host) AS hosts,
    COUNT(DISTINCT boot_key) AS boots,
    COUNT(*) AS processes,
    MIN(start) AS first_seen,
    MIN(process_key) AS example
FROM processes
WHERE origin = 'logged' AND command_shape IS NOT NULL
GROUP BY image_name, command_shape
ORDER BY hosts, boots, processes, program, command_shape

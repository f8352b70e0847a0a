-- title: Core Windows processes with rare command lines
-- technique: T1036 Masquerading; T1055 Process Injection (hollowed core processes started with odd arguments)
-- finds: The command-line shapes of core processes (svchost, lsass, services, smss, csrss, wininit, winlogon, explorer, userinit, taskhostw, sihost, RuntimeBroker, lsaiso, spoolsv, dllhost, conhost), rarest first. Core processes start with a small set of known arguments; svchost.exe without -k, or lsass.exe with arguments at all, is a lead.
-- noise: Low to moderate: svchost service groups differ between Windows versions, so a mixed fleet shows a few honest rare shapes.
SELECT
    image_name AS program,
    command_shape,
    COUNT(DISTINCT host) AS hosts,
    COUNT(DISTINCT boot_key) AS boots,
    COUNT(*) AS processes,
    MIN(start) AS first_seen,
    MIN(process_key) AS example
FROM processes
WHERE origin = 'logged'
  AND command_shape IS NOT NULL
  AND image_name IN ('svchost.exe', 'lsass.exe', 'services.exe', 'smss.exe', 'csrss.exe',
                     'wininit.exe', 'winlogon.exe', 'explorer.exe', 'userinit.exe',
                     'taskhostw.exe', 'sihost.exe', 'runtimebroker.exe', 'lsaiso.exe',
                     'spoolsv.exe', 'dllhost.exe', 'conhost.exe', 'lsm.exe')
GROUP BY image_name, command_shape
ORDER BY hosts, boots, processes, program, command_shape

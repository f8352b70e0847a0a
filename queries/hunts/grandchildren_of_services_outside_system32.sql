-- title: Grandchildren of services.exe outside System32
-- technique: T1543.003 Windows Service; T1036.005 Masquerading: Match Legitimate Location
-- finds: Processes whose grandparent is services.exe (started by a service or by a svchost service host) and whose image is outside System32 and SysWOW64, with their parent: what services and scheduled tasks spawned from unusual places (a task running C:\Users\Public\x.exe under svchost.exe -k netsvcs, a service's child in a temp folder).
-- noise: Moderate to high: installers, updaters and third-party agents run this way; look at the rare paths and users first.
SELECT
    c.host,
    c.start,
    c.pid,
    c.image,
    c.command_line,
    c."user",
    p.image_name AS parent,
    p.command_line AS parent_command_line,
    c.process_key
FROM processes c
JOIN processes p ON c.parent_key = p.process_key
JOIN processes g ON p.parent_key = g.process_key
WHERE g.image_name = 'services.exe'
  AND c.image_path IS NOT NULL
  AND NOT starts_with(c.image_path, 'c:\windows\system32\')
  AND NOT starts_with(c.image_path, 'c:\windows\syswow64\')
ORDER BY c.host, c.start

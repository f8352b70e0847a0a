-- title: Children of services.exe outside System32
-- technique: T1543.003 Create or Modify System Process: Windows Service; T1569.002 Service Execution
-- finds: Processes started by services.exe (service binaries) whose image is not in System32 or SysWOW64: a new service installed by an attacker (PsExec's PSEXESVC.exe in C:\Windows, a binary in C:\Users or C:\ProgramData) or a hijacked service path.
-- noise: Moderate: third-party services (Program Files, Defender under ProgramData, VM tools) are legitimate; the hosts column shows which are fleet-wide and so expected.
SELECT
    c.host,
    c.start,
    c.pid,
    c.image,
    c.command_line,
    c."user",
    c.process_key
FROM processes c
JOIN processes p ON c.parent_key = p.process_key
WHERE p.image_name = 'services.exe'
  AND c.image_path IS NOT NULL
  AND NOT starts_with(c.image_path, 'c:\windows\system32\')
  AND NOT starts_with(c.image_path, 'c:\windows\syswow64\')
ORDER BY c.host, c.start

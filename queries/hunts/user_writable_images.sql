-- title: Programs run from user-writable folders
-- technique: T1204.002 User Execution: Malicious File; T1036.005 Masquerading: Match Legitimate Location
-- finds: Processes whose image is in a folder any user can write: C:\Users\Public, a profile's AppData or Downloads, C:\Windows\Temp, C:\ProgramData (outside Microsoft's own folders), C:\PerfLogs, the recycle bin. Droppers and hands-on-keyboard tools land there.
-- noise: Moderate: per-user installs (Teams, browsers in AppData\Local) are legitimate; they repeat across users and hosts.
SELECT
    host,
    start,
    pid,
    image,
    command_line,
    "user",
    parent_image_name AS parent,
    process_key
FROM processes
WHERE origin = 'logged'
  AND image_path IS NOT NULL
  AND (regexp_like(image_path, '^c:\\users\\(public|[^\\]+\\(appdata|downloads|desktop|documents))\\')
       OR starts_with(image_path, 'c:\windows\temp\')
       OR starts_with(image_path, 'c:\perflogs\')
       OR starts_with(image_path, 'c:\$recycle.bin\')
       OR (starts_with(image_path, 'c:\programdata\')
           AND NOT starts_with(image_path, 'c:\programdata\microsoft\')))
ORDER BY host, start

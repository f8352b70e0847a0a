-- title: One parent running several discovery commands
-- technique: T1033 System Owner/User Discovery; T1082 System Information Discovery; T1016 System Network Configuration Discovery; T1087 Account Discovery
-- finds: Parents that started three or more different discovery tools (whoami, net, nltest, ipconfig, systeminfo, tasklist, quser, netstat, ...) in one boot: the first minutes of hands-on-keyboard activity or a post-exploitation script.
-- noise: Low to moderate: admin scripts and inventory agents do the same, always from the same parent and command lines.
WITH runs AS (
    SELECT
        c.host AS host,
        c.boot AS boot,
        c.parent_key AS parent_key,
        p.image_name AS parent,
        p.pid AS parent_pid,
        c.image_name AS program,
        c.start AS start
    FROM processes c
    JOIN processes p ON c.parent_key = p.process_key
    WHERE c.image_name IN ('whoami.exe', 'net.exe', 'net1.exe', 'nltest.exe', 'ipconfig.exe',
                           'systeminfo.exe', 'tasklist.exe', 'quser.exe', 'query.exe',
                           'qwinsta.exe', 'netstat.exe', 'arp.exe', 'route.exe', 'hostname.exe',
                           'nslookup.exe', 'dsquery.exe', 'adfind.exe', 'klist.exe', 'cmdkey.exe',
                           'wmic.exe', 'netsh.exe', 'sc.exe', 'reg.exe', 'ping.exe',
                           'gpresult.exe')
)
SELECT
    host,
    boot,
    parent,
    parent_pid,
    COUNT(DISTINCT program) AS tools,
    COUNT(*) AS processes,
    MIN(start) AS first,
    MAX(start) AS last,
    STRING_AGG(DISTINCT program, ', ') AS programs,
    parent_key
FROM runs
GROUP BY host, boot, parent, parent_pid, parent_key
HAVING COUNT(DISTINCT program) >= 3
ORDER BY host, first

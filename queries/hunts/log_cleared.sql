-- title: Event logs cleared, and the boots they hide
-- technique: T1070.001 Indicator Removal: Clear Windows Event Logs
-- finds: Every Security 1102 and System 104 record (a log was cleared), with who cleared it as logged and the host and channel; join to boots on host and time to see which boot's history is incomplete.
-- noise: Low: clearing logs is rare outside lab machines and reimaging.
SELECT
    host,
    time,
    channel,
    event_id,
    record_id,
    detail,
    file
FROM events
WHERE kind = 'marker' AND marker = 'log_cleared'
ORDER BY host, time

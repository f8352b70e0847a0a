-- title: PowerShell with encoded commands, download cradles or in-memory execution
-- technique: T1059.001 PowerShell; T1027 Obfuscated Files or Information; T1105 Ingress Tool Transfer
-- finds: powershell.exe and pwsh.exe started with -EncodedCommand (any abbreviation), FromBase64String, DownloadString/DownloadFile, Invoke-Expression (IEX), a hidden window with no profile, or a web client; with the parent that started it.
-- noise: Low to moderate: some management agents (SCCM, monitoring) run encoded commands; they repeat identically across the fleet.
SELECT
    host,
    start,
    pid,
    image_name,
    command_line,
    parent_image_name AS parent,
    "user",
    process_key
FROM processes
WHERE origin = 'logged'
  AND image_name IN ('powershell.exe', 'pwsh.exe', 'powershell_ise.exe')
  AND regexp_like(lower(command_line),
      '(\s[-/]e(n|nc|nco|ncod|ncode|ncoded|ncodedc|ncodedco|ncodedcom|ncodedcomm|ncodedcomma|ncodedcomman|ncodedcommand|c)?\s)|frombase64string|downloadstring|downloadfile|invoke-expression|\biex\b|net\.webclient|invoke-webrequest|\biwr\b|start-bitstransfer|-w(indowstyle)?\s+h(idden)?\b')
ORDER BY host, start

-- title: Shells and script hosts descended from Office applications or browsers
-- technique: T1566.001 Spearphishing Attachment; T1204.002 Malicious File; T1059 Command and Scripting Interpreter
-- finds: Shells, script hosts and proxy-execution binaries whose ancestry passes through an Office application, a PDF reader or a web browser, at any depth (winword.exe > cmd.exe > powershell.exe). A document or a page starting a shell is the classic first step of an intrusion.
-- noise: Low: add-ins and browser helpers rarely start shells; developer machines (browser -> terminal) are the usual exception.
SELECT
    host,
    start,
    pid,
    image_name,
    command_line,
    "user",
    ancestry,
    process_key
FROM processes
WHERE origin = 'logged'
  AND image_name IN ('cmd.exe', 'powershell.exe', 'pwsh.exe', 'wscript.exe', 'cscript.exe',
                     'mshta.exe', 'rundll32.exe', 'regsvr32.exe', 'certutil.exe',
                     'bitsadmin.exe', 'wmic.exe', 'msbuild.exe', 'installutil.exe',
                     'bash.exe', 'schtasks.exe', 'hh.exe')
  AND regexp_like(lower(ancestry),
      '(^| > )(winword|excel|powerpnt|outlook|msaccess|mspub|onenote|visio|eqnedt32|acrord32|acrobat|foxitreader|chrome|msedge|firefox|iexplore|brave|opera)\.exe( > |$)')
ORDER BY host, start

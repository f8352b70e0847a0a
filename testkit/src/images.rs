//! Where Windows images live and the version information Sysmon reports for them.

/// Known images: file name (lowercase), directory, `Description`, `OriginalFileName`.
const KNOWN: &[(&str, &str, &str, &str)] = &[
    ("smss.exe", SYS32, "Windows Session Manager", "smss.exe"),
    ("autochk.exe", SYS32, "Auto Check Utility", "autochk.exe"),
    (
        "csrss.exe",
        SYS32,
        "Client Server Runtime Process",
        "CSRSS.Exe",
    ),
    (
        "wininit.exe",
        SYS32,
        "Windows Start-Up Application",
        "WinInit.exe",
    ),
    (
        "winlogon.exe",
        SYS32,
        "Windows Logon Application",
        "WINLOGON.EXE",
    ),
    (
        "services.exe",
        SYS32,
        "Services and Controller app",
        "services.exe",
    ),
    (
        "lsass.exe",
        SYS32,
        "Local Security Authority Process",
        "lsass.exe",
    ),
    (
        "svchost.exe",
        SYS32,
        "Host Process for Windows Services",
        "svchost.exe",
    ),
    (
        "fontdrvhost.exe",
        SYS32,
        "Usermode Font Driver Host",
        "fontdrvhost.exe",
    ),
    ("dwm.exe", SYS32, "Desktop Window Manager", "dwm.exe"),
    (
        "logonui.exe",
        SYS32,
        "Windows Logon User Interface Host",
        "logonui.exe",
    ),
    (
        "userinit.exe",
        SYS32,
        "Userinit Logon Application",
        "USERINIT.EXE",
    ),
    ("explorer.exe", WINDIR, "Windows Explorer", "EXPLORER.EXE"),
    ("cmd.exe", SYS32, "Windows Command Processor", "Cmd.Exe"),
    ("conhost.exe", SYS32, "Console Window Host", "CONHOST.EXE"),
    (
        "powershell.exe",
        PS_DIR,
        "Windows PowerShell",
        "PowerShell.EXE",
    ),
    (
        "taskhostw.exe",
        SYS32,
        "Host Process for Windows Tasks",
        "taskhostw.exe",
    ),
    (
        "runtimebroker.exe",
        SYS32,
        "Runtime Broker",
        "RuntimeBroker.exe",
    ),
    (
        "sihost.exe",
        SYS32,
        "Shell Infrastructure Host",
        "sihost.exe",
    ),
    (
        "whoami.exe",
        SYS32,
        "whoami - displays logged on user information",
        "whoami.exe",
    ),
    ("notepad.exe", SYS32, "Notepad", "NOTEPAD.EXE"),
    ("rdpclip.exe", SYS32, "RDP Clipboard Monitor", "rdpclip.exe"),
    ("ctfmon.exe", SYS32, "CTF Loader", "CTFMON.EXE"),
    (
        "wmiprvse.exe",
        WBEM_DIR,
        "WMI Provider Host",
        "Wmiprvse.exe",
    ),
    ("spoolsv.exe", SYS32, "Spooler SubSystem App", "spoolsv.exe"),
    (
        "searchindexer.exe",
        SYS32,
        "Microsoft Windows Search Indexer",
        "SearchIndexer.exe",
    ),
    ("sysmon64.exe", WINDIR, "System activity monitor", "?"),
    (
        "trustedinstaller.exe",
        SERVICING,
        "Windows Modules Installer",
        "TrustedInstaller.exe",
    ),
    (
        "tiworker.exe",
        SYS32,
        "Windows Modules Installer Worker",
        "TiWorker.exe",
    ),
    (
        "msmpeng.exe",
        DEFENDER,
        "Antimalware Service Executable",
        "MsMpEng.exe",
    ),
    ("net.exe", SYS32, "Net Command", "net.exe"),
    (
        "ipconfig.exe",
        SYS32,
        "IP Configuration Utility",
        "ipconfig.exe",
    ),
    (
        "tasklist.exe",
        SYS32,
        "Lists the current running tasks.",
        "tasklist.exe",
    ),
    (
        "rundll32.exe",
        SYS32,
        "Windows host process (Rundll32)",
        "RUNDLL32.EXE",
    ),
    ("mmc.exe", SYS32, "Microsoft Management Console", "MMC.EXE"),
];

const SYS32: &str = "C:\\Windows\\System32";
const WINDIR: &str = "C:\\Windows";
const PS_DIR: &str = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0";
const WBEM_DIR: &str = "C:\\Windows\\System32\\wbem";
const SERVICING: &str = "C:\\Windows\\servicing";
const DEFENDER: &str = "C:\\ProgramData\\Microsoft\\Windows Defender\\Platform\\4.18.2203.5-0";

/// A full path for an image given by name (`cmd.exe` -> `C:\Windows\System32\cmd.exe`);
/// a path is kept as given. Unknown names go to System32.
pub fn default_path(image: &str) -> String {
    if image.contains('\\') {
        return image.to_string();
    }
    let lower = image.to_ascii_lowercase();
    let dir = KNOWN.iter().find(|k| k.0 == lower).map_or(SYS32, |k| k.1);
    format!("{dir}\\{image}")
}

/// The version resource fields and hash Sysmon logs for an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageInfo {
    pub file_version: String,
    pub description: String,
    pub product: String,
    pub company: String,
    pub original_file_name: String,
    pub hashes: String,
}

/// Microsoft version information for images under `C:\Windows` (known names get their real
/// description), Sysmon's `?` for anything else. `original` overrides `OriginalFileName`
/// (a renamed tool keeps its own).
pub fn image_info(path: &str, original: Option<&str>) -> ImageInfo {
    let name = super::host::file_name(path).to_ascii_lowercase();
    let known = KNOWN.iter().find(|k| k.0 == name);
    let in_windows = path.to_ascii_lowercase().starts_with("c:\\windows\\");
    let hashes = format!("SHA256={}", pseudo_sha256(path));
    let (file_version, description, product, company, orig) = match (in_windows, known) {
        (true, k) => (
            "10.0.19041.1 (WinBuild.160101.0800)".to_string(),
            k.map_or("?".to_string(), |k| k.2.to_string()),
            "Microsoft® Windows® Operating System".to_string(),
            "Microsoft Corporation".to_string(),
            k.map_or(name.clone(), |k| k.3.to_string()),
        ),
        (false, _) => ("?".into(), "?".into(), "?".into(), "?".into(), "?".into()),
    };
    ImageInfo {
        file_version,
        description,
        product,
        company,
        original_file_name: original.map_or(orig, str::to_string),
        hashes,
    }
}

/// 64 uppercase hex digits that depend only on the path: stable across runs and hosts.
fn pseudo_sha256(path: &str) -> String {
    (0u64..4)
        .map(|i| {
            let h = path.bytes().fold(0xcbf2_9ce4_8422_2325u64 ^ i, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            });
            format!("{h:016X}")
        })
        .collect()
}

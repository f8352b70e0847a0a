//! `docs/rules.md` is generated from the rule files; this keeps the two equal. To regenerate:
//! `cargo run --release -- rules --format markdown > docs/rules.md`.

mod support;

#[test]
fn docs_rules_md_is_generated_from_the_rule_files() {
    let out = support::run(&["rules", "--format", "markdown"]);
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let committed =
        std::fs::read_to_string(support::repo().join("docs/rules.md")).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/rules.md is stale: run `cargo run --release -- rules --format markdown > docs/rules.md`"
    );
}

#[test]
fn a_bad_rule_file_is_a_usage_error_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("site.toml");
    std::fs::write(
        &f,
        "[[allow]]\nrule = \"parent.svchost\"\nreason = \"lab\"\nhots = \"LAB-*\"\n",
    )
    .unwrap();
    let out = support::run(&["scan", "-q", "--baseline", f.to_str().unwrap(), "samples/"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("site.toml:4:"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn scan_exit_codes_follow_fail_on_and_allowlists_work() {
    let samples = support::repo().join("samples");
    let s = samples.to_str().unwrap();
    // The planted svchost is high: --fail-on high fails, --fail-on critical does not.
    let out = support::run(&["scan", "-q", "--format", "jsonl", "--fail-on", "high", s]);
    assert_eq!(out.status.code(), Some(1));
    let out = support::run(&[
        "scan",
        "-q",
        "--format",
        "jsonl",
        "--fail-on",
        "critical",
        s,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let lines = String::from_utf8(out.stdout).unwrap();
    assert!(
        lines.lines().any(|l| l.contains("\"rule\":\"path.core\"")),
        "{lines}"
    );
    // An allowlist entry for that image removes its findings.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("allow.toml");
    std::fs::write(
        &f,
        "[[allow]]\nrule = \"*\"\nimage = 'C:\\Users\\Public\\svchost.exe'\nreason = \"test\"\n",
    )
    .unwrap();
    let out = support::run(&[
        "scan",
        "-q",
        "--format",
        "jsonl",
        "--baseline",
        f.to_str().unwrap(),
        s,
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(!String::from_utf8(out.stdout).unwrap().contains("Public"));
}

//! `main` parses arguments and hands them to [`lineage::app::run`]; nothing else lives here.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = lineage::cli::Cli::parse();
    lineage::app::run(cli).into()
}

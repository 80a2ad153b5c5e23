//! `repalign`: representation-alignment distances between images, from the command line.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use repalign_cli::cli::Cli;
use repalign_cli::error::CliError;

mod malloc;

fn main() -> ExitCode {
    malloc::tune_for_tensors();
    match repalign_cli::run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "repalign: {error}");
            ExitCode::FAILURE
        }
    }
}

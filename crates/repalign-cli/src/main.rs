//! `repalign`: representation-alignment distances between images, from the command line.

mod backend;
mod cli;
mod compare;
mod compare_folders;
mod error;
mod fetch;
mod heatmap;
mod image_io;
mod layers;
mod npy;
mod plot;
mod teacher_args;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};
use error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(CliError::BrokenPipe) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "repalign: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Compare(args) => compare::run(&args),
        Command::Layers(args) => layers::run(&args),
        Command::Fetch(args) => fetch::run(&args),
    }
}

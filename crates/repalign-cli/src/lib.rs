//! The `repalign` command as a library: argument types, subcommands and the helpers
//! they share. The binary (`main.rs`) only parses arguments and prints errors; tests
//! and fuzz targets call the pieces directly.

pub mod backend;
pub mod cli;
pub mod compare;
pub mod compare_folders;
pub mod error;
pub mod fetch;
pub mod heatmap;
pub mod image_io;
pub mod layers;
pub mod npy;
pub mod output;
pub mod plot;
pub mod teacher_args;
pub mod train;

use cli::{Cli, Command};
use error::CliError;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Compare(args) => compare::run(&args),
        Command::Layers(args) => layers::run(&args),
        Command::Fetch(args) => fetch::run(&args),
        Command::Train(args) => train::run(&args),
    }
}

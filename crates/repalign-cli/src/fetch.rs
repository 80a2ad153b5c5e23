//! `repalign fetch`: the command over the `repalign-fetch` crate. It lists the
//! catalog, brings assets or a URL's weights into the cache, and reports on stderr (a
//! progress bar only when stderr is a terminal).

use std::io::Write;

use indicatif::ProgressBar;
use repalign_fetch::{Event, Source};

use crate::cli::FetchArgs;
use crate::error::CliError;

pub fn run(args: &FetchArgs) -> Result<(), CliError> {
    if args.list {
        let mut stdout = std::io::stdout().lock();
        for asset in repalign_fetch::assets() {
            writeln!(
                stdout,
                "{}\t{} {}\t{}",
                asset.name(),
                asset.project(),
                asset.version(),
                asset.description()
            )
            .map_err(CliError::stdout)?;
        }
        return Ok(());
    }
    let cache = repalign_fetch::cache_dir(args.dir.as_deref())?;
    let mut report = Report::default();
    if let Some(url) = &args.url {
        let source = Source::new(url, args.as_name.as_deref(), args.sha256.as_deref())?;
        repalign_fetch::fetch_url(&source, &cache, &mut |event| report.show(event))?;
        return Ok(());
    }
    repalign_fetch::fetch(&args.names, &cache, &mut |event| report.show(event))?;
    eprintln!("repalign: cache {}", cache.display());
    Ok(())
}

/// Shows a fetch's events on stderr: a line per file, a bar per download.
#[derive(Default)]
struct Report {
    bar: Option<ProgressBar>,
}

impl Report {
    fn show(&mut self, event: Event<'_>) {
        match event {
            Event::AlreadyFetched { name, path: None } => eprintln!("repalign: {name} already fetched"),
            Event::AlreadyFetched {
                name,
                path: Some(path),
            } => eprintln!("repalign: {name} already fetched ({})", path.display()),
            Event::DownloadStarted { name } => self.bar = Some(progress_bar(name)),
            Event::Downloaded { total, bytes } => {
                if let Some(bar) = &self.bar {
                    if let Some(total) = total {
                        bar.set_length(total);
                    }
                    bar.inc(bytes);
                }
            }
            Event::DownloadFinished { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            Event::Stored { name, path } => eprintln!("repalign: {name} -> {}", path.display()),
            // Events added later are not shown.
            _ => {}
        }
    }
}

/// A byte progress bar for one download.
fn progress_bar(name: &str) -> ProgressBar {
    let bar = crate::progress::bar(None, "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}");
    bar.set_prefix(name.to_owned());
    bar
}

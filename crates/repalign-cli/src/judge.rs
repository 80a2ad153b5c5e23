//! `compare --metric JUDGE`: loading a judge from the cache, and its output lines.

use std::path::Path;

use burn::tensor::{Device, Tensor};
use repalign::WeightStore;
use repalign::judge::{Judge, Metric};
use serde::Serialize;

use crate::error::CliError;

/// The judge, with its backbone and head weights from the cache (LPIPS, DISTS).
pub fn load(metric: Metric, cache_dir: Option<&Path>, device: &Device) -> Result<Judge, CliError> {
    let Some((backbone, head)) = metric.weights() else {
        return Ok(Judge::plain(metric)?);
    };
    let cache = repalign_fetch::cache_dir(cache_dir)?;
    let weights = |name: &str| {
        let path = repalign_fetch::weights_path(&cache, name);
        if !path.exists() {
            let asset = repalign_fetch::asset_for_teacher(name).map_or(name, |asset| asset.name());
            return Err(CliError::Usage(format!(
                "{metric} needs `{name}` weights, not in {}: run `repalign fetch {asset}`",
                cache.display()
            )));
        }
        Ok(WeightStore::from_file(path)?)
    };
    Ok(Judge::learned(
        metric,
        weights(backbone)?,
        weights(head)?,
        device,
    )?)
}

/// Judges compare images at their own size: both must have the same.
pub fn check_sizes(metric: Metric, output: &[usize; 4], target: &[usize; 4]) -> Result<(), CliError> {
    if output[2..] != target[2..] {
        return Err(CliError::Input(format!(
            "output is {}x{} and target {}x{} pixels; {metric} compares images of the same size",
            output[2], output[3], target[2], target[3]
        )));
    }
    Ok(())
}

/// The score of each pair of a batch, read back.
pub fn scores(judge: &Judge, outputs: &Tensor<4>, targets: &Tensor<4>) -> Result<Vec<f32>, CliError> {
    crate::backend::tensor_values(judge.score(outputs, targets)?)
}

#[derive(Serialize)]
struct JsonScore<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    metric: &'a str,
    value: f32,
}

/// A score as one output line: the number (with `name<TAB>` in folder mode), or JSON.
pub fn line(json: bool, name: Option<&str>, metric: Metric, value: f32) -> Result<String, CliError> {
    if !json {
        return Ok(match name {
            Some(name) => format!("{name}\t{value}"),
            None => value.to_string(),
        });
    }
    let json = JsonScore {
        name,
        metric: metric.name(),
        value,
    };
    serde_json::to_string(&json).map_err(|e| CliError::Failed(format!("cannot encode the JSON report: {e}")))
}

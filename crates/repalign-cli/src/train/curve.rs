//! The training-loss curves of the runs, one SVG panel per run (their losses have
//! different units), each a moving average over the raw per-step values.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::CliError;

const WIDTH: f64 = 720.0;
const PANEL: f64 = 200.0;
const LEFT: f64 = 70.0;
const TOP: f64 = 30.0;
const GAP: f64 = 50.0;

/// Writes `curves` (name, loss per step) as stacked panels.
pub fn write_svg(path: &Path, curves: &[(String, Vec<f64>)]) -> Result<(), CliError> {
    let height = TOP + curves.len() as f64 * (PANEL + GAP);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
"#
    );
    for (index, (name, losses)) in curves.iter().enumerate() {
        let top = TOP + index as f64 * (PANEL + GAP);
        panel(&mut svg, top, name, losses);
    }
    svg.push_str("</svg>\n");
    crate::output::write_file(path, svg.as_bytes())
}

fn panel(svg: &mut String, top: f64, name: &str, losses: &[f64]) {
    let right = WIDTH - 20.0;
    let bottom = top + PANEL;
    let smooth = moving_average(losses, (losses.len() / 50).max(1));
    let (low, high) = smooth
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let span = if high > low { high - low } else { 1.0 };
    let x = |step: usize| LEFT + (right - LEFT) * step as f64 / (smooth.len().max(2) - 1) as f64;
    let y = |value: f64| bottom - (bottom - top) * (value - low) / span;
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="{}" font-weight="bold">{} — training loss (moving average)</text>
<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="black"/>
<line x1="{LEFT}" y1="{top}" x2="{LEFT}" y2="{bottom}" stroke="black"/>
<text x="{}" y="{}" text-anchor="end">{high:.4}</text>
<text x="{}" y="{bottom}" text-anchor="end">{low:.4}</text>
<text x="{right}" y="{}" text-anchor="end">step {}</text>"#,
        top - 8.0,
        escape(name),
        LEFT - 4.0,
        top + 4.0,
        LEFT - 4.0,
        bottom + 16.0,
        losses.len()
    );
    let points: Vec<String> = smooth
        .iter()
        .enumerate()
        .map(|(step, &value)| format!("{:.1},{:.1}", x(step), y(value)))
        .collect();
    let _ = writeln!(
        svg,
        r#"<polyline fill="none" stroke="steelblue" stroke-width="1.5" points="{}"/>"#,
        points.join(" ")
    );
}

fn moving_average(values: &[f64], window: usize) -> Vec<f64> {
    values
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let from = (i + 1).saturating_sub(window);
            let part = &values[from..=i];
            part.iter().sum::<f64>() / part.len() as f64
        })
        .collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

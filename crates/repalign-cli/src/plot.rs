//! `--plot FILE.svg`: per-layer bar charts of the loss (upstream's Plotter): each
//! layer's weighted contribution `w_i S_i / Σ N` (the bars add up to the loss), and its
//! element count `N_i` on a log scale.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::CliError;

/// One bar group: layer name, contribution, element count.
pub struct LayerBar {
    pub name: String,
    pub contribution: f64,
    pub elements: u64,
}

const WIDTH: f64 = 960.0;
const PANEL: f64 = 220.0;
const LEFT: f64 = 80.0;
const TOP: f64 = 40.0;
const LABELS: f64 = 150.0;

/// Writes the chart as SVG.
pub fn write_svg(path: &Path, title: &str, bars: &[LayerBar]) -> Result<(), CliError> {
    if path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
        != Some("svg")
    {
        return Err(CliError::Usage(format!(
            "--plot writes SVG: name the file *.svg, not {}",
            path.display()
        )));
    }
    let svg = render(title, bars);
    crate::output::write_file(path, svg.as_bytes())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn render(title: &str, bars: &[LayerBar]) -> String {
    let height = TOP + 2.0 * PANEL + 60.0 + LABELS;
    let n = bars.len().max(1) as f64;
    let slot = (WIDTH - LEFT - 20.0) / n;
    let max_contribution = bars
        .iter()
        .map(|b| b.contribution)
        .fold(0.0, f64::max)
        .max(f64::MIN_POSITIVE);
    let max_log = bars
        .iter()
        .map(|b| (b.elements.max(1) as f64).log10())
        .fold(1.0, f64::max)
        .ceil();
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="20" font-size="14">{}</text>"#,
        escape(title)
    );
    for (panel, label) in ["weighted contribution to the loss", "elements compared (log10)"]
        .iter()
        .enumerate()
    {
        let y0 = TOP + panel as f64 * (PANEL + 30.0);
        let _ = writeln!(
            svg,
            r##"<text x="{LEFT}" y="{}" fill="#444">{label}</text>"##,
            y0 - 4.0
        );
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#888"/>"##,
            y0 + PANEL,
            WIDTH - 20.0
        );
        let top_value = if panel == 0 {
            format!("{max_contribution:.3e}")
        } else {
            format!("1e{max_log}")
        };
        let _ = writeln!(svg, r#"<text x="4" y="{}">{top_value}</text>"#, y0 + 10.0);
        for (i, bar) in bars.iter().enumerate() {
            let fraction = if panel == 0 {
                bar.contribution / max_contribution
            } else {
                (bar.elements.max(1) as f64).log10() / max_log
            };
            let h = (fraction.clamp(0.0, 1.0) * PANEL).max(0.5);
            let x = LEFT + i as f64 * slot + slot * 0.1;
            let color = if panel == 0 { "#3b75af" } else { "#e1812c" };
            let value = if panel == 0 {
                format!("{:.4e}", bar.contribution)
            } else {
                bar.elements.to_string()
            };
            let _ = writeln!(
                svg,
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{color}"><title>{}: {value}</title></rect>"#,
                y0 + PANEL - h,
                slot * 0.8,
                escape(&bar.name)
            );
        }
    }
    let base = TOP + 2.0 * PANEL + 40.0;
    for (i, bar) in bars.iter().enumerate() {
        let x = LEFT + (i as f64 + 0.5) * slot;
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{base}" transform="rotate(60 {x:.1} {base})" font-size="9">{}</text>"#,
            escape(&bar.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_bar_per_layer_per_panel() {
        let bars = vec![
            LayerBar {
                name: "features.0".into(),
                contribution: 0.02,
                elements: 100_000,
            },
            LayerBar {
                name: "a<b".into(),
                contribution: 0.01,
                elements: 10,
            },
        ];
        let svg = render("t", &bars);
        assert_eq!(svg.matches("<rect x=").count(), 4);
        assert!(svg.contains("a&lt;b"));
        assert!(svg.starts_with("<svg"));
    }
}

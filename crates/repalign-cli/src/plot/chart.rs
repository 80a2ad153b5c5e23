//! The two panels, drawn on any plotters backend (SVG text or an RGB buffer).

use plotters::coord::Shift;
use plotters::coord::combinators::IntoLogRange;
use plotters::prelude::*;
use plotters::style::FontTransform;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Layer;
use super::axis::LayerAxis;
use super::font::FAMILY;
use super::labels::{abbreviate, log_tick, number};

/// Pixels per layer: room for one rotated name at [`LABEL`] size, so that a
/// DINOv2's 150-odd taps each keep their name (the chart grows wider instead).
const SLOT: u32 = 16;
const MIN_WIDTH: u32 = 1100;
/// Past this (500-odd layers, more than any registered teacher has) the slots narrow
/// and only every few layers keep a name: the image's memory stays bounded.
const MAX_WIDTH: u32 = 8192;
const HEIGHT: u32 = 900;
/// The top panel's height (bars and names) below the title; the rest is the bottom's.
const TOP_PANEL: u32 = 480;
/// The longest a layer name may be (rotated, so this is height); longer ones are
/// abbreviated. Fits `blocks.11.attn.qkv` and the like whole.
const NAME_ROOM: u32 = 150;
/// Between the axis and a name's end: the tick and a gap.
const NAME_GAP: i32 = 10;
/// Widths of the left and right axis bands (tick labels and axis titles); equal in
/// both panels so that a layer is at the same pixel column in both.
const LEFT: u32 = 90;
const RIGHT: u32 = 90;
const MARGIN: u32 = 15;

const TITLE: u32 = 22;
const CAPTION: u32 = 16;
const AXIS_TITLE: u32 = 15;
const LABEL: u32 = 13;

const BLUE: RGBColor = RGBColor(59, 117, 175);
const ORANGE: RGBColor = RGBColor(225, 129, 44);

/// The image size for `layers` layers: [`SLOT`] pixels a layer, within [`MIN_WIDTH`]
/// and [`MAX_WIDTH`].
pub fn size(layers: usize) -> (u32, u32) {
    let slots = u32::try_from(layers).unwrap_or(u32::MAX).saturating_mul(SLOT);
    let width = slots.saturating_add(LEFT + RIGHT + 2 * MARGIN);
    (width.clamp(MIN_WIDTH, MAX_WIDTH), HEIGHT)
}

type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Draws the title and both panels on `root`.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    layers: &[Layer],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let body = root.titled(title, (FAMILY, TITLE))?;
    let (top, bottom) = body.split_vertically(TOP_PANEL);
    contributions(&top, layers)?;
    means_and_counts(&bottom, layers)?;
    root.present()
}

/// Top panel: `w_i S_i / Σ N` per layer, as bars over the layers' names.
fn contributions<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, layers: &[Layer]) -> DrawResult<DB> {
    let total: f64 = layers.iter().map(|layer| layer.elements).sum();
    let values: Vec<f64> = layers
        .iter()
        .map(|layer| layer.weight * layer.sum / total)
        .collect();
    let plain = TextStyle::from((FAMILY, LABEL).into_font());
    let width = |text: &str| {
        area.estimate_text_size(text, &plain)
            .map_or(0, |(width, _)| width)
    };
    let names: Vec<&str> = layers.iter().map(|layer| layer.name.as_str()).collect();
    let names = abbreviate(&names, |text| width(text) <= NAME_ROOM);
    // The names' band is as high as the longest name needs, so that a teacher with
    // short names gets taller bars.
    let band = names.iter().map(|name| width(name)).max().unwrap_or(0) + NAME_GAP as u32 + 5;
    let axis = LayerAxis::new(layers.len());
    let mut chart = ChartBuilder::on(area)
        .caption(
            "weighted contribution per layer, w_i S_i / Σ N (the bars add up to the loss)",
            (FAMILY, CAPTION),
        )
        .margin(MARGIN)
        // No right axis here, but the same width as the bottom panel's, so that the
        // layers line up.
        .margin_right(MARGIN + RIGHT)
        .x_label_area_size(band)
        .y_label_area_size(LEFT)
        .build_cartesian_2d(axis, 0.0..upper_end(&values, 1.1))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(BLACK.mix(0.03))
        .bold_line_style(BLACK.mix(0.12))
        // A tick under every bar; the names are drawn below (see there why).
        .x_labels(layers.len())
        .x_label_formatter(&|_| String::new())
        .y_labels(8)
        .y_label_formatter(&|v| number(*v))
        .y_desc("w_i S_i / Σ N")
        .label_style((FAMILY, LABEL))
        .axis_desc_style((FAMILY, AXIS_TITLE))
        .draw()?;
    chart.draw_series(
        values
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .map(|(i, &value)| {
                let x = i as f64;
                Rectangle::new([(x - 0.4, 0.0), (x + 0.4, value)], BLUE.filled())
            }),
    )?;

    // plotters centres a bottom tick label on its tick whatever its rotation, which puts
    // a name turned upright half across the bars; so each name is drawn here, its end
    // just under its tick, reading upwards.
    let upright = plain
        .clone()
        .transform(FontTransform::Rotate270)
        .pos(Pos::new(HPos::Right, VPos::Center));
    let (base_x, base_y) = area.get_base_pixel();
    let slot = chart.backend_coord(&(1.0, 0.0)).0 - chart.backend_coord(&(0.0, 0.0)).0;
    // A rotated name takes about a line's height, 12 pixels at LABEL size.
    let stride = 12_usize.div_ceil(usize::try_from(slot).unwrap_or(1).max(1));
    for (i, name) in names.into_iter().enumerate().step_by(stride) {
        let (x, y) = chart.backend_coord(&(i as f64, 0.0));
        area.draw(&Text::new(
            name,
            (x - base_x, y - base_y + NAME_GAP),
            upright.clone(),
        ))?;
    }
    Ok(())
}

/// Bottom panel: the PyTorch original's view, the mean `S_i / N_i` per layer (left
/// axis) and the element count `N_i` (right axis, logarithmic), against the layer index.
fn means_and_counts<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, layers: &[Layer]) -> DrawResult<DB> {
    let counted = || {
        layers
            .iter()
            .enumerate()
            .filter(|(_, layer)| layer.elements > 0.0)
    };
    let means: Vec<(f64, f64)> = counted()
        .map(|(i, layer)| (i as f64, layer.sum / layer.elements))
        .filter(|(_, mean)| mean.is_finite())
        .collect();
    let counts: Vec<(f64, f64)> = counted()
        .map(|(i, layer)| (i as f64, layer.elements))
        .filter(|(_, count)| count.is_finite())
        .collect();
    let mean_values: Vec<f64> = means.iter().map(|&(_, mean)| mean).collect();
    let axis = LayerAxis::new(layers.len());
    let counts_range = log_range(&counts);
    let few_decades = (counts_range.end / counts_range.start).log10() < 3.0;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "per layer, as the PyTorch original plots it: mean S_i / N_i and elements N_i",
            (FAMILY, CAPTION),
        )
        .margin(MARGIN)
        .x_label_area_size(55)
        .y_label_area_size(LEFT)
        .right_y_label_area_size(RIGHT)
        // Both series keep out of the top quarter, where the legend goes.
        .build_cartesian_2d(axis, 0.0..upper_end(&mean_values, 1.35))?
        .set_secondary_coord(axis, counts_range.log_scale());
    chart
        .configure_mesh()
        .light_line_style(BLACK.mix(0.03))
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(30)
        .x_label_formatter(&|x| format!("{}", x.round()))
        .y_labels(8)
        .y_label_formatter(&|v| number(*v))
        .x_desc("layer index (tap order)")
        .y_desc("mean S_i / N_i")
        .label_style((FAMILY, LABEL))
        .axis_desc_style((FAMILY, AXIS_TITLE))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_labels(30)
        .y_label_formatter(&|v| log_tick(*v, few_decades))
        .y_desc("elements N_i (log scale)")
        .label_style((FAMILY, LABEL))
        .axis_desc_style((FAMILY, AXIS_TITLE))
        .draw()?;

    chart
        .draw_series(LineSeries::new(means.iter().copied(), BLUE.stroke_width(2)))?
        .label("mean S_i / N_i (left axis)")
        .legend(|(x, y)| {
            EmptyElement::at((x + 10, y))
                + PathElement::new([(-10, 0), (10, 0)], BLUE.stroke_width(2))
                + Circle::new((0, 0), 3, BLUE.filled())
        });
    chart.draw_series(means.iter().map(|&point| Circle::new(point, 3, BLUE.filled())))?;
    chart
        .draw_secondary_series(LineSeries::new(counts.iter().copied(), ORANGE.stroke_width(2)))?
        .label("elements N_i (right axis, log scale)")
        .legend(|(x, y)| {
            EmptyElement::at((x + 10, y))
                + PathElement::new([(-10, 0), (10, 0)], ORANGE.stroke_width(2))
                + TriangleMarker::new((0, 0), 4, ORANGE.filled())
        });
    chart.draw_secondary_series(
        counts
            .iter()
            .map(|&point| TriangleMarker::new(point, 4, ORANGE.filled())),
    )?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, LABEL))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()
}

/// The top of a linear axis from 0: `headroom` times the largest finite value (1 if
/// none is above 0).
fn upper_end(values: &[f64], headroom: f64) -> f64 {
    let largest = values
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    if largest > 0.0 { largest * headroom } else { 1.0 }
}

/// A logarithmic axis for the counts: at least a decade, the counts in its lower three
/// quarters (the legend takes the top), a little room below (`1..10` without counts).
fn log_range(counts: &[(f64, f64)]) -> std::ops::Range<f64> {
    let (low, high) = counts
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), &(_, count)| {
            (low.min(count.log10()), high.max(count.log10()))
        });
    if !(low.is_finite() && high.is_finite()) {
        return 1.0..10.0;
    }
    let middle = (low + high) / 2.0;
    let (low, high) = (low.min(middle - 0.5), high.max(middle + 0.5));
    let span = high - low;
    10f64.powf(low - 0.1 * span)..10f64.powf(high + 0.35 * span)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(name: String, sum: f64, elements: f64) -> Layer {
        Layer {
            name,
            sum,
            elements,
            weight: 1.0,
        }
    }

    fn svg(layers: &[Layer]) -> String {
        super::super::font::register().unwrap();
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, size(layers.len())).into_drawing_area();
            draw(&root, "title", layers).unwrap();
        }
        svg
    }

    /// Names are the only text turned by 270° but for the two left axis titles.
    fn rotated_texts(svg: &str) -> usize {
        svg.matches("rotate(270,").count() - 2
    }

    #[test]
    fn every_tap_of_a_large_vit_gets_a_slot_and_a_name() {
        let layers: Vec<Layer> = (0..40)
            .flat_map(|block| {
                [
                    "attention.attention.query",
                    "attention.output.dense",
                    "mlp.fc1",
                    "mlp.fc2",
                ]
                .map(|leaf| layer(format!("encoder.layer.{block}.{leaf}"), 1.0, 1000.0))
            })
            .collect();
        assert_eq!(
            size(layers.len()),
            (160 * SLOT + LEFT + RIGHT + 2 * MARGIN, HEIGHT)
        );
        let svg = svg(&layers);
        assert_eq!(rotated_texts(&svg), 160);
        assert!(svg.contains("enc.lay.39.att.att.query"));
    }

    #[test]
    fn past_the_widest_chart_names_thin_out_instead() {
        let layers: Vec<Layer> = (0..2000).map(|i| layer(format!("conv{i}"), 1.0, 10.0)).collect();
        assert_eq!(size(layers.len()), (MAX_WIDTH, HEIGHT));
        let names = rotated_texts(&svg(&layers));
        assert!((100..2000).contains(&names), "{names} names");
    }

    #[test]
    fn empty_and_non_finite_layers_draw_as_gaps() {
        let layers = vec![
            layer("a".into(), f64::NAN, 100.0),
            layer("b".into(), 1.0, 0.0),
            layer("c".into(), f64::INFINITY, 1e6),
        ];
        svg(&layers);
        svg(&[]);
    }
}

//! The x axis both panels share: one slot per layer, layer `i` at the centre of its
//! slot. A custom plotters range rather than `-0.5..n-0.5` as `f64`, so that the ticks
//! fall on layers (plotters' `f64` ticks land on "nice" numbers of its own choosing)
//! and both panels map a layer to the same pixel column.

use std::ops::Range;

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};

/// `count` layers, as positions `0.0..count` (bars span `i ± 0.4`).
#[derive(Clone, Copy, Debug)]
pub struct LayerAxis {
    count: usize,
}

impl LayerAxis {
    pub fn new(count: usize) -> Self {
        LayerAxis { count }
    }

    /// Every `step`-th layer gets a tick: the smallest of 1, 2, 5, 10, 20, … that gives
    /// at most `max_ticks`.
    pub fn step(&self, max_ticks: usize) -> usize {
        let mut step = 1;
        while self.count.div_ceil(step) > max_ticks.max(1) {
            step = next_nice(step);
        }
        step
    }
}

/// The next of 1, 2, 5, 10, 20, 50, …
fn next_nice(step: usize) -> usize {
    let decade = 10usize.pow(step.ilog10());
    match step / decade {
        1 => 2 * decade,
        2 => 5 * decade,
        _ => 10 * decade,
    }
}

impl Ranged for LayerAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let span = self.count.max(1) as f64;
        let fraction = (value + 0.5) / span;
        limit.0 + (fraction * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let max_ticks = hint.max_num_points();
        if max_ticks == 0 {
            return Vec::new();
        }
        let step = self.step(max_ticks);
        (0..self.count).step_by(step).map(|i| i as f64).collect()
    }

    fn range(&self) -> Range<f64> {
        -0.5..self.count.max(1) as f64 - 0.5
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_on_every_layer_when_they_fit_else_on_nice_steps() {
        let axis = LayerAxis::new(16);
        assert_eq!(axis.key_points(16).len(), 16);
        assert_eq!(axis.key_points(8), [0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 12.0, 14.0]);
        assert_eq!(LayerAxis::new(150).step(20), 10);
        assert_eq!(LayerAxis::new(150).step(40), 5);
        assert!(axis.key_points(0).is_empty());
    }

    #[test]
    fn layers_sit_at_the_centres_of_equal_slots() {
        let axis = LayerAxis::new(4);
        assert_eq!(axis.map(&-0.5, (0, 400)), 0);
        assert_eq!(axis.map(&0.0, (0, 400)), 50);
        assert_eq!(axis.map(&3.0, (0, 400)), 350);
    }
}

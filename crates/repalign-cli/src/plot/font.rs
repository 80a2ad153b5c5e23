//! The charts' one font: DejaVu Sans, embedded (the `dejavu` crate) and registered with
//! plotters' ab_glyph renderer. Text is laid out and rasterised the same way on every
//! machine, with no system fonts (plotters' default text goes through fontconfig).

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

use crate::error::CliError;

/// The family the charts' text asks for. plotters writes it into the SVG's
/// `font-family` as it is, so an SVG viewer without DejaVu Sans falls back to its own
/// sans-serif; the layout (label widths) is measured with DejaVu Sans either way.
pub const FAMILY: &str = "DejaVu Sans, sans-serif";

/// Registers the font under [`FAMILY`] (once per process; plotters' table is global).
///
/// # Errors
/// [`CliError::Failed`] if the embedded font does not parse (a broken build).
pub fn register() -> Result<(), CliError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered =
        *REGISTERED.get_or_init(|| register_font(FAMILY, FontStyle::Normal, dejavu::sans::regular()).is_ok());
    if registered {
        Ok(())
    } else {
        Err(CliError::Failed(
            "the embedded chart font (DejaVu Sans) does not parse".into(),
        ))
    }
}

//! Text on the charts: layer names shortened to fit under their bar, and tick numbers.

/// The layer names, shortened until `fits` accepts each, all by the same rule so that
/// they still read alike: the first words of each dotted path are cut to three letters,
/// as many words as the longest name needs (block numbers and the last word stay,
/// since they tell layers apart: `encoder.layer.11.attention.attention.query` becomes
/// `enc.lay.11.att.att.query`, and `encoder.layer.11.mlp.fc1` `enc.lay.11.mlp.fc1`);
/// a name still too long then loses its front to an ellipsis.
pub fn abbreviate(names: &[&str], fits: impl Fn(&str) -> bool) -> Vec<String> {
    let words = names
        .iter()
        .map(|name| name.split('.').count())
        .max()
        .unwrap_or(0);
    let shortened = |cut: usize| -> Vec<String> { names.iter().map(|name| cut_words(name, cut)).collect() };
    let mut names = (0..words)
        .map(shortened)
        .find(|names| names.iter().all(|name| fits(name)))
        .unwrap_or_else(|| shortened(words));
    for name in &mut names {
        if !fits(name) {
            *name = ellipsis(name, &fits);
        }
    }
    names
}

/// `name` with its first `cut` words (not counting numbers, nor the last word) cut to
/// three letters.
fn cut_words(name: &str, cut: usize) -> String {
    let parts: Vec<&str> = name.split('.').collect();
    let last = parts.len().saturating_sub(1);
    let mut left = cut;
    let parts: Vec<String> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let word = !part.chars().all(|c| c.is_ascii_digit());
            if i < last && word && left > 0 {
                left -= 1;
                part.chars().take(3).collect()
            } else {
                (*part).to_owned()
            }
        })
        .collect();
    parts.join(".")
}

/// The longest tail of `name` that fits after an ellipsis, whole words if any fit.
fn ellipsis(name: &str, fits: impl Fn(&str) -> bool) -> String {
    let words = name.match_indices('.').map(|(dot, _)| &name[dot + 1..]);
    let chars = name.char_indices().skip(1).map(|(start, _)| &name[start..]);
    words
        .chain(chars)
        .map(|tail| format!("…{tail}"))
        .find(|candidate| fits(candidate))
        .unwrap_or_else(|| "…".to_owned())
}

/// A tick value: plain with at most four decimals where that reads well, otherwise
/// scientific with at most three significant digits (`2.5e-4`), trailing zeros dropped.
pub fn number(value: f64) -> String {
    if value == 0.0 {
        return "0".to_owned();
    }
    let magnitude = value.abs();
    if (1e-2..1e4).contains(&magnitude) {
        let text = format!("{value:.4}");
        return text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    let text = format!("{value:.2e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) if mantissa.contains('.') => {
            let mantissa = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{mantissa}e{exponent}")
        }
        _ => text,
    }
}

/// A tick on the logarithmic count axis: powers of ten as `10ⁿ`; on an axis of
/// `few_decades`, also twice and five times them (`2×10⁵`); no label elsewhere
/// (plotters puts a tick at every multiple, too many to label).
pub fn log_tick(value: f64, few_decades: bool) -> String {
    if !(value > 0.0 && value.is_finite()) {
        return String::new();
    }
    let exponent = value.log10().floor();
    let mantissa = value / 10f64.powf(exponent);
    // The exponent of 9.999… is one too small; round the mantissa back to 1.
    let (mantissa, exponent) = if mantissa > 9.999 {
        (1.0, exponent + 1.0)
    } else {
        (mantissa, exponent)
    };
    let power = superscript(exponent as i64);
    if (mantissa - 1.0).abs() < 1e-3 {
        format!("10{power}")
    } else if few_decades && [2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-3) {
        format!("{}×10{power}", mantissa.round())
    } else {
        String::new()
    }
}

fn superscript(exponent: i64) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let sign = if exponent < 0 { "⁻" } else { "" };
    let digits: String = exponent
        .unsigned_abs()
        .to_string()
        .chars()
        .filter_map(|d| d.to_digit(10).map(|d| DIGITS[d as usize]))
        .collect();
    format!("{sign}{digits}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_most(n: usize) -> impl Fn(&str) -> bool {
        move |s: &str| s.chars().count() <= n
    }

    #[test]
    fn names_that_fit_stay_whole() {
        assert_eq!(
            abbreviate(&["features.28", "classifier.0"], at_most(12)),
            ["features.28", "classifier.0"]
        );
    }

    #[test]
    fn long_names_lose_letters_of_their_words_all_alike_then_their_front() {
        let names = [
            "embeddings.patch_embeddings.projection",
            "encoder.layer.11.attention.attention.query",
            "encoder.layer.11.mlp.fc1",
        ];
        assert_eq!(
            abbreviate(&names, at_most(30)),
            [
                "emb.pat.projection",
                "enc.lay.11.att.attention.query",
                "enc.lay.11.mlp.fc1"
            ]
        );
        assert_eq!(
            abbreviate(&names, at_most(24)),
            [
                "emb.pat.projection",
                "enc.lay.11.att.att.query",
                "enc.lay.11.mlp.fc1"
            ]
        );
        assert_eq!(
            abbreviate(&names, at_most(12)),
            ["…projection", "…att.query", "…11.mlp.fc1"]
        );
        assert_eq!(abbreviate(&names[..1], at_most(0)), ["…"]);
    }

    #[test]
    fn ticks_read_as_numbers() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(0.015), "0.015");
        assert_eq!(number(2.0), "2");
        assert_eq!(number(0.00025), "2.5e-4");
        assert_eq!(number(0.0003000000000001), "3e-4");
        assert_eq!(number(123456.0), "1.23e5");
        assert_eq!(log_tick(1e5, false), "10⁵");
        assert_eq!(log_tick(1e-3, false), "10⁻³");
        assert_eq!(log_tick(1.0, false), "10⁰");
        assert_eq!(log_tick(999_999.999_999, false), "10⁶");
        assert_eq!(log_tick(2e5, false), "");
        assert_eq!(log_tick(2e5, true), "2×10⁵");
        assert_eq!(log_tick(3e5, true), "");
        assert_eq!(log_tick(0.0, true), "");
    }
}

//! Charts drawn on the server as SVG: no script, no external request, and
//! they print. Every text that reaches the SVG goes through [`escape`].

use std::fmt::Write;

/// Plot area margins: left, right, top, bottom.
const MARGIN: (f64, f64, f64, f64) = (56.0, 12.0, 12.0, 44.0);

/// An SVG document to embed in a page.
#[derive(Debug, Clone, Default)]
pub struct Svg(pub String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` safe inside SVG/HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn open(width: f64, height: f64, label: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 {width} {height}\" \
         role=\"img\" aria-label=\"{}\">",
        escape(label)
    )
}

/// A round upper bound for an axis showing values up to `max`.
fn nice_max(max: f64) -> f64 {
    if !(max.is_finite() && max > 0.0) {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

/// Five horizontal grid lines from 0 to `top` across `x` (from, to), each
/// labelled on the left with its value.
fn value_grid(
    svg: &mut String,
    (left, right): (f64, f64),
    top: f64,
    y: &impl Fn(f64) -> f64,
    format: &impl Fn(f64) -> String,
) {
    for i in 0..=4 {
        let v = top * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{right}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 6.0,
            y(v) + 4.0,
            escape(&format(v)),
            y = y(v)
        );
    }
}

/// One series of a bar chart.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    /// Legend text.
    pub name: &'a str,
    /// CSS class giving its colour (`s0`, `s1`, …).
    pub class: &'a str,
    /// One value per category; NaN draws nothing.
    pub values: Vec<f64>,
}

/// Vertical bars, one group per category, one bar per series. `reference`
/// draws a dashed horizontal line (e.g. the nominal coverage).
pub fn grouped_bars(
    label: &str,
    categories: &[String],
    series: &[Series<'_>],
    format: impl Fn(f64) -> String,
    reference: Option<(f64, &str)>,
) -> Svg {
    let (w, h) = (640.0, 280.0);
    let (ml, mr, mt, mb) = MARGIN;
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .chain(reference.map(|r| r.0))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = nice_max(max);
    let y = |v: f64| mt + ph - ph * (v / top).clamp(0.0, 1.0);
    let mut svg = open(w, h, label);
    value_grid(&mut svg, (ml, w - mr), top, &y, &format);
    let group = pw / categories.len().max(1) as f64;
    let bar = (group * 0.8) / series.len().max(1) as f64;
    for (c, category) in categories.iter().enumerate() {
        let x0 = ml + group * c as f64 + group * 0.1;
        for (s, one) in series.iter().enumerate() {
            let v = one.values.get(c).copied().unwrap_or(f64::NAN);
            if !v.is_finite() {
                continue;
            }
            let _ = write!(
                svg,
                "<rect class=\"{}\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\">\
                 <title>{}: {}</title></rect>",
                escape(one.class),
                x0 + bar * s as f64,
                y(v),
                (bar - 2.0).max(1.0),
                mt + ph - y(v),
                escape(&format!("{category} · {}", one.name)),
                escape(&format(v))
            );
        }
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x0 + group * 0.4,
            h - mb + 16.0,
            escape(category)
        );
    }
    if let Some((value, name)) = reference {
        let _ = write!(
            svg,
            "<line class=\"reference\" x1=\"{ml}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - mr,
            w - mr,
            y(value) - 4.0,
            escape(name),
            y = y(value)
        );
    }
    legend(&mut svg, series, ml, h - 10.0);
    svg.push_str("</svg>");
    Svg(svg)
}

fn legend(svg: &mut String, series: &[Series<'_>], x: f64, y: f64) {
    let mut at = x;
    for s in series {
        let _ = write!(
            svg,
            "<rect class=\"{}\" x=\"{at:.1}\" y=\"{:.1}\" width=\"10\" height=\"10\"/>\
             <text class=\"legend\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            escape(s.class),
            y - 9.0,
            at + 14.0,
            y,
            escape(s.name)
        );
        at += 24.0 + 7.0 * s.name.chars().count() as f64;
    }
}

/// Horizontal bars, largest first, for rankings such as feature importance.
pub fn ranked_bars(label: &str, items: &[(String, f64)], format: impl Fn(f64) -> String) -> Svg {
    let row = 20.0;
    let (w, left) = (640.0, 210.0);
    let h = row * items.len() as f64 + 8.0;
    let max = items
        .iter()
        .map(|i| i.1)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let scale = if max > 0.0 {
        (w - left - 70.0) / max
    } else {
        0.0
    };
    let mut svg = open(w, h, label);
    for (i, (name, value)) in items.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"s0\" x=\"{left}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            left - 6.0,
            y + 13.0,
            escape(name),
            (value.max(0.0) * scale).max(1.0),
            row - 5.0,
            left + value.max(0.0) * scale + 4.0,
            y + 13.0,
            escape(&format(*value))
        );
    }
    svg.push_str("</svg>");
    Svg(svg)
}

/// Round durations for log-scale time axes, seconds and labels.
const TIME_TICKS: [(f64, &str); 7] = [
    (60.0, "1 min"),
    (600.0, "10 min"),
    (3_600.0, "1 h"),
    (14_400.0, "4 h"),
    (86_400.0, "1 d"),
    (432_000.0, "5 d"),
    (2_592_000.0, "30 d"),
];

/// Predicted against actual runtime on log–log axes, with the diagonal of a
/// perfect prediction and, behind each point, its p10–p90 interval.
pub fn predicted_vs_actual(label: &str, points: &[(f64, f64, f64, f64)]) -> Svg {
    let (w, h) = (640.0, 420.0);
    let (ml, mr, mt, mb) = MARGIN;
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let positive = |v: f64| v.is_finite() && v > 0.0;
    let values = points
        .iter()
        .flat_map(|p| [p.0, p.1])
        .filter(|v| positive(*v));
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo < hi {
        ((lo.max(1.0)).log10().floor(), hi.log10().ceil())
    } else {
        (1.0, 6.0)
    };
    let span = (hi - lo).max(1.0);
    let x = |v: f64| ml + pw * ((v.max(1.0).log10() - lo) / span).clamp(0.0, 1.0);
    let y = |v: f64| mt + ph - ph * ((v.max(1.0).log10() - lo) / span).clamp(0.0, 1.0);
    let mut svg = open(w, h, label);
    for (v, text) in TIME_TICKS {
        let l = v.log10();
        if l < lo || l > hi {
            continue;
        }
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{mt}\" y2=\"{:.1}\"/>\
             <line class=\"grid\" x1=\"{ml}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{text}</text>\
             <text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{text}</text>",
            mt + ph,
            ml + pw,
            h - mb + 16.0,
            ml - 6.0,
            y(v) + 4.0,
            x = x(v),
            y = y(v)
        );
    }
    let (a, b) = (10f64.powf(lo), 10f64.powf(hi));
    let _ = write!(
        svg,
        "<line class=\"reference\" x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\"/>",
        x(a),
        y(a),
        x(b),
        y(b)
    );
    for &(actual, p50, p10, p90) in points.iter().filter(|p| positive(p.0) && positive(p.1)) {
        if positive(p10) && positive(p90) {
            let _ = write!(
                svg,
                "<line class=\"interval\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>",
                y(p10),
                y(p90),
                x = x(actual)
            );
        }
        let _ = write!(
            svg,
            "<circle class=\"point\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"2\"/>",
            x(actual),
            y(p50)
        );
    }
    let _ = write!(
        svg,
        "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">actual runtime</text>\
         <text class=\"axis\" transform=\"translate(12 {:.1}) rotate(-90)\" text-anchor=\"middle\">predicted p50</text>",
        ml + pw / 2.0,
        h - 6.0,
        mt + ph / 2.0
    );
    svg.push_str("</svg>");
    Svg(svg)
}

/// Lines over a shared axis of categories (e.g. days), one per series;
/// a NaN value breaks its line. Only every few category labels are drawn.
pub fn lines(
    label: &str,
    categories: &[String],
    series: &[Series<'_>],
    format: impl Fn(f64) -> String,
) -> Svg {
    // Wide: the chart spans a full-width card.
    let (w, h) = (960.0, 260.0);
    // Room on the right for the last day's label.
    let (ml, _, mt, mb) = MARGIN;
    let mr = 40.0;
    let (pw, ph) = (w - ml - mr, h - mt - mb);
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let top = nice_max(max);
    let y = |v: f64| mt + ph - ph * (v / top).clamp(0.0, 1.0);
    let step = pw / categories.len().saturating_sub(1).max(1) as f64;
    let x = |i: usize| ml + step * i as f64;
    let mut svg = open(w, h, label);
    value_grid(&mut svg, (ml, w - mr), top, &y, &format);
    let every = categories.len().div_ceil(6).max(1);
    for (i, category) in categories.iter().enumerate().step_by(every) {
        let _ = write!(
            svg,
            "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x(i),
            h - mb + 16.0,
            escape(category)
        );
    }
    for one in series {
        let mut path = String::new();
        let mut pen_down = false;
        for (i, v) in one.values.iter().enumerate() {
            if !v.is_finite() {
                pen_down = false;
                continue;
            }
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if pen_down { " L" } else { " M" },
                x(i),
                y(*v)
            );
            pen_down = true;
        }
        let _ = write!(
            svg,
            "<path class=\"line {}\" d=\"{}\"><title>{}</title></path>",
            escape(one.class),
            path.trim_start(),
            escape(one.name)
        );
    }
    legend(&mut svg, series, ml, h - 10.0);
    svg.push_str("</svg>");
    Svg(svg)
}

/// A small line of recent values, for the live page.
pub fn sparkline(label: &str, values: &[f64]) -> Svg {
    let (w, h) = (240.0, 48.0);
    let mut svg = open(w, h, label);
    let finite: Vec<f64> = values
        .iter()
        .map(|v| if v.is_finite() { *v } else { 0.0 })
        .collect();
    if finite.len() >= 2 {
        let max = nice_max(finite.iter().copied().fold(0.0, f64::max));
        let step = w / (finite.len() - 1) as f64;
        let mut path = String::new();
        for (i, v) in finite.iter().enumerate() {
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                step * i as f64,
                h - 2.0 - (h - 4.0) * (v / max)
            );
        }
        let _ = write!(svg, "<path class=\"spark\" d=\"{path}\"/>");
    }
    svg.push_str("</svg>");
    Svg(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_break_at_gaps_and_escape_labels() {
        let svg = lines(
            "wait <per> day",
            &["d1".to_owned(), "d2".to_owned(), "d3".to_owned()],
            &[Series {
                name: "requests & co",
                class: "s1",
                values: vec![1.0, f64::NAN, 2.0],
            }],
            |v| format!("{v:.1}"),
        )
        .0;
        assert!(svg.contains("wait &lt;per&gt; day"));
        assert!(svg.contains("requests &amp; co"));
        // Two pieces: the gap lifts the pen.
        assert_eq!(svg.matches(" M").count() + svg.matches("\"M").count(), 2);
    }

    #[test]
    fn labels_are_escaped_and_values_drawn() {
        let svg = grouped_bars(
            "mae <by> bucket",
            &["<1 h".to_owned(), "1–8 h".to_owned()],
            &[Series {
                name: "model & co",
                class: "s0",
                values: vec![0.5, f64::NAN],
            }],
            |v| format!("{v:.1}"),
            Some((0.8, "nominal")),
        )
        .0;
        assert!(svg.contains("&lt;1 h") && !svg.contains("<1 h"));
        assert!(svg.contains("model &amp; co"));
        assert!(svg.contains("aria-label=\"mae &lt;by&gt; bucket\""));
        assert_eq!(svg.matches("<rect class=\"s0\"").count(), 2); // one bar + legend
        let scatter = predicted_vs_actual(
            "p",
            &[(60.0, 120.0, 30.0, 600.0), (f64::NAN, 1.0, 1.0, 1.0)],
        )
        .0;
        assert_eq!(scatter.matches("<circle").count(), 1);
        assert_eq!(scatter.matches("class=\"interval\"").count(), 1);
        let ranked = ranked_bars("f", &[("f_<x>".into(), 2.0)], |v| v.to_string()).0;
        assert!(ranked.contains("f_&lt;x&gt;"));
        assert!(sparkline("s", &[1.0, 2.0, 3.0]).0.contains("<path"));
    }

    #[test]
    fn axes_end_on_round_numbers() {
        assert_eq!(nice_max(0.73), 1.0);
        assert_eq!(nice_max(3.2), 5.0);
        assert_eq!(nice_max(1800.0), 2000.0);
        assert_eq!(nice_max(0.0), 1.0);
    }
}

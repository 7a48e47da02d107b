//! Small PNG plotting helpers for the examples, on `plotters` with an embedded font.
//!
//! A figure is a grid of [`Panel`]s; a panel is a list of [`Layer`]s (lines, points, bands,
//! error bars, histogram bars) with a title and axis labels. [`save`] draws a figure to a PNG;
//! [`loss_curve`] is the one-call figure for SVI losses, and [`density`] / [`kde`] / [`histogram`]
//! turn posterior samples into layers.
//!
//! Text is drawn with DejaVu Sans compiled into the binary (`assets/DejaVuSans.ttf`, license in
//! `assets/DejaVu-LICENSE`), so no system fonts or font libraries are needed.

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::prelude::*;
use plotters::style::FontStyle;
use pyrite::prelude::*;

pub use plotters::chart::SeriesLabelPosition as Legend;
pub use plotters::style::RGBColor;

/// Colours for successive series (matplotlib's tab10).
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

static FONT: Once = Once::new();

/// Registers the embedded font (once); every figure calls it before drawing text.
pub fn register_font() {
    FONT.call_once(|| {
        // The font is compiled in; parsing it cannot fail at run time unless the file is corrupt.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, include_bytes!("assets/DejaVuSans.ttf"));
    });
}

/// What a layer draws.
#[derive(Clone, Debug)]
pub enum Shape {
    /// A polyline through `(x, y)`.
    Line(Vec<(f64, f64)>),
    /// Dots at `(x, y)`.
    Points(Vec<(f64, f64)>),
    /// A filled band `(x, lo, hi)`, drawn in the order given (sort by x first).
    Band(Vec<(f64, f64, f64)>),
    /// Vertical error bars `(x, lo, mid, hi)` with a dot at `mid`.
    ErrorBars(Vec<(f64, f64, f64, f64)>),
    /// Bars `(left, right, height)` from zero, as a histogram.
    Bars(Vec<(f64, f64, f64)>),
}

/// One series in a panel.
#[derive(Clone, Debug)]
pub struct Layer {
    pub shape: Shape,
    pub color: RGBColor,
    pub label: Option<String>,
    /// Opacity (points, bands, bars).
    pub alpha: f64,
    /// Line width or dot radius in pixels.
    pub size: u32,
}

impl Layer {
    fn new(shape: Shape, color: RGBColor, alpha: f64, size: u32) -> Layer {
        Layer { shape, color, label: None, alpha, size }
    }
    /// A line through `points`.
    pub fn line(points: Vec<(f64, f64)>, color: RGBColor) -> Layer {
        Layer::new(Shape::Line(points), color, 1.0, 2)
    }
    /// A scatter of `points`.
    pub fn points(points: Vec<(f64, f64)>, color: RGBColor) -> Layer {
        Layer::new(Shape::Points(points), color, 0.8, 3)
    }
    /// A band between `lo` and `hi` over `x`; the three are sorted by `x` here.
    pub fn band(x: &[f64], lo: &[f64], hi: &[f64], color: RGBColor) -> Layer {
        let mut rows: Vec<(f64, f64, f64)> = x.iter().zip(lo).zip(hi).map(|((&x, &l), &h)| (x, l, h)).collect();
        rows.sort_by(|a, b| a.0.total_cmp(&b.0));
        Layer::new(Shape::Band(rows), color, 0.25, 1)
    }
    /// Error bars: `mean ± sd` at each `x`.
    pub fn error_bars(x: &[f64], mean: &[f64], sd: &[f64], color: RGBColor) -> Layer {
        let rows = x.iter().zip(mean).zip(sd).map(|((&x, &m), &s)| (x, m - s, m, m + s)).collect();
        Layer::new(Shape::ErrorBars(rows), color, 1.0, 3)
    }
    /// A density-normalised histogram of `samples` with `bins` bins.
    pub fn histogram(samples: &[f64], bins: usize, color: RGBColor) -> Layer {
        Layer::new(Shape::Bars(histogram(samples, bins)), color, 0.3, 1)
    }
    /// Sets the legend entry.
    pub fn label(mut self, label: impl Into<String>) -> Layer {
        self.label = Some(label.into());
        self
    }
    /// Sets the opacity.
    pub fn alpha(mut self, alpha: f64) -> Layer {
        self.alpha = alpha;
        self
    }
    /// Sets the line width or dot radius.
    pub fn size(mut self, size: u32) -> Layer {
        self.size = size;
        self
    }

    fn extent(&self) -> Vec<(f64, f64)> {
        match &self.shape {
            Shape::Line(p) | Shape::Points(p) => p.clone(),
            Shape::Band(r) => r.iter().flat_map(|&(x, l, h)| [(x, l), (x, h)]).collect(),
            Shape::ErrorBars(r) => r.iter().flat_map(|&(x, l, _, h)| [(x, l), (x, h)]).collect(),
            Shape::Bars(r) => r.iter().flat_map(|&(a, b, h)| [(a, 0.0), (b, h)]).collect(),
        }
    }
}

/// One chart: title, axis labels and layers.
#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub layers: Vec<Layer>,
    pub x_range: Option<(f64, f64)>,
    pub y_range: Option<(f64, f64)>,
    /// Logarithmic x axis (ignored unless every x value is positive and they span more than a
    /// factor of 10).
    pub log_x: bool,
    /// Logarithmic y axis (ignored unless every y value is positive and they span more than a
    /// factor of 10).
    pub log_y: bool,
    pub legend: Legend,
}

impl Panel {
    pub fn new(title: impl Into<String>, x_label: impl Into<String>, y_label: impl Into<String>) -> Panel {
        Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            layers: vec![],
            x_range: None,
            y_range: None,
            log_x: false,
            log_y: false,
            legend: Legend::UpperRight,
        }
    }
    /// Adds a layer.
    pub fn with(mut self, layer: Layer) -> Panel {
        self.layers.push(layer);
        self
    }
    /// Adds several layers.
    pub fn with_all(mut self, layers: impl IntoIterator<Item = Layer>) -> Panel {
        self.layers.extend(layers);
        self
    }
    pub fn x_range(mut self, lo: f64, hi: f64) -> Panel {
        self.x_range = Some((lo, hi));
        self
    }
    pub fn y_range(mut self, lo: f64, hi: f64) -> Panel {
        self.y_range = Some((lo, hi));
        self
    }
    /// A logarithmic x axis, used when every x value is positive and they span decades.
    pub fn log_x(mut self, on: bool) -> Panel {
        self.log_x = on;
        self
    }
    /// A logarithmic y axis, used when every y value is positive and they span decades.
    pub fn log_y(mut self, on: bool) -> Panel {
        self.log_y = on;
        self
    }
    pub fn legend(mut self, position: Legend) -> Panel {
        self.legend = position;
        self
    }

    /// The data's x and y extents, padded by 4% (a log axis by 4% of its decades; y from zero
    /// when bars are drawn), and whether each axis is logarithmic.
    fn ranges(&self) -> ((f64, f64), (f64, f64), bool, bool) {
        let pts: Vec<(f64, f64)> = self.layers.iter().flat_map(|l| l.extent()).filter(|(x, y)| x.is_finite() && y.is_finite()).collect();
        let span = |v: &mut dyn Iterator<Item = f64>| v.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
        let (mut x0, mut x1) = span(&mut pts.iter().map(|p| p.0));
        let (mut y0, mut y1) = span(&mut pts.iter().map(|p| p.1));
        if !x0.is_finite() {
            (x0, x1, y0, y1) = (0.0, 1.0, 0.0, 1.0);
        }
        let log_x = self.log_x && x0 > 0.0 && x1 > 10.0 * x0;
        let log_y = self.log_y && y0 > 0.0 && y1 > 10.0 * y0;
        let pad = |lo: f64, hi: f64| {
            let d = if hi > lo { 0.04 * (hi - lo) } else { 0.5 * lo.abs().max(1.0) };
            (lo - d, hi + d)
        };
        let log_pad = |lo: f64, hi: f64| {
            let r = (hi / lo).max(1.0001).powf(0.04);
            (lo / r, hi * r)
        };
        let has_bars = self.layers.iter().any(|l| matches!(l.shape, Shape::Bars(_)));
        // Room above the data for a legend in an upper corner: about a line per entry.
        let labels = self.layers.iter().filter(|l| l.label.is_some()).count() as f64;
        let upper = matches!(self.legend, Legend::UpperLeft | Legend::UpperMiddle | Legend::UpperRight);
        let head = |(lo, hi): (f64, f64)| if upper && labels > 0.0 { (lo, hi + (hi - lo) * (0.03 + 0.055 * labels)) } else { (lo, hi) };
        let x = self.x_range.unwrap_or_else(|| if log_x { log_pad(x0, x1) } else { pad(x0, x1) });
        let y = self.y_range.unwrap_or_else(|| {
            if log_y {
                log_pad(y0, y1)
            } else if has_bars && y0 >= 0.0 {
                head((0.0, pad(y0, y1).1))
            } else {
                head(pad(y0, y1))
            }
        });
        (x, y, log_x, log_y)
    }
}

type DrawResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Compact tick labels: `0.25`, `1200`, `3.0e-5`.
pub fn tick(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if !(1e-3..1e6).contains(&a) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        let s = s.trim_end_matches('0').trim_end_matches('.');
        if s == "-0" {
            "0".into()
        } else {
            s.into()
        }
    }
}

/// Tick values for a log axis over `[lo, hi]`: the powers of ten when there are at least three,
/// else 1, 2, 5 times powers of ten (every integer multiple when that gives fewer than four);
/// and 1..9 times powers of ten for the light grid.
fn log_ticks(lo: f64, hi: f64) -> (Vec<f64>, Vec<f64>) {
    let decades = (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32);
    let multiples =
        |ms: &[f64]| -> Vec<f64> { decades.clone().flat_map(|k| ms.iter().map(move |m| m * 10f64.powi(k))).filter(|v| (lo..=hi).contains(v)).collect() };
    let all = multiples(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    let powers = multiples(&[1.0]);
    let bold = multiples(&[1.0, 2.0, 5.0]);
    let key = if powers.len() >= 3 {
        powers
    } else if bold.len() >= 4 {
        bold
    } else {
        all.clone()
    };
    (key, all)
}

/// The exponent `n` when `v` is `10ⁿ` (to a billionth).
fn decade(v: f64) -> Option<i32> {
    let k = v.log10().round() as i32;
    (v > 0.0 && (v / 10f64.powi(k) - 1.0).abs() < 1e-9).then_some(k)
}

/// A power of ten written `10ⁿ` with a superscript exponent; other values as [`tick`] writes them.
fn power_tick(v: f64) -> String {
    const DIGITS: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    match decade(v) {
        Some(k) => {
            let exponent: String = k.unsigned_abs().to_string().chars().filter_map(|d| d.to_digit(10).map(|d| DIGITS[d as usize])).collect();
            format!("10{}{exponent}", if k < 0 { "⁻" } else { "" })
        }
        None => tick(v),
    }
}

/// A log axis over `lo..hi` with [`log_ticks`]'s key points and light grid lines, and whether to
/// label them `10ⁿ` ([`power_tick`]): when they are all powers of ten and reach 10³ or 10⁻³.
fn log_axis(lo: f64, hi: f64) -> (WithKeyPoints<LogCoord<f64>>, bool) {
    let (key, light) = log_ticks(lo, hi);
    let exponents: Option<Vec<i32>> = key.iter().map(|&v| decade(v)).collect();
    let powers = exponents.is_some_and(|ks| ks.iter().any(|k| k.abs() >= 3));
    ((lo..hi).log_scale().with_key_points(key).with_light_points(light), powers)
}

fn draw_panel(area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>, panel: &Panel) -> DrawResult<()> {
    let ((x0, x1), (y0, y1), log_x, log_y) = panel.ranges();
    let mut builder = ChartBuilder::on(area);
    builder.margin(12).margin_right(22).caption(&panel.title, ("sans-serif", 20)).x_label_area_size(48).y_label_area_size(72);
    match (log_x, log_y) {
        (false, false) => draw_layers(&mut builder.build_cartesian_2d(x0..x1, y0..y1)?, panel, (false, false)),
        (false, true) => {
            let (y, y_powers) = log_axis(y0, y1);
            draw_layers(&mut builder.build_cartesian_2d(x0..x1, y)?, panel, (false, y_powers))
        }
        (true, false) => {
            let (x, x_powers) = log_axis(x0, x1);
            draw_layers(&mut builder.build_cartesian_2d(x, y0..y1)?, panel, (x_powers, false))
        }
        (true, true) => {
            let ((x, x_powers), (y, y_powers)) = (log_axis(x0, x1), log_axis(y0, y1));
            draw_layers(&mut builder.build_cartesian_2d(x, y)?, panel, (x_powers, y_powers))
        }
    }
}

/// Draws the mesh, the layers and the legend; `(x_powers, y_powers)` says which axes label their
/// ticks `10ⁿ`.
fn draw_layers<'a, 'b: 'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>,
    panel: &Panel,
    (x_powers, y_powers): (bool, bool),
) -> DrawResult<()>
where
    X: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    // Values within a billionth of the axis span of zero are zero (not -1.1e-16).
    let (x_span, y_span) = (chart.x_range(), chart.y_range());
    let (x_eps, y_eps) = (1e-9 * (x_span.end - x_span.start).abs(), 1e-9 * (y_span.end - y_span.start).abs());
    let fmt_x = move |v: &f64| if x_powers { power_tick(*v) } else { tick(if v.abs() < x_eps { 0.0 } else { *v }) };
    let fmt_y = move |v: &f64| if y_powers { power_tick(*v) } else { tick(if v.abs() < y_eps { 0.0 } else { *v }) };
    chart
        .configure_mesh()
        .x_desc(panel.x_label.as_str())
        .y_desc(panel.y_label.as_str())
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .max_light_lines(1)
        .light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()?;
    for layer in &panel.layers {
        let c = layer.color;
        let (alpha, size) = (layer.alpha, layer.size);
        let anno = match &layer.shape {
            Shape::Line(p) => chart.draw_series(LineSeries::new(p.iter().copied(), c.mix(alpha).stroke_width(size)))?,
            Shape::Points(p) => chart.draw_series(p.iter().map(|&xy| Circle::new(xy, size, c.mix(alpha).filled())))?,
            Shape::Band(r) => {
                let poly: Vec<(f64, f64)> = r.iter().map(|&(x, _, h)| (x, h)).chain(r.iter().rev().map(|&(x, l, _)| (x, l))).collect();
                chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(alpha).filled())))?
            }
            Shape::ErrorBars(r) => {
                chart.draw_series(r.iter().map(|&(x, l, _, h)| PathElement::new(vec![(x, l), (x, h)], c.mix(0.6 * alpha).stroke_width(1))))?;
                chart.draw_series(r.iter().map(|&(x, _, m, _)| Circle::new((x, m), size, c.mix(alpha).filled())))?
            }
            Shape::Bars(r) => chart.draw_series(r.iter().map(|&(a, b, h)| Rectangle::new([(a, 0.0), (b, h)], c.mix(alpha).filled())))?,
        };
        if let Some(label) = &layer.label {
            match layer.shape {
                Shape::Line(_) => anno.label(label).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(size))),
                Shape::Points(_) | Shape::ErrorBars(_) => anno.label(label).legend(move |(x, y)| Circle::new((x + 10, y), size.max(3), c.filled())),
                Shape::Band(_) | Shape::Bars(_) => {
                    anno.label(label).legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 20, y + 6)], c.mix(alpha.max(0.3)).filled()))
                }
            };
        }
    }
    if panel.layers.iter().any(|l| l.label.is_some()) {
        chart
            .configure_series_labels()
            .position(panel.legend.clone())
            .label_font(("sans-serif", 14))
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(180, 180, 180))
            .draw()?;
    }
    Ok(())
}

/// Draws `panels` on a `grid` of (rows, columns) into a PNG of `size` pixels at `path`;
/// returns the path.
pub fn save(path: impl AsRef<Path>, size: (u32, u32), grid: (usize, usize), panels: &[Panel]) -> Result<PathBuf> {
    register_font();
    let path = path.as_ref().to_path_buf();
    let draw = || -> DrawResult<()> {
        let root = BitMapBackend::new(&path, size).into_drawing_area();
        root.fill(&WHITE)?;
        for (area, panel) in root.split_evenly(grid).iter().zip(panels) {
            draw_panel(area, panel)?;
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    Ok(path)
}

/// SVI losses against step, one line per `(label, losses)`, log y axis when every loss is
/// positive.
pub fn loss_curve(path: impl AsRef<Path>, title: &str, curves: &[(&str, &[f64])]) -> Result<PathBuf> {
    let mut panel = Panel::new(title, "SVI step", "ELBO loss").log_y(true);
    for (i, (label, losses)) in curves.iter().enumerate() {
        let pts = losses.iter().enumerate().map(|(s, &l)| (s as f64 + 1.0, l)).collect();
        let layer = Layer::line(pts, PALETTE[i % PALETTE.len()]).size(1);
        panel = panel.with(if curves.len() > 1 { layer.label(*label) } else { layer });
    }
    save(path, (900, 540), (1, 1), &[panel])
}

/// A density-normalised histogram: `(left, right, density)` per bin.
pub fn histogram(samples: &[f64], bins: usize) -> Vec<(f64, f64, f64)> {
    let (lo, hi) = samples.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &x| (a.min(x), b.max(x)));
    if samples.is_empty() || bins == 0 || !lo.is_finite() {
        return vec![];
    }
    let width = if hi > lo { (hi - lo) / bins as f64 } else { 1.0 };
    let mut counts = vec![0usize; bins];
    for &x in samples {
        counts[(((x - lo) / width) as usize).min(bins - 1)] += 1;
    }
    let n = samples.len() as f64;
    counts.iter().enumerate().map(|(i, &c)| (lo + i as f64 * width, lo + (i + 1) as f64 * width, c as f64 / (n * width))).collect()
}

/// A Gaussian kernel density estimate (Silverman's bandwidth) on 200 points spanning the
/// samples and three bandwidths either side.
pub fn kde(samples: &[f64]) -> Vec<(f64, f64)> {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return vec![];
    }
    let mean = samples.iter().sum::<f64>() / n;
    let sd = (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q = |p: f64| sorted[((p * (n - 1.0)).round() as usize).min(sorted.len() - 1)];
    let iqr = q(0.75) - q(0.25);
    let spread = if iqr > 0.0 { sd.min(iqr / 1.34) } else { sd };
    let h = (0.9 * spread * n.powf(-0.2)).max(1e-12);
    let (lo, hi) = (sorted[0] - 3.0 * h, sorted[sorted.len() - 1] + 3.0 * h);
    let norm = 1.0 / (n * h * (2.0 * std::f64::consts::PI).sqrt());
    (0..200)
        .map(|i| {
            let x = lo + (hi - lo) * i as f64 / 199.0;
            (x, norm * samples.iter().map(|s| (-0.5 * ((x - s) / h).powi(2)).exp()).sum::<f64>())
        })
        .collect()
}

/// The density of `samples`: a translucent histogram and a KDE line, labelled once.
pub fn density(samples: &[f64], color: RGBColor, label: &str) -> [Layer; 2] {
    [Layer::histogram(samples, 30, color).alpha(0.22), Layer::line(kde(samples), color).label(label)]
}

/// The values of a tensor, flattened, as f64.
pub fn values(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1)).unwrap_or_default()
}

/// `(x, y)` pairs.
pub fn zip(x: &[f64], y: &[f64]) -> Vec<(f64, f64)> {
    x.iter().copied().zip(y.iter().copied()).collect()
}

/// Shows a PNG inline in a Jupyter notebook running the evcxr Rust kernel (the kernel's
/// `EVCXR_BEGIN_CONTENT` protocol); elsewhere it just prints the marker lines.
pub fn show(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    println!("EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT", base64(&bytes));
    Ok(())
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(super::base64(input.as_bytes()), want);
        }
    }

    #[test]
    fn log_axes_label_decades() {
        // N from 10^3 to 10^6: the powers of ten, written with exponents.
        let (key, light) = super::log_ticks(800.0, 1.3e6);
        assert_eq!(key, [1e3, 1e4, 1e5, 1e6]);
        assert_eq!(light.len(), 2 + 3 * 9 + 1); // 800, 900; nine a decade from 10³ to 9·10⁵; 10⁶
        assert_eq!(key.iter().map(|&v| super::power_tick(v)).collect::<Vec<_>>(), ["10³", "10⁴", "10⁵", "10⁶"]);
        assert!(super::log_axis(800.0, 1.3e6).1);
        // Times from 250 to 8000 µs: fewer than three powers, so 1, 2, 5 times them, as numbers.
        let (key, _) = super::log_ticks(250.0, 8000.0);
        assert_eq!(key, [500.0, 1000.0, 2000.0, 5000.0]);
        assert!(!super::log_axis(250.0, 8000.0).1);
        // Powers of ten between 10⁻² and 10² read better as numbers.
        assert!(!super::log_axis(0.009, 120.0).1);
        assert_eq!((super::power_tick(1e-4), super::power_tick(1.0), super::power_tick(2000.0)), ("10⁻⁴".into(), "10⁰".into(), "2000".into()));
    }
}

//! Image helpers for the `bnn` and `vae` examples: grids of small grey-scale images with captions
//! (drawn with `plotters` and the embedded DejaVu Sans font), a reliability table, and the
//! per-epoch progress bar (indicatif) on standard error.

use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use plotters::prelude::*;
use pyrite::prelude::*;

/// Draws `images` (`[n, side * side]` with values in `[0, 1]`, ink dark on white) in a grid of
/// `cols` columns, each pixel a `pixel` x `pixel` square, with an optional caption under each
/// image and a title on top. Writes a PNG at `path` and returns the path.
pub fn image_grid(path: impl AsRef<Path>, title: &str, images: &Tensor, side: i64, cols: usize, pixel: u32, captions: &[String]) -> Result<PathBuf> {
    crate::plots::register_font();
    let path = path.as_ref().to_path_buf();
    let n = images.size()[0] as usize;
    let values: Vec<f64> = Vec::try_from(images.to_kind(Kind::Double).to_device(Device::Cpu).contiguous().view([-1])).unwrap_or_default();
    if values.len() != n * (side * side) as usize {
        return Err(PyriteError::InvalidInput { what: "images".into(), problem: format!("shape {:?} is not [n, {}]", images.size(), side * side) });
    }
    let cols = cols.max(1).min(n.max(1));
    let rows = n.div_ceil(cols).max(1);
    let caption_h: u32 = if captions.is_empty() { 4 } else { 20 };
    let title_h: u32 = if title.is_empty() { 0 } else { 34 };
    let cell_w = side as u32 * pixel + 12;
    let cell_h = side as u32 * pixel + caption_h + 8;
    let size = (cell_w * cols as u32 + 8, title_h + cell_h * rows as u32 + 8);
    let draw = || -> std::result::Result<(), Box<dyn std::error::Error>> {
        let root = BitMapBackend::new(&path, size).into_drawing_area();
        root.fill(&WHITE)?;
        if !title.is_empty() {
            root.draw(&Text::new(title.to_string(), (10, 8), ("sans-serif", 18).into_font()))?;
        }
        for i in 0..n {
            let (r, c) = ((i / cols) as u32, (i % cols) as u32);
            let (x0, y0) = (4 + c * cell_w + 6, title_h + 4 + r * cell_h);
            let img = &values[i * (side * side) as usize..(i + 1) * (side * side) as usize];
            for (p, v) in img.iter().enumerate() {
                let (py, px) = ((p as i64 / side) as u32, (p as i64 % side) as u32);
                let g = (255.0 * (1.0 - v.clamp(0.0, 1.0))).round() as u8;
                let (ax, ay) = ((x0 + px * pixel) as i32, (y0 + py * pixel) as i32);
                root.draw(&Rectangle::new([(ax, ay), (ax + pixel as i32, ay + pixel as i32)], RGBColor(g, g, g).filled()))?;
            }
            let (w, h) = ((side as u32 * pixel) as i32, (side as u32 * pixel) as i32);
            root.draw(&Rectangle::new([(x0 as i32 - 1, y0 as i32 - 1), (x0 as i32 + w, y0 as i32 + h)], RGBColor(200, 200, 200)))?;
            if let Some(cap) = captions.get(i) {
                root.draw(&Text::new(cap.clone(), (x0 as i32, y0 as i32 + h + 3), ("sans-serif", 13).into_font()))?;
            }
        }
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| PyriteError::Io { path: path.display().to_string(), problem: e.to_string() })?;
    Ok(path)
}

/// One confidence bin of a reliability diagram.
#[derive(Debug, Clone)]
pub struct Bin {
    pub lo: f64,
    pub hi: f64,
    pub count: usize,
    /// Mean top-class probability of the predictions in the bin.
    pub confidence: f64,
    /// Fraction of those predictions that are right.
    pub accuracy: f64,
}

/// Bins predictions by their top-class probability (`confidence`) into `bins` equal bins of
/// `[0, 1]`; returns the bins and the expected calibration error `sum_b n_b / n |acc_b - conf_b|`.
pub fn reliability(confidence: &[f64], correct: &[bool], bins: usize) -> (Vec<Bin>, f64) {
    let mut out: Vec<Bin> =
        (0..bins).map(|b| Bin { lo: b as f64 / bins as f64, hi: (b + 1) as f64 / bins as f64, count: 0, confidence: 0.0, accuracy: 0.0 }).collect();
    for (&c, &ok) in confidence.iter().zip(correct) {
        let b = ((c * bins as f64) as usize).min(bins - 1);
        out[b].count += 1;
        out[b].confidence += c;
        out[b].accuracy += if ok { 1.0 } else { 0.0 };
    }
    let n = confidence.len().max(1) as f64;
    let mut ece = 0.0;
    for b in &mut out {
        if b.count > 0 {
            b.confidence /= b.count as f64;
            b.accuracy /= b.count as f64;
            ece += b.count as f64 / n * (b.accuracy - b.confidence).abs();
        }
    }
    (out, ece)
}

/// The progress bar of one epoch of `batches` minibatches on standard error, labelled `label`:
/// drawn by indicatif on a terminal only (the caller prints a line per epoch); the caller sets the
/// loss as its message, and clears it with `finish_and_clear`.
pub fn epoch_bar(label: String, batches: u64) -> ProgressBar {
    let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} {elapsed}")
        .map(|style| style.progress_chars("## "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    ProgressBar::new(batches).with_style(style).with_prefix(label)
}

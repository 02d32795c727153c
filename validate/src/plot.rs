//! `--plot FILE`: mean KLD and ΔPPL against file size, one point per evaluated file, as SVG.

use crate::error::{Result, ValidateError};
use plotters::prelude::*;
use std::path::Path;

/// One evaluated file on the plot.
#[derive(Debug, Clone)]
pub struct PlotPoint {
    /// Label (file name or type).
    pub label: String,
    /// File size in MiB.
    pub size_mib: f64,
    /// Mean KL divergence.
    pub kld: f64,
    /// ΔPPL in percent.
    pub dppl_percent: f64,
}

fn range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.1).max(hi.abs() * 0.05).max(1e-6);
    (lo - pad, hi + pad)
}

/// Draws two panels side by side (KLD vs size, ΔPPL % vs size) into an SVG file.
pub fn draw(path: &Path, title: &str, points: &[PlotPoint]) -> Result<()> {
    // plotters' errors (`DrawingAreaErrorKind` of the SVG backend's error) are kept as the source
    let err = |step: &'static str| {
        move |e: DrawingAreaErrorKind<std::io::Error>| ValidateError::Plot { path: path.to_path_buf(), step, source: Box::new(e) }
    };
    let root = SVGBackend::new(path, (1100, 480)).into_drawing_area();
    root.fill(&WHITE).map_err(err("filling the background"))?;
    let root = root.titled(title, ("sans-serif", 22)).map_err(err("drawing the title"))?;
    let panels = root.split_evenly((1, 2));
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.size_mib.total_cmp(&b.size_mib));
    let xr = range(sorted.iter().map(|p| p.size_mib));
    type Panel = (&'static str, fn(&PlotPoint) -> f64, RGBColor);
    let specs: [Panel; 2] = [("mean KL divergence (nats)", |p| p.kld, BLUE), ("ΔPPL vs reference (%)", |p| p.dppl_percent, RED)];
    for (area, (ylabel, get, color)) in panels.iter().zip(specs) {
        let yr = range(sorted.iter().map(get));
        let mut chart = ChartBuilder::on(area)
            .margin(15)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(err("laying out a panel"))?;
        chart.configure_mesh().x_desc("file size (MiB)").y_desc(ylabel).draw().map_err(err("drawing the axes"))?;
        chart.draw_series(LineSeries::new(sorted.iter().map(|p| (p.size_mib, get(p))), color)).map_err(err("drawing the line"))?;
        chart
            .draw_series(sorted.iter().map(|p| {
                EmptyElement::at((p.size_mib, get(p)))
                    + Circle::new((0, 0), 4, color.filled())
                    + Text::new(p.label.clone(), (6, -14), ("sans-serif", 13))
            }))
            .map_err(err("drawing the points"))?;
    }
    root.present().map_err(err("writing the file"))?;
    Ok(())
}

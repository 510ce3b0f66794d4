//! The crisis replay's plot: the insurance fund and the ETH price through an episode, each on
//! its own vertical scale, as a small hand-written SVG (no dependency). Plotting is display
//! only, so it works in f64.

use crate::crisis::Episode;
use anyhow::{Result, bail};
use std::fmt::Write;

const W: f64 = 720.0;
const H: f64 = 300.0;
const PAD: f64 = 50.0;

/// `path`: (hour, insurance fund USD, ETH USD) per hour of the episode.
pub fn plot(ep: &Episode, path: &[(i64, f64, f64)]) -> Result<String> {
    if path.len() < 2 || path.iter().any(|p| !p.1.is_finite() || !p.2.is_finite()) {
        bail!("the plot of {} needs two finite points or more", ep.name);
    }
    let hours = path.last().map_or(1, |p| p.0).max(1) as f64;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="11">
<rect width="{W}" height="{H}" fill="white"/>
<text x="{PAD}" y="18" font-size="13">{} ({}): insurance fund (blue, left) and ETH (grey, right), {} hours from {}</text>
<line x1="{PAD}" y1="{}" x2="{}" y2="{}" stroke="black"/>
"##,
        ep.name,
        ep.what,
        ep.hours,
        ep.from,
        H - PAD,
        W - PAD,
        H - PAD
    );
    series(&mut svg, path.iter().map(|p| (p.0 as f64 / hours, p.2)), "#888", W - PAD + 4.0, "start");
    series(&mut svg, path.iter().map(|p| (p.0 as f64 / hours, p.1)), "#1f5fbf", PAD - 4.0, "end");
    let _ = write!(svg, r##"<text x="{}" y="{}" text-anchor="middle">hours</text>"##, W / 2.0, H - PAD + 30.0);
    svg.push_str("\n</svg>\n");
    Ok(svg)
}

/// One polyline scaled to its own range, with its min and max labelled at `label_x`.
fn series(svg: &mut String, points: impl Iterator<Item = (f64, f64)> + Clone, colour: &str, label_x: f64, anchor: &str) {
    let (lo, hi) = points.clone().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), (_, y)| (lo.min(y), hi.max(y)));
    let span = if hi > lo { hi - lo } else { 1.0 };
    let (top, bottom) = (PAD, H - PAD);
    let xy = |(x, y): (f64, f64)| (PAD + x * (W - 2.0 * PAD), bottom - (y - lo) / span * (bottom - top));
    let coords: Vec<String> = points.map(xy).map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
    let _ = write!(svg, r#"<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{}"/>"#, coords.join(" "));
    for (v, y) in [(hi, top), (lo, bottom)] {
        let _ = write!(svg, "\n<text x=\"{label_x}\" y=\"{:.1}\" fill=\"{colour}\" text-anchor=\"{anchor}\">{v:.0}</text>", y + 4.0);
    }
    svg.push('\n');
}

//! The world choropleth: Natural Earth's 1:110m countries (TopoJSON, embedded in the
//! binary), decoded once and drawn as SVG paths in an equirectangular projection.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::COUNTRIES;

const TOPOJSON: &str = include_str!("../data/countries-110m.json");
pub const WIDTH: f64 = 960.0;
/// Latitudes drawn: 84°N to 58°S (Antarctica is left out).
const NORTH: f64 = 84.0;
const SOUTH: f64 = -58.0;
pub const HEIGHT: f64 = (NORTH - SOUTH) * WIDTH / 360.0;

#[derive(Deserialize)]
struct Topology {
    transform: Transform,
    arcs: Vec<Vec<[i64; 2]>>,
    objects: Objects,
}

#[derive(Deserialize)]
struct Transform {
    scale: [f64; 2],
    translate: [f64; 2],
}

#[derive(Deserialize)]
struct Objects {
    countries: Collection,
}

#[derive(Deserialize)]
struct Collection {
    geometries: Vec<Geometry>,
}

#[derive(Deserialize)]
struct Geometry {
    #[serde(rename = "type")]
    kind: String,
    id: Option<String>,
    #[serde(default)]
    arcs: serde_json::Value,
    #[serde(default)]
    properties: HashMap<String, String>,
}

/// One country's outline, ready to draw.
pub struct Shape {
    /// ISO 3166-1 alpha-2, when the shape is a country with a code.
    pub alpha2: Option<&'static str>,
    pub name: String,
    pub path: String,
}

fn project(lon: f64, lat: f64) -> (f64, f64) {
    let x = (lon + 180.0) / 360.0 * WIDTH;
    let y = (NORTH - lat.clamp(SOUTH, NORTH)) / (NORTH - SOUTH) * HEIGHT;
    (x, y)
}

/// The decoded shapes (the embedded file is valid: a test decodes it).
pub fn shapes() -> &'static [Shape] {
    static SHAPES: OnceLock<Vec<Shape>> = OnceLock::new();
    SHAPES.get_or_init(|| decode(TOPOJSON).unwrap_or_default())
}

fn decode(text: &str) -> Result<Vec<Shape>, String> {
    let topo: Topology = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let [sx, sy] = topo.transform.scale;
    let [tx, ty] = topo.transform.translate;
    // Arcs are delta-encoded, quantised positions.
    let arcs: Vec<Vec<(f64, f64)>> = topo
        .arcs
        .iter()
        .map(|arc| {
            let (mut x, mut y) = (0i64, 0i64);
            arc.iter()
                .map(|[dx, dy]| {
                    x += dx;
                    y += dy;
                    project(x as f64 * sx + tx, y as f64 * sy + ty)
                })
                .collect()
        })
        .collect();
    let by_numeric: HashMap<u16, &'static str> = COUNTRIES.iter().map(|(a2, num, _)| (*num, *a2)).collect();
    let mut shapes = Vec::new();
    for g in &topo.objects.countries.geometries {
        if g.id.as_deref() == Some("010") {
            continue; // Antarctica
        }
        let polygons: Vec<Vec<Vec<i64>>> = match g.kind.as_str() {
            "Polygon" => vec![serde_json::from_value(g.arcs.clone()).map_err(|e| e.to_string())?],
            "MultiPolygon" => serde_json::from_value(g.arcs.clone()).map_err(|e| e.to_string())?,
            _ => continue,
        };
        let mut path = String::new();
        for polygon in &polygons {
            for ring in polygon {
                let mut first = true;
                // Rings that cross the antimeridian (Russia, Fiji) jump across the whole
                // map; shifting by the map's width keeps them continuous (the overflow is
                // clipped by the view box) instead of drawing a band across the world.
                let mut offset = 0.0;
                let mut last_x: Option<f64> = None;
                for &index in ring {
                    // A negative index means the arc ~index, walked backwards.
                    let (arc, reversed) = if index < 0 { ((!index) as usize, true) } else { (index as usize, false) };
                    let Some(points) = arcs.get(arc) else { return Err(format!("arc {arc} out of range")) };
                    let ordered: Box<dyn Iterator<Item = &(f64, f64)>> =
                        if reversed { Box::new(points.iter().rev()) } else { Box::new(points.iter()) };
                    for (i, (x, y)) in ordered.enumerate() {
                        if i == 0 && !first {
                            continue; // arcs share their end points
                        }
                        let mut x = x + offset;
                        if let Some(previous) = last_x {
                            if x - previous > WIDTH / 2.0 {
                                offset -= WIDTH;
                                x -= WIDTH;
                            } else if previous - x > WIDTH / 2.0 {
                                offset += WIDTH;
                                x += WIDTH;
                            }
                        }
                        last_x = Some(x);
                        let _ = write!(path, "{}{x:.1},{y:.1}", if first { "M" } else { "L" });
                        first = false;
                    }
                }
                path.push('Z');
            }
        }
        let alpha2 = g.id.as_deref().and_then(|id| id.parse::<u16>().ok()).and_then(|n| by_numeric.get(&n).copied());
        shapes.push(Shape { alpha2, name: g.properties.get("name").cloned().unwrap_or_default(), path });
    }
    Ok(shapes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_map_decodes_with_the_big_countries() {
        let shapes = super::decode(super::TOPOJSON).unwrap();
        assert!(shapes.len() > 150);
        for code in ["CN", "US", "RU", "BR", "DE", "KR", "JP"] {
            let s = shapes.iter().find(|s| s.alpha2 == Some(code)).unwrap_or_else(|| panic!("{code} missing"));
            assert!(s.path.starts_with('M') && s.path.ends_with('Z'));
        }
    }
}

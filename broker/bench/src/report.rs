//! Figures gathered over repeated runs: medians with min and max, Weir/Kafka ratios against
//! the targets, the printed table, the JSON file and an SVG plot.

use std::fmt::Write as _;

use serde::Serialize;

/// A goal for a metric: on the Weir/Kafka ratio, or on Weir's own figure.
#[derive(Clone, Copy, Serialize)]
pub(crate) enum Target {
    RatioAtLeast(f64),
    RatioAtMost(f64),
    AtMost(f64),
    AtLeast(f64),
}

impl Target {
    fn describe(self) -> String {
        match self {
            Target::RatioAtLeast(v) => format!(">= {v}x"),
            Target::RatioAtMost(v) => format!("<= {v}x"),
            Target::AtMost(v) => format!("<= {v}"),
            Target::AtLeast(v) => format!(">= {v}"),
        }
    }

    fn met(self, weir: f64, ratio: Option<f64>) -> Option<bool> {
        match self {
            Target::RatioAtLeast(v) => ratio.map(|r| r >= v),
            Target::RatioAtMost(v) => ratio.map(|r| r <= v),
            Target::AtMost(v) => Some(weir <= v),
            Target::AtLeast(v) => Some(weir >= v),
        }
    }
}

#[derive(Serialize, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

fn stat(v: &[f64]) -> Option<Stat> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: s[0],
        max: s[n - 1],
    })
}

#[derive(Serialize)]
pub(crate) struct Metric {
    pub(crate) key: String,
    pub(crate) label: String,
    pub(crate) unit: String,
    pub(crate) higher_is_better: bool,
    pub(crate) weir: Vec<f64>,
    pub(crate) kafka: Vec<f64>,
    pub(crate) target: Option<Target>,
    /// Why a metric has no figures (results files of earlier runs: the 3-node row before the
    /// cluster existed).
    pub(crate) skipped: Option<String>,
}

impl Metric {
    pub(crate) fn weir_stat(&self) -> Option<Stat> {
        stat(&self.weir)
    }
    pub(crate) fn kafka_stat(&self) -> Option<Stat> {
        stat(&self.kafka)
    }
    pub(crate) fn ratio(&self) -> Option<f64> {
        match (self.weir_stat(), self.kafka_stat()) {
            (Some(w), Some(k)) if k.median > 0.0 => Some(w.median / k.median),
            _ => None,
        }
    }
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) metrics: Vec<Metric>,
}

impl Report {
    fn entry(&mut self, key: &str, label: &str, unit: &str, higher: bool) -> &mut Metric {
        if let Some(i) = self.metrics.iter().position(|m| m.key == key) {
            return &mut self.metrics[i];
        }
        self.metrics.push(Metric {
            key: key.to_string(),
            label: label.to_string(),
            unit: unit.to_string(),
            higher_is_better: higher,
            weir: vec![],
            kafka: vec![],
            target: None,
            skipped: None,
        });
        let last = self.metrics.len() - 1;
        &mut self.metrics[last]
    }

    /// Adds one run's figure for a broker ("weir" or "kafka").
    pub(crate) fn add(
        &mut self,
        broker: &str,
        key: &str,
        label: &str,
        unit: &str,
        higher: bool,
        v: f64,
    ) {
        let m = self.entry(key, label, unit, higher);
        if broker == "kafka" {
            m.kafka.push(v);
        } else {
            m.weir.push(v);
        }
    }

    /// A throughput figure: MiB/s under `key` (in the table), records/s under `key:rps`.
    pub(crate) fn add_throughput(
        &mut self,
        broker: &str,
        key: &str,
        label: &str,
        mibs: f64,
        rps: f64,
    ) {
        self.add(broker, key, label, "MiB/s", true, mibs);
        self.add(broker, &format!("{key}:rps"), label, "rec/s", true, rps);
    }

    pub(crate) fn target(&mut self, key: &str, t: Target) {
        if let Some(m) = self.metrics.iter_mut().find(|m| m.key == key) {
            m.target = Some(t);
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.key == key)
    }

    /// The table's rows as cells: metric, unit, Weir, Kafka, ratio, target (with ok / MISS).
    fn rows(&self) -> Vec<[String; 6]> {
        let mut rows = Vec::new();
        for m in &self.metrics {
            // Records/s and CPU twins of the rows (`key:rps`, `key:cpu`) stay in the JSON only.
            let twin = m.key.contains(':')
                && !m.key.starts_with("plugin-")
                && !m.key.starts_with("latency-rate");
            if twin {
                continue;
            }
            if let Some(why) = &m.skipped {
                let dash = || "-".to_string();
                rows.push([
                    m.label.clone(),
                    dash(),
                    why.clone(),
                    why.clone(),
                    dash(),
                    dash(),
                ]);
                continue;
            }
            let cell = |s: Option<Stat>| {
                s.map_or("-".to_string(), |s| {
                    format!("{} [{}-{}]", num(s.median), num(s.min), num(s.max))
                })
            };
            let ratio = m.ratio().map_or("-".to_string(), |r| format!("{r:.2}x"));
            let target = m.target.map_or(String::new(), |t| {
                let met = m
                    .weir_stat()
                    .and_then(|w| t.met(w.median, m.ratio()))
                    .map_or("", |ok| if ok { " ok" } else { " MISS" });
                format!("{}{met}", t.describe())
            });
            rows.push([
                m.label.clone(),
                m.unit.clone(),
                cell(m.weir_stat()),
                cell(m.kafka_stat()),
                ratio,
                target,
            ]);
        }
        rows
    }

    pub(crate) fn print(&self) {
        let header = [
            "metric",
            "unit",
            "weir median [min-max]",
            "kafka median [min-max]",
            "weir/kafka",
            "target",
        ];
        println!(
            "{:<46} {:>9} {:>26} {:>26} {:>10} {:>14}",
            header[0], header[1], header[2], header[3], header[4], header[5]
        );
        for [a, b, c, d, e, f] in self.rows() {
            println!("{a:<46} {b:>9} {c:>26} {d:>26} {e:>10} {f:>14}");
        }
    }

    /// The same table in Markdown, for BENCHMARKS.md.
    pub(crate) fn markdown(&self) -> String {
        let mut s = String::from(
            "| metric | unit | Weir median [min-max] | Kafka median [min-max] | Weir/Kafka | target |\n|---|---|---:|---:|---:|---|\n",
        );
        for r in self.rows() {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        s
    }

    /// The metrics of a results file written by `json` (figures of every run; no targets).
    pub(crate) fn from_json(metrics: &serde_json::Value) -> Self {
        let runs = |v: &serde_json::Value| -> Vec<f64> {
            v["runs"]
                .as_array()
                .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
                .unwrap_or_default()
        };
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
        let metrics = metrics
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| Metric {
                        key: text(&m["key"]),
                        label: text(&m["label"]),
                        unit: text(&m["unit"]),
                        higher_is_better: m["higher_is_better"].as_bool().unwrap_or(true),
                        weir: runs(&m["weir"]),
                        kafka: runs(&m["kafka"]),
                        target: None,
                        skipped: m["skipped"].as_str().map(str::to_string),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Report { metrics }
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| {
                let target = m.target.map(|t| {
                    serde_json::json!({
                        "goal": t.describe(),
                        "met": m.weir_stat().and_then(|w| t.met(w.median, m.ratio())),
                    })
                });
                serde_json::json!({
                    "key": m.key,
                    "label": m.label,
                    "unit": m.unit,
                    "higher_is_better": m.higher_is_better,
                    "weir": { "stat": m.weir_stat(), "runs": m.weir },
                    "kafka": { "stat": m.kafka_stat(), "runs": m.kafka },
                    "weir_over_kafka": m.ratio(),
                    "target": target,
                    "skipped": m.skipped,
                })
            })
            .collect();
        serde_json::Value::Array(rows)
    }

    /// Two panels side by side: throughput (higher is better) and end-to-end latency (lower
    /// is better), medians as bars with min-max whiskers, Weir and Kafka in two colours.
    pub(crate) fn svg(
        &self,
        title: &str,
        subtitle: &str,
        throughput: &[(&str, &str)],
        latency: &[(&str, &str)],
    ) -> String {
        let (w, h) = (1100.0, 480.0);
        let mut s = String::new();
        let _ = write!(
            s,
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">
<rect width="{w}" height="{h}" fill="white"/>
<text x="{}" y="22" text-anchor="middle" font-size="15" font-weight="bold">{}</text>
<text x="{}" y="40" text-anchor="middle" fill="#333">{}</text>
"##,
            w / 2.0,
            esc(title),
            w / 2.0,
            esc(subtitle)
        );
        let area = |x, w| Area {
            x,
            y: 70.0,
            w,
            h: 320.0,
        };
        let tput = "Throughput, MiB/s (higher is better)";
        self.panel(&mut s, area(50.0, 620.0), tput, throughput, false);
        let lat = "End-to-end latency, ms, log scale (lower is better)";
        self.panel(&mut s, area(730.0, 340.0), lat, latency, true);
        let _ = write!(
            s,
            r##"<rect x="40" y="{y}" width="14" height="14" fill="{WEIR}"/><text x="60" y="{t}">Weir</text>
<rect x="110" y="{y}" width="14" height="14" fill="{KAFKA}"/><text x="130" y="{t}">Apache Kafka</text>
<text x="240" y="{t}" fill="#555">bars: median of runs; whiskers: min to max</text>
</svg>
"##,
            y = h - 30.0,
            t = h - 19.0
        );
        s
    }

    /// One bar chart in `area`, linear from 0 or (`log`) over whole decades.
    fn panel(&self, s: &mut String, area: Area, title: &str, keys: &[(&str, &str)], log: bool) {
        let Area { x, y, w, h } = area;
        let metrics: Vec<(&Metric, &str)> = keys
            .iter()
            .filter_map(|(k, label)| Some((self.get(k)?, *label)))
            .collect();
        let values = || {
            metrics
                .iter()
                .flat_map(|(m, _)| m.weir.iter().chain(m.kafka.iter()).copied())
                .filter(|v| *v > 0.0)
        };
        let top = values().fold(1e-9, f64::max);
        let plot_h = h - 60.0;
        let (lo, hi, ticks): (f64, f64, Vec<f64>) = if log {
            let lo = values()
                .fold(f64::INFINITY, f64::min)
                .log10()
                .floor()
                .min(top.log10().floor());
            let hi = top.log10().ceil().max(lo + 1.0);
            let ticks = (lo as i32..=hi as i32).map(|e| 10f64.powi(e)).collect();
            (lo, hi, ticks)
        } else {
            let top = nice_ceiling(top * 1.08);
            (0.0, top, (0..=4).map(|i| top * i as f64 / 4.0).collect())
        };
        let y_of = |v: f64| {
            let f = if log {
                (v.max(1e-12).log10() - lo) / (hi - lo)
            } else {
                v / hi
            };
            y + plot_h - plot_h * f.clamp(0.0, 1.0)
        };
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"##,
            x + w / 2.0,
            y - 8.0,
            esc(title)
        );
        for v in ticks {
            let yy = y_of(v);
            let _ = writeln!(
                s,
                r##"<line x1="{x}" y1="{yy:.1}" x2="{}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" text-anchor="end" fill="#555">{}</text>"##,
                x + w,
                x - 4.0,
                yy + 4.0,
                if v == 0.0 { "0".to_string() } else { num(v) }
            );
        }
        let group_w = w / metrics.len().max(1) as f64;
        let bar_w = (group_w * 0.35).min(40.0);
        for (i, (m, label)) in metrics.iter().enumerate() {
            let gx = x + group_w * i as f64 + group_w / 2.0;
            for (j, (stat, color)) in [(m.weir_stat(), WEIR), (m.kafka_stat(), KAFKA)]
                .into_iter()
                .enumerate()
            {
                let Some(st) = stat else { continue };
                let bx = gx - bar_w + bar_w * j as f64;
                let by = y_of(st.median);
                let bh = y + plot_h - by;
                let cx = bx + bar_w / 2.0;
                let _ = writeln!(
                    s,
                    r##"<rect x="{bx:.1}" y="{by:.1}" width="{:.1}" height="{bh:.1}" fill="{color}"/><line x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="black"/><text x="{cx:.1}" y="{:.1}" text-anchor="middle" font-size="10">{}</text>"##,
                    bar_w - 2.0,
                    y_of(st.min),
                    y_of(st.max),
                    y_of(st.max) - 4.0,
                    num(st.median)
                );
            }
            let mut ly = y + plot_h + 16.0;
            for line in wrap(label, (group_w / 6.5) as usize) {
                let _ = writeln!(
                    s,
                    r##"<text x="{gx:.1}" y="{ly:.1}" text-anchor="middle" font-size="11">{}</text>"##,
                    esc(&line)
                );
                ly += 13.0;
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Area {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

const WEIR: &str = "#2a7ab0";
const KAFKA: &str = "#d9822b";

fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if v <= m * p {
            return m * p;
        }
    }
    10.0 * p
}

fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in s.split_whitespace() {
        let cur = lines.last_mut().map_or(0, |l| l.len());
        if cur > 0 && cur + 1 + word.len() > width {
            lines.push(String::new());
        }
        if let Some(l) = lines.last_mut() {
            if !l.is_empty() {
                l.push(' ');
            }
            l.push_str(word);
        }
    }
    lines
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A figure with about three significant digits.
pub(crate) fn num(v: f64) -> String {
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{v:.0}");
        // Thousands separators for readability.
        let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

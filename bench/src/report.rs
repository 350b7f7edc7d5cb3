//! The report: every figure printed with its same-run limit and ratio, and kept for the JSON.

use std::time::Duration;

use time::OffsetDateTime;

/// One figure with its same-run limit.
#[derive(serde::Serialize)]
pub(crate) struct Figure {
    section: &'static str,
    name: String,
    value: f64,
    unit: &'static str,
    limit_name: String,
    limit: Option<f64>,
    /// value / limit (for times: how many times slower than the limit; for rates: the fraction
    /// of the limit reached; for sizes: how many times the minimum).
    ratio: Option<f64>,
}

#[derive(Default)]
pub(crate) struct Report {
    pub(crate) figures: Vec<Figure>,
    /// Figure 2's ingest rate over HTTP, the limit of figure 5's sync throughput.
    pub(crate) http_ingest_rate: Option<f64>,
}

impl Report {
    pub(crate) fn add(
        &mut self,
        section: &'static str,
        name: impl Into<String>,
        value: f64,
        unit: &'static str,
        limit_name: impl Into<String>,
        limit: Option<f64>,
    ) {
        let figure = Figure {
            section,
            name: name.into(),
            value,
            unit,
            limit_name: limit_name.into(),
            ratio: limit.filter(|l| *l > 0.0).map(|l| value / l),
            limit,
        };
        println!(
            "  {:<60} {:>10} {:<9} | {:<42} {:>10} | {}",
            figure.name,
            fmt(figure.value),
            figure.unit,
            figure.limit_name,
            figure.limit.map(fmt).unwrap_or_else(|| "-".into()),
            figure
                .ratio
                .map(|r| if r < 0.01 {
                    format!("{r:.4}x")
                } else {
                    format!("{r:.2}x")
                })
                .unwrap_or_else(|| "-".into())
        );
        self.figures.push(figure);
    }
}

pub(crate) fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.4}")
    }
}

pub(crate) fn section(title: &str) {
    println!("\n{title}");
}

pub(crate) fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

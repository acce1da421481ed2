//! The timeline: events bucketed by day (or by several days), drawn as inline SVG with a
//! table fallback.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use sgguard_core::Outcome;
use sgguard_responder::EventReport;

use super::html::{esc, outcome_label, outcome_palette};
use super::summary::event_time;
use super::{OUTCOME_ORDER, ReportMeta};

/// At most this many bars in the timeline: longer windows group days.
const MAX_BARS: i64 = 92;

/// The timeline: buckets of `days` days from `start`.
#[derive(Debug)]
pub(super) struct Timeline {
    pub(super) start: NaiveDate,
    pub(super) days: i64,
    pub(super) buckets: Vec<BTreeMap<Outcome, usize>>,
}

impl Timeline {
    pub(super) fn new(meta: &ReportMeta, events: &[EventReport]) -> Self {
        let (a, b) = (meta.since.date_naive(), meta.until.date_naive());
        let (start, end) = if a <= b { (a, b) } else { (b, a) };
        let span = (end - start).num_days() + 1;
        let days = ((span + MAX_BARS - 1) / MAX_BARS).max(1);
        let count = ((span + days - 1) / days).max(1);
        let mut buckets = vec![BTreeMap::new(); usize::try_from(count).unwrap_or(1)];
        for e in events {
            let Some(t) = event_time(e) else { continue };
            let offset = (t.date_naive() - start).num_days();
            if offset < 0 {
                continue;
            }
            if let Some(bucket) = usize::try_from(offset / days)
                .ok()
                .and_then(|i| buckets.get_mut(i))
            {
                *bucket.entry(e.outcome).or_default() += 1;
            }
        }
        Self {
            start,
            days,
            buckets,
        }
    }

    fn bucket_start(&self, i: usize) -> NaiveDate {
        let offset = i64::try_from(i).unwrap_or(0) * self.days;
        self.start + Duration::days(offset)
    }

    fn label(&self, i: usize) -> String {
        let start = self.bucket_start(i);
        if self.days == 1 {
            start.format("%Y-%m-%d").to_string()
        } else {
            let end = start + Duration::days(self.days - 1);
            format!("{} – {}", start.format("%Y-%m-%d"), end.format("%Y-%m-%d"))
        }
    }
}

/// A round axis maximum and its tick step for `max` items.
pub(super) fn axis(max: usize) -> (usize, usize) {
    let max = max.max(1);
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            let s = step * m;
            if max.div_ceil(s) <= 5 {
                return (max.div_ceil(s) * s, s);
            }
        }
        step *= 10;
    }
}

pub(super) fn render_chart(out: &mut String, timeline: &Timeline) {
    const W: f64 = 960.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 40.0;
    const RIGHT: f64 = 8.0;
    const TOP_PAD: f64 = 12.0;
    const BOTTOM: f64 = 30.0;
    let plot_w = W - LEFT - RIGHT;
    let plot_h = H - TOP_PAD - BOTTOM;
    let n = timeline.buckets.len().max(1);
    let totals: Vec<usize> = timeline.buckets.iter().map(|b| b.values().sum()).collect();
    let (ymax, step) = axis(totals.iter().copied().max().unwrap_or(0));
    let slot = plot_w / n as f64;
    let bar = (slot * 0.72).clamp(1.0, 36.0);
    let y = |v: usize| TOP_PAD + plot_h - plot_h * v as f64 / ymax as f64;
    let unit = if timeline.days == 1 {
        "day".to_owned()
    } else {
        format!("{} days", timeline.days)
    };
    out.push_str(&format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-labelledby=\"timeline-title timeline-desc\" preserveAspectRatio=\"xMidYMid meet\">\n\
         <title id=\"timeline-title\">Changes per {unit}, by outcome</title>\n\
         <desc id=\"timeline-desc\">Stacked bars, one per {unit} from {} to {}; \
         the busiest has {} events.</desc>\n",
        timeline.bucket_start(0).format("%Y-%m-%d"),
        timeline.bucket_start(n - 1).format("%Y-%m-%d"),
        totals.iter().copied().max().unwrap_or(0),
    ));
    // Grid lines and the y axis.
    let mut v = 0;
    while v <= ymax {
        let gy = y(v);
        out.push_str(&format!(
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}</text>\n",
            W - RIGHT,
            LEFT - 6.0,
            gy + 4.0
        ));
        v += step;
    }
    // At most about twelve date labels.
    let label_every = n.div_ceil(12).max(1);
    for (i, bucket) in timeline.buckets.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let label = timeline.label(i);
        let total = totals.get(i).copied().unwrap_or(0);
        let parts: Vec<String> = OUTCOME_ORDER
            .iter()
            .filter_map(|o| bucket.get(o).map(|c| format!("{c} {}", outcome_label(*o))))
            .collect();
        let summary = if parts.is_empty() {
            format!("{label}: no events")
        } else {
            format!("{label}: {total} events ({})", parts.join(", "))
        };
        out.push_str(&format!(
            "<g class=\"day\" data-day=\"{}\" data-count=\"{total}\"><title>{}</title>",
            timeline.bucket_start(i).format("%Y-%m-%d"),
            esc(&summary)
        ));
        // A full-height hover target, so small bars are easy to point at.
        out.push_str(&format!(
            "<rect class=\"hit\" x=\"{:.1}\" y=\"{TOP_PAD}\" width=\"{slot:.1}\" height=\"{plot_h:.1}\"/>",
            LEFT + slot * i as f64
        ));
        let mut base = 0;
        for outcome in OUTCOME_ORDER {
            let Some(&count) = bucket.get(&outcome) else {
                continue;
            };
            let (top, bottom) = (y(base + count), y(base));
            out.push_str(&format!(
                "<rect class=\"seg\" x=\"{x:.1}\" y=\"{top:.1}\" width=\"{bar:.1}\" height=\"{:.1}\" \
                 fill=\"{}\" data-outcome=\"{}\" data-count=\"{count}\"><title>{}: {count} {}</title></rect>",
                (bottom - top).max(0.5),
                outcome_palette(outcome).0,
                outcome.as_str(),
                esc(&label),
                outcome_label(outcome)
            ));
            base += count;
        }
        if i % label_every == 0 {
            let start = timeline.bucket_start(i);
            out.push_str(&format!(
                "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                LEFT + slot * (i as f64 + 0.5),
                H - 10.0,
                start.format("%b %-d")
            ));
        }
        out.push_str("</g>\n");
    }
    out.push_str(&format!(
        "<line class=\"baseline\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\n</svg>\n",
        W - RIGHT,
        y(0),
        y(0)
    ));
}

pub(super) fn render_legend(out: &mut String, present: &[Outcome]) {
    out.push_str("<ul class=\"legend\" aria-label=\"Legend\">");
    for outcome in present {
        out.push_str(&format!(
            "<li><span class=\"swatch\" style=\"background:{}\"></span>{}</li>",
            outcome_palette(*outcome).0,
            outcome_label(*outcome)
        ));
    }
    out.push_str("</ul>\n");
}

pub(super) fn render_timeline_table(out: &mut String, timeline: &Timeline, present: &[Outcome]) {
    out.push_str(
        "<details class=\"data\"><summary>Timeline as a table</summary><div class=\"table-wrap\">\
         <table class=\"compact\"><thead><tr><th scope=\"col\">Day</th>",
    );
    for o in present {
        out.push_str(&format!(
            "<th scope=\"col\" class=\"num\">{}</th>",
            outcome_label(*o)
        ));
    }
    out.push_str("<th scope=\"col\" class=\"num\">Total</th></tr></thead><tbody>");
    for (i, bucket) in timeline.buckets.iter().enumerate() {
        let total: usize = bucket.values().sum();
        if total == 0 {
            continue;
        }
        out.push_str(&format!("<tr><th scope=\"row\">{}</th>", timeline.label(i)));
        for o in present {
            let c = bucket.get(o).copied().unwrap_or(0);
            out.push_str(&format!("<td class=\"num\">{c}</td>"));
        }
        out.push_str(&format!("<td class=\"num\">{total}</td></tr>"));
    }
    out.push_str("</tbody></table></div></details>\n");
}

//! The grade-distribution chart: totals in ten buckets as an inline SVG bar chart (pure, no
//! scripts, so the CSP stays strict).

use std::fmt::Write as _;

/// How many totals fall in each bucket 0–9, 10–19, ..., 90–100.
pub fn buckets(totals: &[f64]) -> [u32; 10] {
    let mut counts = [0u32; 10];
    for &t in totals {
        if !t.is_finite() {
            continue;
        }
        // 100 belongs to the top bucket; clamping keeps odd values from indexing out of range.
        let index = (t.clamp(0.0, 100.0) / 10.0).floor().min(9.0) as usize;
        counts[index] += 1;
    }
    counts
}

/// An SVG bar chart of `totals`, labelled for screen readers with `title`.
pub fn svg(title: &str, totals: &[f64]) -> String {
    let counts = buckets(totals);
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let (width, height, bar, base) = (400u32, 180u32, 36u32, 150u32);
    let mut out = String::new();
    let title = escape(title);
    let _ = write!(
        out,
        r#"<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" aria-label="{title}"><title>{title}</title>"#
    );
    for (i, &count) in counts.iter().enumerate() {
        let i = i as u32;
        let h = count * 130 / max;
        let x = 4 + i * (bar + 4);
        let _ = write!(
            out,
            r#"<rect x="{x}" y="{}" width="{bar}" height="{h}"><title>{}–{}: {count}</title></rect><text x="{}" y="{}" text-anchor="middle">{count}</text><text x="{}" y="168" text-anchor="middle">{}</text>"#,
            base - h,
            i * 10,
            if i == 9 { 100 } else { i * 10 + 9 },
            x + bar / 2,
            base - h - 3,
            x + bar / 2,
            i * 10
        );
    }
    out.push_str("</svg>");
    out
}

/// Escapes text for XML content and attributes.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_fall_into_ten_point_buckets_with_100_at_the_top() {
        let b = buckets(&[0.0, 9.9, 10.0, 87.5, 100.0, f64::NAN]);
        assert_eq!(b, [2, 1, 0, 0, 0, 0, 0, 0, 1, 1]);
    }

    #[test]
    fn chart_has_one_bar_per_bucket_and_an_escaped_title() {
        let svg = svg("<hw1>", &[50.0]);
        assert_eq!(svg.matches("<rect").count(), 10);
        assert!(svg.contains("&lt;hw1&gt;"));
        assert!(!svg.contains("<hw1>"));
    }
}

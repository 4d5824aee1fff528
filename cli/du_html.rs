//! `du --html`: one self-contained page, charts as inline SVG (no script, no
//! network), readable offline and in ten years.

use crate::output::bytes;
use coffer_store::usage::{Projection, TierUsage, TimelinePoint, UsageReport};
use std::fmt::Write;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Vertical bars, one per item, scaled to the largest.
fn bars(id: &str, title: &str, items: &[(String, u64)], color: &str) -> String {
    let (w, h, pad) = (760.0f64, 220.0f64, 40.0f64);
    let max = items.iter().map(|i| i.1).max().unwrap_or(0).max(1) as f64;
    let n = items.len().max(1) as f64;
    let slot = (w - 2.0 * pad) / n;
    let mut svg = format!(
        r#"<h2>{}</h2><svg id="{id}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{}" viewBox="0 0 {w} {}" role="img"><title>{}</title>"#,
        esc(title),
        h + 60.0,
        h + 60.0,
        esc(title)
    );
    let _ = write!(
        svg,
        r##"<line x1="{pad}" y1="{h}" x2="{}" y2="{h}" stroke="#444"/>"##,
        w - pad
    );
    for (i, (label, v)) in items.iter().enumerate() {
        let bh = (*v as f64 / max * (h - 30.0)).max(if *v > 0 { 1.0 } else { 0.0 });
        let x = pad + slot * i as f64 + slot * 0.1;
        let _ = write!(
            svg,
            r#"<rect class="bar" x="{x:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="{color}"><title>{}: {}</title></rect>"#,
            h - bh,
            slot * 0.8,
            esc(label),
            bytes(*v)
        );
        if items.len() <= 24 || i % (items.len() / 12 + 1) == 0 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{}" font-size="10" text-anchor="middle">{}</text>"#,
                x + slot * 0.4,
                h + 14.0,
                esc(label)
            );
        }
        if items.len() <= 12 {
            let _ = write!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle">{}</text>"#,
                x + slot * 0.4,
                h - bh - 4.0,
                bytes(*v)
            );
        }
    }
    let _ = write!(
        svg,
        r#"<text x="{pad}" y="14" font-size="11">max {}</text></svg>"#,
        bytes(items.iter().map(|i| i.1).max().unwrap_or(0))
    );
    svg
}

fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut t = String::from("<table><tr>");
    for h in header {
        let _ = write!(t, "<th>{}</th>", esc(h));
    }
    t.push_str("</tr>");
    for r in rows {
        t.push_str("<tr>");
        for c in r {
            let _ = write!(t, "<td>{}</td>", esc(c));
        }
        t.push_str("</tr>");
    }
    t.push_str("</table>");
    t
}

pub fn render(
    location: &str,
    r: &UsageReport,
    monthly: &[TimelinePoint],
    projection: Option<&Projection>,
    tiers: Option<&[TierUsage]>,
    policy: Option<&str>,
) -> String {
    let u = &r.repository;
    let mut page = String::from(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>coffer cost audit</title><style>\
         body{font-family:sans-serif;margin:2em;color:#222;background:#fff}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#eee}\
         svg{background:#fafafa;border:1px solid #ddd;display:block;margin:1em 0}</style></head><body>",
    );
    let _ = write!(page, "<h1>Cost audit of {}</h1>", esc(location));
    page.push_str(&table(
        &["", "bytes"],
        &[
            vec!["snapshots".into(), u.snapshots.to_string()],
            vec!["logical".into(), bytes(u.logical_bytes)],
            vec!["after deduplication".into(), bytes(u.deduplicated_bytes)],
            vec![
                "after compression and encryption".into(),
                bytes(u.stored_bytes),
            ],
            vec!["pack overhead".into(), bytes(u.pack_overhead_bytes)],
            vec!["unused awaiting prune".into(), bytes(u.unused_bytes)],
            vec!["packs".into(), bytes(u.pack_bytes)],
        ],
    ));
    let footprint: Vec<(String, u64)> = monthly
        .iter()
        .map(|p| (p.period.clone(), p.stored_bytes))
        .collect();
    page.push_str(&bars(
        "chart-footprint",
        "Footprint over time (stored bytes referenced, month end)",
        &footprint,
        "#3b7dd8",
    ));
    if r.groups.is_empty() {
        page.push_str("<h2>Per group</h2><p>Run with <code>--by tag:KEY</code> or <code>--by host</code> for a breakdown.</p>");
    } else {
        let g: Vec<(String, u64)> = r
            .groups
            .iter()
            .map(|g| (g.group.clone(), g.fair_share_bytes))
            .collect();
        page.push_str(&bars("chart-groups", "Per group: fair share of stored bytes (shared blobs split equally among the groups using them)", &g, "#2a9d6f"));
        let rows: Vec<Vec<String>> = r
            .groups
            .iter()
            .map(|g| {
                vec![
                    g.group.clone(),
                    g.snapshots.to_string(),
                    bytes(g.referenced_bytes),
                    bytes(g.exclusive_bytes),
                    bytes(g.fair_share_bytes),
                ]
            })
            .collect();
        page.push_str(&table(
            &[
                "group",
                "snapshots",
                "referenced",
                "exclusive",
                "fair share",
            ],
            &rows,
        ));
    }
    match tiers {
        Some(t) => page.push_str(&tier_section(t, policy.unwrap_or(""))),
        None => page.push_str(
            "<h2>Per retention tier</h2><p>Give a policy (<code>--keep-daily 30 --keep-monthly 12 --keep-yearly 10</code>) to see what each tier holds today.</p>",
        ),
    }
    if let Some(p) = projection {
        let mut items = Vec::new();
        for x in &p.points {
            items.push((
                format!("+{}y all", x.years_from_now),
                x.stored_bytes_keep_all,
            ));
            items.push((
                format!("+{}y policy", x.years_from_now),
                x.stored_bytes_policy,
            ));
        }
        page.push_str(&bars(
            "chart-projection",
            &format!(
                "10-year projection: keep all vs {}",
                policy.unwrap_or("no policy")
            ),
            &items,
            "#d8893b",
        ));
        page.push_str("<ul>");
        for a in &p.assumptions {
            let _ = write!(page, "<li>{}</li>", esc(a));
        }
        page.push_str("</ul>");
    }
    let mut prune = vec![
        ("unused now".to_string(), u.unused_bytes),
        ("packs in no index".to_string(), u.unindexed_pack_bytes),
    ];
    if let Some(f) = &r.forget {
        prune.push(("freed by the policy".into(), f.freed_bytes));
        prune.push(("packs emptied".into(), f.packs_emptied_bytes));
        prune.push(("left in mixed packs".into(), f.bytes_in_mixed_packs));
    }
    page.push_str(&bars(
        "chart-prune",
        "What pruning would free",
        &prune,
        "#c0392b",
    ));
    page.push_str("</body></html>\n");
    page
}

/// Today's bytes per retention tier: what each rule keeps and what it alone holds.
fn tier_section(tiers: &[TierUsage], policy: &str) -> String {
    let items: Vec<(String, u64)> = tiers
        .iter()
        .map(|t| (t.tier.clone(), t.exclusive_bytes))
        .collect();
    let mut s = bars(
        "chart-tiers",
        &format!(
            "Per retention tier today ({policy}): stored bytes only that tier's snapshots use"
        ),
        &items,
        "#7b4fb8",
    );
    let rows: Vec<Vec<String>> = tiers
        .iter()
        .map(|t| {
            vec![
                t.tier.clone(),
                t.snapshots_kept_by_rule.to_string(),
                t.snapshots.to_string(),
                bytes(t.referenced_bytes),
                bytes(t.exclusive_bytes),
                bytes(t.fair_share_bytes),
            ]
        })
        .collect();
    s.push_str(&table(
        &[
            "tier",
            "kept by the rule",
            "counted in the tier",
            "referenced",
            "exclusive",
            "fair share",
        ],
        &rows,
    ));
    s.push_str(
        "<p>Each snapshot is counted in its most durable rule (tags, yearly, monthly, weekly, daily, hourly, last, within); \
         <em>forgotten</em> holds the snapshots the policy drops, its exclusive bytes are what the policy frees.</p>",
    );
    s
}

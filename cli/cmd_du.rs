//! `coffer du`: renders the store's cost audit as a table, `--json` or an HTML page.

use crate::args::Global;
use crate::args_du::DuArgs;
use crate::output::{self, bytes};
use crate::{du_html, du_policy, exit, open, progress, when};
use anyhow::{Result, bail};
use coffer_store::retention;
use coffer_store::select;
use coffer_store::usage::{self, CostModel, Projection, TierUsage, UsageOptions, UsageReport};
use std::process::ExitCode;
use std::time::SystemTime;

const DAY_NS: i64 = 86_400_000_000_000;

/// What `--by` asked for.
enum By {
    Repository,
    Snapshot,
    Host,
    Tag(String),
    Path,
}

fn parse_by(s: Option<&str>) -> Result<By> {
    Ok(match s {
        None => By::Repository,
        Some("snapshot") => By::Snapshot,
        Some("host") => By::Host,
        Some("path") => By::Path,
        Some(t) => match t.strip_prefix("tag:") {
            Some(key) if !key.is_empty() => By::Tag(key.to_string()),
            _ => bail!("--by {t:?}: use snapshot, host, path or tag:KEY (e.g. tag:tenant)"),
        },
    })
}

fn period_of(period: &str) -> Result<fn(i64) -> String> {
    Ok(match period {
        "daily" => |t| when::short(t)[..10].to_string(),
        "monthly" => |t| when::short(t)[..7].to_string(),
        "yearly" => |t| when::short(t)[..4].to_string(),
        other => bail!("--timeline {other:?}: use daily, monthly or yearly"),
    })
}

pub fn run(g: &Global, a: DuArgs) -> Result<ExitCode> {
    let by = parse_by(a.by.as_deref())?;
    let period = a.timeline.as_deref().map(period_of).transpose()?;
    if matches!(by, By::Path) != a.snapshot.is_some() {
        bail!(
            "give a snapshot with --by path (coffer du --by path --depth 2 latest), and only then"
        );
    }
    for (name, p) in [
        ("--price-per-gb-month", a.price_per_gb_month),
        ("--price-per-1k-requests", a.price_per_1k_requests),
    ] {
        if p.is_some_and(|p| !p.is_finite() || p < 0.0) {
            bail!("{name} must be a non-negative number");
        }
    }
    let repo = open::repository(g)?;
    let bar = progress::Bar::new(g);
    let snaps = repo.snapshots()?;

    if let By::Path = by {
        let spec = a.snapshot.as_deref().unwrap_or("latest");
        let s = select::find(&snaps, spec)?;
        let rows = usage::by_path(&repo, s, a.depth, &bar)?;
        bar.finish();
        if g.json {
            output::json(&serde_json::json!({ "snapshot": s.id.to_hex(), "paths": rows }))?;
        } else {
            let table: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.path.clone(),
                        r.kind.into(),
                        bytes(r.logical_bytes),
                        bytes(r.deduplicated_bytes),
                        bytes(r.stored_bytes),
                    ]
                })
                .collect();
            output::table(
                &["Path", "Kind", "Logical", "Deduplicated", "Stored"],
                &table,
            )?;
        }
        return Ok(ExitCode::from(exit::OK));
    }

    let groups = match &by {
        By::Host => Some(usage::labels_by_host(&snaps)),
        By::Tag(k) => Some(usage::labels_by_tag(&snaps, k)),
        _ => None,
    };
    let policy = du_policy::from_args(&a.policy)?;
    let (report, tiers) = match &policy {
        None => {
            let opts = UsageOptions {
                groups,
                forget: None,
            };
            (usage::analyze(&repo, &snaps, &opts, &bar)?, None)
        }
        Some(p) => {
            // forget's plan itself: what forget with these flags would do.
            let now = coffer_store::repo::unix_ns(SystemTime::now());
            let plan = retention::plan(snaps.clone(), &p.opts, now);
            let (tiers, by_tier) = usage::by_tier(&repo, &snaps, &plan, &bar)?;
            let report = match groups {
                // A second walk: the groups asked for are not the tiers.
                Some(groups) => {
                    let opts = UsageOptions {
                        groups: Some(groups),
                        forget: Some(plan.forgotten().map(|s| s.id).collect()),
                    };
                    usage::analyze(&repo, &snaps, &opts, &bar)?
                }
                None => {
                    let mut r = by_tier;
                    r.groups.clear();
                    r.snapshots.iter_mut().for_each(|s| s.group = None);
                    r
                }
            };
            (report, Some(tiers))
        }
    };
    bar.finish();
    let timeline = period.map(|p| usage::timeline(&report, p));
    let monthly = usage::timeline(&report, |t| when::short(t)[..7].to_string());
    let cost = a.price_per_gb_month.map(|p| CostModel {
        price_per_gib_month: p,
        price_per_1k_requests: a.price_per_1k_requests.unwrap_or(0.0),
        pack_size: u64::from(repo.config().pack_target_size),
    });
    // The projection's `K(T)`: the policy over T daily snapshots, the first
    // on the day of the repository's first snapshot.
    let first_ns = report.snapshots.first().map_or(0, |s| s.time_unix_ns);
    let kept = policy.as_ref().map(|p| {
        move |count: u64| {
            let span = i64::try_from(count.saturating_sub(1)).unwrap_or(i64::MAX / DAY_NS);
            usage::kept_of_daily(&p.opts, first_ns + span * DAY_NS, count)
        }
    });
    let projection = (cost.is_some() || policy.is_some() || a.html.is_some()).then(|| {
        usage::project(
            &report,
            10,
            kept.as_ref().map(|f| f as &dyn Fn(u64) -> u64),
            cost.as_ref(),
        )
    });

    if let Some(path) = &a.html {
        let page = du_html::render(
            repo.backend().location(),
            &report,
            &monthly,
            projection.as_ref(),
            tiers.as_deref(),
            policy.as_ref().map(|p| p.describe.as_str()),
        );
        std::fs::write(path, page)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    if g.json {
        let mut v = serde_json::json!({ "repository": report.repository });
        match by {
            By::Snapshot => v["snapshots"] = serde_json::to_value(&report.snapshots)?,
            By::Host | By::Tag(_) => v["groups"] = serde_json::to_value(&report.groups)?,
            _ => {}
        }
        if let Some(t) = &timeline {
            v["timeline"] = serde_json::to_value(t)?;
        }
        if let Some(f) = &report.forget {
            v["forget"] = serde_json::to_value(f)?;
        }
        if let Some(t) = &tiers {
            v["tiers"] = serde_json::to_value(t)?;
        }
        if let Some(p) = &projection {
            v["projection"] = serde_json::to_value(p)?;
        }
        if let Some(c) = &cost {
            v["cost"] = serde_json::json!({
                "monthly_now": c.per_month(report.repository.pack_bytes, projection.as_ref().map_or(0.0, |p| p.daily_growth_bytes)),
                "monthly_after_policy": report.forget.as_ref().map(|f| c.per_month(report.repository.pack_bytes.saturating_sub(f.freed_bytes + f.unused_bytes), projection.as_ref().map_or(0.0, |p| p.daily_growth_bytes))),
            });
        }
        output::json(&v)?;
        return Ok(ExitCode::from(exit::OK));
    }
    match by {
        By::Snapshot => snapshot_table(&report)?,
        By::Host | By::Tag(_) => group_table(&report)?,
        _ => repository_table(&report)?,
    }
    if let Some(t) = &timeline {
        println!();
        let rows: Vec<Vec<String>> = t
            .iter()
            .map(|p| {
                vec![
                    p.period.clone(),
                    p.snapshots.to_string(),
                    bytes(p.added_bytes),
                    bytes(p.stored_bytes),
                    bytes(p.logical_bytes),
                ]
            })
            .collect();
        output::table(
            &[
                "Period",
                "Snapshots",
                "Added",
                "Stored (cumulative)",
                "Logical (cumulative)",
            ],
            &rows,
        )?;
    }
    if let Some(f) = &report.forget {
        println!();
        println!(
            "retention policy {}: forgets {} of {} snapshot(s)",
            policy
                .as_ref()
                .map(|p| p.describe.as_str())
                .unwrap_or_default(),
            f.snapshots_forgotten,
            f.snapshots_forgotten + f.snapshots_kept
        );
        println!(
            "  frees {} in {} blob(s) only those snapshots reference (plus {} already unused)",
            bytes(f.freed_bytes),
            f.freed_blobs,
            bytes(f.unused_bytes)
        );
        println!(
            "  {} pack(s) emptied ({}); {} unreferenced left in packs that keep live blobs (freed only by repacking)",
            f.packs_emptied,
            bytes(f.packs_emptied_bytes),
            bytes(f.bytes_in_mixed_packs)
        );
    }
    if let Some(t) = &tiers {
        tier_table(t)?;
    }
    if let Some(p) = &projection {
        projection_table(&report, p, cost.as_ref())?;
    }
    Ok(ExitCode::from(exit::OK))
}

fn repository_table(r: &UsageReport) -> Result<()> {
    let u = &r.repository;
    let rows = vec![
        vec!["snapshots".into(), u.snapshots.to_string()],
        vec![
            "logical (all files of all snapshots)".into(),
            bytes(u.logical_bytes),
        ],
        vec!["after deduplication".into(), bytes(u.deduplicated_bytes)],
        vec![
            "after compression and encryption".into(),
            bytes(u.stored_bytes),
        ],
        vec![
            "pack overhead (trailers, footers, duplicates)".into(),
            bytes(u.pack_overhead_bytes),
        ],
        vec![
            format!("unused awaiting prune ({} blobs)", u.unused_blobs),
            bytes(u.unused_bytes),
        ],
        vec![
            format!("packs in no index ({})", u.unindexed_packs),
            bytes(u.unindexed_pack_bytes),
        ],
        vec![format!("packs ({})", u.packs), bytes(u.pack_bytes)],
    ];
    output::table(&["", "bytes"], &rows)?;
    if u.missing_blobs > 0 {
        println!(
            "{} referenced blob(s) are in no index: run `coffer check`",
            u.missing_blobs
        );
    }
    Ok(())
}

fn snapshot_table(r: &UsageReport) -> Result<()> {
    let rows: Vec<Vec<String>> = r
        .snapshots
        .iter()
        .map(|s| {
            vec![
                s.id.short(),
                when::short(s.time_unix_ns),
                s.host.clone(),
                s.tags.join(","),
                bytes(s.logical_bytes),
                bytes(s.added_bytes),
                bytes(s.exclusive_bytes),
                bytes(s.shared_bytes),
                bytes(s.fair_share_bytes),
            ]
        })
        .collect();
    output::table(
        &[
            "ID",
            "Time",
            "Host",
            "Tags",
            "Logical",
            "Added",
            "Exclusive",
            "Shared",
            "Fair share",
        ],
        &rows,
    )?;
    println!(
        "stored bytes; exclusive: freed if only that snapshot were forgotten; fair share: each blob split equally among the snapshots referencing it"
    );
    Ok(())
}

fn group_table(r: &UsageReport) -> Result<()> {
    let rows: Vec<Vec<String>> = r
        .groups
        .iter()
        .map(|g| {
            vec![
                g.group.clone(),
                g.snapshots.to_string(),
                bytes(g.logical_bytes),
                bytes(g.referenced_bytes),
                bytes(g.exclusive_bytes),
                bytes(g.shared_bytes),
                bytes(g.fair_share_bytes),
            ]
        })
        .collect();
    output::table(
        &[
            "Group",
            "Snapshots",
            "Logical",
            "Referenced",
            "Exclusive",
            "Shared",
            "Fair share",
        ],
        &rows,
    )?;
    println!(
        "stored bytes; fair share: each blob split equally among the groups referencing it (remainder bytes to the first by name); fair shares add up to the stored total"
    );
    Ok(())
}

fn projection_table(r: &UsageReport, p: &Projection, cost: Option<&CostModel>) -> Result<()> {
    println!();
    if let Some(c) = cost {
        println!(
            "monthly cost now: {:.4}",
            c.per_month(r.repository.pack_bytes, p.daily_growth_bytes)
        );
        if let Some(f) = &r.forget {
            println!(
                "monthly cost after the policy: {:.4}",
                c.per_month(
                    r.repository
                        .pack_bytes
                        .saturating_sub(f.freed_bytes + f.unused_bytes),
                    p.daily_growth_bytes
                )
            );
        }
    }
    let money = |v: Option<f64>| v.map(|x| format!("{x:.4}")).unwrap_or_default();
    let rows: Vec<Vec<String>> = p
        .points
        .iter()
        .map(|x| {
            vec![
                format!("+{}y", x.years_from_now),
                x.snapshots_keep_all.to_string(),
                bytes(x.stored_bytes_keep_all),
                money(x.monthly_cost_keep_all),
                x.snapshots_policy.to_string(),
                bytes(x.stored_bytes_policy),
                money(x.monthly_cost_policy),
            ]
        })
        .collect();
    output::table(
        &[
            "When",
            "Kept (all)",
            "Stored (all)",
            "Monthly (all)",
            "Kept (policy)",
            "Stored (policy)",
            "Monthly (policy)",
        ],
        &rows,
    )?;
    for a in &p.assumptions {
        println!("assumes: {a}");
    }
    Ok(())
}

fn tier_table(tiers: &[TierUsage]) -> Result<()> {
    println!();
    let day = |t: Option<i64>| {
        t.map(|t| when::short(t)[..10].to_string())
            .unwrap_or_default()
    };
    let rows: Vec<Vec<String>> = tiers
        .iter()
        .map(|t| {
            vec![
                t.tier.clone(),
                t.snapshots_kept_by_rule.to_string(),
                t.snapshots.to_string(),
                format!("{} .. {}", day(t.oldest_unix_ns), day(t.newest_unix_ns)),
                bytes(t.referenced_bytes),
                bytes(t.exclusive_bytes),
                bytes(t.fair_share_bytes),
            ]
        })
        .collect();
    output::table(
        &[
            "Tier",
            "Kept by rule",
            "Counted here",
            "Span",
            "Referenced",
            "Exclusive",
            "Fair share",
        ],
        &rows,
    )?;
    println!(
        "per retention tier today: each snapshot counted in its most durable rule (tags > yearly > monthly > weekly > daily > hourly > last > within); exclusive: used by no other tier"
    );
    Ok(())
}

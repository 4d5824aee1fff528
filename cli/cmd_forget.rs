//! `coffer forget`: a retention policy or a list of ids; the plan comes from
//! `coffer_store::retention`, this file only parses and renders.

use crate::args::Global;
use crate::args_forget::ForgetArgs;
use crate::{cmd_snapshots, exit, forget_tiers, open, output, when};
use anyhow::{Result, bail};
use coffer_store::progress::NoProgress;
use coffer_store::retention::{self, Count, ForgetOptions, GroupBy, Policy, Span};
use coffer_store::select;
use coffer_store::usage::{self, CostModel, ForgetCost, UsageOptions};
use jiff::tz::TimeZone;
use std::process::ExitCode;
use std::time::SystemTime;

fn count(flag: &str, v: Option<i64>) -> Result<Count> {
    Ok(match v {
        None | Some(0) => Count::Off,
        Some(-1) => Count::All,
        Some(n) if n > 0 => Count::Newest(u32::try_from(n)?),
        Some(n) => bail!("--{flag} {n}: give a positive count, or -1 for all"),
    })
}

fn span(v: &Option<String>) -> Result<Option<Span>> {
    Ok(v.as_deref().map(Span::parse).transpose()?)
}

fn policy(a: &ForgetArgs) -> Result<Policy> {
    Ok(Policy {
        last: count("keep-last", a.keep_last)?,
        hourly: count("keep-hourly", a.keep_hourly)?,
        daily: count("keep-daily", a.keep_daily)?,
        weekly: count("keep-weekly", a.keep_weekly)?,
        monthly: count("keep-monthly", a.keep_monthly)?,
        yearly: count("keep-yearly", a.keep_yearly)?,
        within: span(&a.keep_within)?,
        within_hourly: span(&a.keep_within_hourly)?,
        within_daily: span(&a.keep_within_daily)?,
        within_weekly: span(&a.keep_within_weekly)?,
        within_monthly: span(&a.keep_within_monthly)?,
        within_yearly: span(&a.keep_within_yearly)?,
        tags: a
            .keep_tags
            .iter()
            .map(|t| t.split(',').map(String::from).collect())
            .collect(),
    })
}

/// Days and hours only: a minimum age must not depend on the calendar.
fn min_age_ns(s: &str) -> Result<i64> {
    let sp = Span::parse(s)?;
    if sp.years != 0 || sp.months != 0 {
        bail!("--insurance-min-age {s}: give days and hours (7d, 36h), not months or years");
    }
    Ok((i64::from(sp.days) * 24 + i64::from(sp.hours)) * 3_600_000_000_000)
}

pub fn run(g: &Global, a: ForgetArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    let policy = policy(&a)?;
    let tz = TimeZone::get(&a.tz).map_err(|e| {
        anyhow::anyhow!(
            "--tz {}: unknown time zone ({e}); use an IANA name like Europe/Zurich or UTC",
            a.tz
        )
    })?;
    let opts = ForgetOptions {
        policy,
        group_by: GroupBy::parse(&a.group_by)?,
        tz,
        insurance_min_age_ns: min_age_ns(&a.insurance_min_age)?,
    };
    if !a.snapshots.is_empty() && !opts.policy.is_empty() {
        bail!("give either snapshot ids or --keep-* rules, not both");
    }
    // No ids and no rule on the command line: the profile's tiers decide.
    let tiers = if a.snapshots.is_empty() && opts.policy.is_empty() {
        forget_tiers::from_profile(g.selected.as_ref())?
    } else {
        Vec::new()
    };
    if a.snapshots.is_empty() && opts.policy.is_empty() && tiers.is_empty() {
        bail!(
            "nothing to forget: give snapshot ids or at least one --keep-* rule, or use a \
             --profile with retention tiers (see --help)"
        );
    }
    let repo = open::repository(g)?;
    let now = coffer_store::repo::unix_ns(SystemTime::now());
    let snaps = cmd_snapshots::filter(&a.filter).apply(repo.snapshots()?);

    if !a.snapshots.is_empty() {
        let mut chosen = Vec::new();
        for spec in &a.snapshots {
            let s = select::find(&snaps, spec)?;
            if !chosen
                .iter()
                .any(|c: &coffer_store::format::snapshot::SnapshotEntry| c.id == s.id)
            {
                chosen.push(s.clone());
            }
        }
        retention::check_explicit(&chosen, opts.insurance_min_age_ns, now, a.force_insurance)?;
        if !a.dry_run {
            retention::execute(&repo, &chosen.iter().map(|s| s.id).collect::<Vec<_>>())?;
        }
        let pruned = then_prune(g, &repo, &a, chosen.iter().map(|s| s.id).collect())?;
        if g.json {
            let removed: Vec<_> = chosen.iter().map(cmd_snapshots::to_json).collect();
            let mut doc = serde_json::json!({ "dry_run": a.dry_run, "removed": removed });
            if let Some((p, _)) = pruned {
                doc["prune"] = p;
            }
            output::json(&doc)?;
        } else if !g.quiet {
            for s in &chosen {
                println!(
                    "{} {}",
                    if a.dry_run { "would forget" } else { "forgot" },
                    s.id.short()
                );
            }
            if let Some((_, text)) = pruned {
                print!("{text}");
            }
        }
        return Ok(ExitCode::from(exit::OK));
    }

    let plan = if tiers.is_empty() {
        retention::plan(snaps, &opts, now)
    } else {
        retention::tiers::plan_tiers(snaps, &tiers, &opts, now)?
    };
    let gone: Vec<_> = plan.forgotten().map(|s| s.id).collect();
    // Before anything is deleted: the cost counts every snapshot of the
    // repository, filtered out or not, as a user of the blobs.
    let cost = if a.cost {
        let usage_opts = UsageOptions {
            groups: None,
            forget: Some(gone.iter().copied().collect()),
        };
        usage::analyze(&repo, &repo.snapshots()?, &usage_opts, &NoProgress)?.forget
    } else {
        None
    };
    if !a.dry_run {
        let executed = retention::execute(&repo, &gone);
        let secs = started.elapsed().as_secs_f64();
        crate::metrics::after_forget(g, &plan.groups, secs, executed.is_ok());
        executed?;
    }
    let pruned = then_prune(g, &repo, &a, gone.clone())?;
    if g.json {
        let groups: Vec<_> = plan
            .groups
            .iter()
            .map(|grp| {
                let snapshots: Vec<_> = grp
                    .snapshots
                    .iter()
                    .map(|v| {
                        let mut j = cmd_snapshots::to_json(&v.entry);
                        j["keep"] = v.keep.into();
                        j["reasons"] = v.reasons.clone().into();
                        j
                    })
                    .collect();
                serde_json::json!({ "group": grp.key, "snapshots": snapshots })
            })
            .collect();
        let mut doc = serde_json::json!({
            "dry_run": a.dry_run,
            "groups": groups,
            "forgotten": gone.len(),
        });
        if let Some(c) = &cost {
            doc["cost"] = serde_json::to_value(c)?;
            if let Some(price) = a.price_per_gb_month {
                doc["cost"]["freed_per_month"] = per_month(c, price).into();
            }
        }
        if let Some((p, _)) = pruned {
            doc["prune"] = p;
        }
        output::json(&doc)?;
        return Ok(ExitCode::from(exit::OK));
    }
    // The tables (3,650 rows after ten years) are built only to be shown.
    for grp in plan.groups.iter().filter(|_| !g.quiet) {
        let k = &grp.key;
        let mut label = Vec::new();
        if let Some(h) = &k.host {
            label.push(format!("host {h}"));
        }
        if let Some(t) = &k.tags {
            label.push(format!("tags [{}]", t.join(",")));
        }
        if let Some(p) = &k.paths {
            label.push(format!("paths [{}]", p.join(" ")));
        }
        println!(
            "\n{}",
            if label.is_empty() {
                "all snapshots".into()
            } else {
                label.join(", ")
            }
        );
        let rows: Vec<Vec<String>> = grp
            .snapshots
            .iter()
            .map(|v| {
                let s = &v.entry.snapshot;
                vec![
                    v.entry.id.short(),
                    when::short(s.time_unix_ns),
                    s.host.clone(),
                    s.tags.join(","),
                    if v.keep {
                        "keep".into()
                    } else {
                        "forget".into()
                    },
                    v.reasons.join(", "),
                ]
            })
            .collect();
        output::table(
            &["ID", "Time", "Host", "Tags", "Decision", "Kept by"],
            &rows,
        )?;
    }
    if !g.quiet {
        let kept = plan
            .groups
            .iter()
            .flat_map(|g| &g.snapshots)
            .filter(|v| v.keep)
            .count();
        println!(
            "\n{} kept, {} {}",
            kept,
            gone.len(),
            if a.dry_run {
                "would be forgotten (dry run)"
            } else {
                "forgotten"
            }
        );
        if let Some(c) = &cost {
            println!(
                "frees {} ({} blobs only those snapshots use; {} pack(s) emptied, {} left in \
                 packs that keep live data until prune repacks them)",
                output::bytes(c.freed_bytes),
                c.freed_blobs,
                c.packs_emptied,
                output::bytes(c.bytes_in_mixed_packs)
            );
            if let Some(price) = a.price_per_gb_month {
                println!(
                    "that is {:.2} per month at {price} per GiB-month",
                    per_month(c, price)
                );
            }
        }
    }
    if let Some((_, text)) = pruned {
        if !g.quiet {
            print!("{text}");
        }
    }
    Ok(ExitCode::from(exit::OK))
}

/// `--prune`: a prune after the forget (its plan only, with --dry-run).
fn then_prune(
    g: &Global,
    repo: &coffer_store::Repository,
    a: &ForgetArgs,
    forgotten: Vec<coffer_store::id::SnapshotId>,
) -> Result<Option<(serde_json::Value, String)>> {
    if !a.prune {
        return Ok(None);
    }
    let mut opts = crate::cmd_prune::options(&a.prune_flags)?;
    if a.dry_run {
        // Nothing was forgotten: plan as if it had been.
        opts.assume_forgotten = forgotten;
    }
    crate::cmd_prune::prune_and_render(g, repo, &opts, a.dry_run).map(Some)
}

/// Money per month the freed bytes cost, priced as `du` prices storage.
fn per_month(c: &ForgetCost, price_per_gib_month: f64) -> f64 {
    CostModel {
        price_per_gib_month,
        price_per_1k_requests: 0.0,
        pack_size: 0,
    }
    .storage_per_month(c.freed_bytes)
}

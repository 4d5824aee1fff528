//! Retention tiers: one policy per class of snapshots (a tenant's plan: 30
//! days for `tenant=basic`, a year for `tenant=premium`), chosen by a tag.
//!
//! Each snapshot belongs to the tier whose selector tag it carries; `*`
//! takes the snapshots no other tier claims. A snapshot claimed by two tiers
//! is an error, not a guess: which plan a tenant pays for is not something to
//! pick silently. A snapshot no tier claims (and no `*` tier) is kept, with
//! that said as its reason: an unconfigured tenant must not lose its history.
//! Within a tier the usual [`plan`] applies, grouping included.

use super::{ForgetOptions, ForgetPlan, Group, GroupKey, Policy, Verdict, plan};
use crate::error::{Error, Result};
use crate::format::snapshot::SnapshotEntry;

/// The selector that takes every snapshot no other tier claims.
pub const CATCH_ALL: &str = "*";

/// Said of a snapshot no tier claims.
pub const UNTIERED_REASON: &str = "no retention tier matches its tags";

#[derive(Clone, Debug)]
pub struct Tier {
    /// A tag (`tenant=basic`), or [`CATCH_ALL`].
    pub selector: String,
    pub policy: Policy,
}

/// The tier index each snapshot falls in (`None`: no tier claims it).
fn assign(snapshots: &[SnapshotEntry], tiers: &[Tier]) -> Result<Vec<Option<usize>>> {
    let catch_all = tiers.iter().position(|t| t.selector == CATCH_ALL);
    snapshots
        .iter()
        .map(|s| {
            let claims: Vec<usize> = tiers
                .iter()
                .enumerate()
                .filter(|(_, t)| t.selector != CATCH_ALL && s.snapshot.tags.contains(&t.selector))
                .map(|(i, _)| i)
                .collect();
            match claims.as_slice() {
                [] => Ok(catch_all),
                [one] => Ok(Some(*one)),
                many => Err(Error::InvalidInput(format!(
                    "snapshot {} carries the tags of several retention tiers ({}): give it one, \
                     or change the tiers so that one tag decides",
                    s.id.short(),
                    many.iter()
                        .map(|&i| tiers[i].selector.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ))),
            }
        })
        .collect()
}

/// The plan of every tier, each reason prefixed with its tier's selector.
/// `base` gives grouping, time zone and the insurance age; its policy is
/// ignored.
pub fn plan_tiers(
    snapshots: Vec<SnapshotEntry>,
    tiers: &[Tier],
    base: &ForgetOptions,
    now_ns: i64,
) -> Result<ForgetPlan> {
    if let Some(t) = tiers.iter().find(|t| t.policy.is_empty()) {
        return Err(Error::InvalidInput(format!(
            "retention tier {:?} has no keep-* rule: it would forget every snapshot it holds; \
             give it at least one (keep-daily = 30)",
            t.selector
        )));
    }
    let assigned = assign(&snapshots, tiers)?;
    let mut per_tier: Vec<Vec<SnapshotEntry>> = vec![Vec::new(); tiers.len()];
    let mut untiered = Vec::new();
    for (s, tier) in snapshots.into_iter().zip(assigned) {
        match tier {
            Some(i) => per_tier[i].push(s),
            None => untiered.push(s),
        }
    }
    let mut out = ForgetPlan::default();
    for (tier, members) in tiers.iter().zip(per_tier) {
        if members.is_empty() {
            continue;
        }
        let opts = ForgetOptions {
            policy: tier.policy.clone(),
            ..base.clone()
        };
        for mut group in plan(members, &opts, now_ns).groups {
            for v in &mut group.snapshots {
                for r in &mut v.reasons {
                    *r = format!("tier {}: {r}", tier.selector);
                }
            }
            out.groups.push(group);
        }
    }
    if !untiered.is_empty() {
        untiered.sort_by_key(|s| std::cmp::Reverse(s.snapshot.time_unix_ns));
        out.groups.push(Group {
            key: GroupKey::default(),
            snapshots: untiered
                .into_iter()
                .map(|entry| Verdict {
                    entry,
                    keep: true,
                    reasons: vec![UNTIERED_REASON.into()],
                })
                .collect(),
        });
    }
    Ok(out)
}

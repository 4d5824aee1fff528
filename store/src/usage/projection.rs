//! Money now, and a 10-year projection of the footprint under a retention policy.
//!
//! The model, fitted to the audited repository (its assumptions are returned
//! with the figures, so a report can print them):
//!
//! - one snapshot a day from now on, growing like the observed history: `g`,
//!   the stored bytes added per day (bytes added by every snapshot after the
//!   first, over the days between the first and the last);
//! - a share `rho` of each day's growth is transient: it lives in one snapshot
//!   only and is freed when that snapshot is forgotten. `rho` is observed: the
//!   exclusive bytes of the snapshots between the first and the last, over the
//!   bytes they added. The rest stays referenced for good (new invoices,
//!   documents). Data that lives a few days counts as permanent, so the
//!   projection under a policy errs high;
//! - after `T` days: `B0 + (1 - rho) * g * T + rho * g * K(T)`, with `B0` what
//!   the first snapshot stored and `K(T)` how many of `T` daily snapshots the
//!   policy keeps (`T` when everything is kept);
//! - requests: each nightly backup lists and reads about 8 small objects and
//!   writes `g / pack size` packs (rounded up), an index and a snapshot; the
//!   audit's own, forget's and prune's requests are not counted.

use super::UsageReport;
use serde::Serialize;

const DAY_NS: f64 = 86_400e9;
const GIB: f64 = 1_073_741_824.0;
const DAYS_PER_MONTH: f64 = 30.436_875;
/// Small requests of one nightly backup besides its pack uploads (key files,
/// config, index and snapshot listings, the parent snapshot, index and snapshot writes).
const REQUESTS_PER_BACKUP: f64 = 8.0;

/// Prices, as a provider bills them.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct CostModel {
    /// Per GiB (2^30 bytes) stored for a month, as S3-style storage bills.
    pub price_per_gib_month: f64,
    pub price_per_1k_requests: f64,
    /// The repository's pack size target: how many packs a day's growth makes.
    pub pack_size: u64,
}

impl CostModel {
    pub fn storage_per_month(&self, bytes: u64) -> f64 {
        bytes as f64 / GIB * self.price_per_gib_month
    }

    pub fn requests_per_month(&self, daily_growth: f64) -> f64 {
        let packs = (daily_growth / self.pack_size.max(1) as f64).ceil();
        DAYS_PER_MONTH * (REQUESTS_PER_BACKUP + packs)
    }

    pub fn per_month(&self, bytes: u64, daily_growth: f64) -> f64 {
        self.storage_per_month(bytes)
            + self.requests_per_month(daily_growth) / 1000.0 * self.price_per_1k_requests
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ProjectionPoint {
    pub years_from_now: u32,
    /// Days since the first snapshot.
    pub days: u64,
    pub snapshots_keep_all: u64,
    pub snapshots_policy: u64,
    pub stored_bytes_keep_all: u64,
    pub stored_bytes_policy: u64,
    pub monthly_cost_keep_all: Option<f64>,
    pub monthly_cost_policy: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Projection {
    pub daily_growth_bytes: f64,
    pub transient_share: f64,
    pub first_snapshot_bytes: u64,
    pub observed_days: f64,
    pub assumptions: Vec<String>,
    pub points: Vec<ProjectionPoint>,
}

/// Projects the footprint over `years`, yearly. `kept(T)`: how many of `T`
/// daily snapshots the retention policy keeps (`None`: no policy, all kept).
pub fn project(
    report: &UsageReport,
    years: u32,
    kept: Option<&dyn Fn(u64) -> u64>,
    cost: Option<&CostModel>,
) -> Projection {
    let s = &report.snapshots;
    let first_bytes = s.first().map_or(0, |f| f.added_bytes);
    let observed_days = match (s.first(), s.last()) {
        (Some(a), Some(b)) => ((b.time_unix_ns - a.time_unix_ns) as f64 / DAY_NS).max(1.0),
        _ => 1.0,
    };
    let later_added: u64 = s.iter().skip(1).map(|x| x.added_bytes).sum();
    let growth = later_added as f64 / observed_days;
    let middle = if s.len() >= 3 {
        &s[1..s.len() - 1]
    } else {
        &[][..]
    };
    let middle_added: u64 = middle.iter().map(|x| x.added_bytes).sum();
    let middle_excl: u64 = middle.iter().map(|x| x.exclusive_bytes).sum();
    let rho = if middle_added > 0 {
        (middle_excl as f64 / middle_added as f64).clamp(0.0, 1.0)
    } else {
        0.0
    };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a positive day count
    let now_days = observed_days.round() as u64;
    let at = |t: u64, k: u64| -> u64 {
        let v = first_bytes as f64 + (1.0 - rho) * growth * t as f64 + rho * growth * k as f64;
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        // clamped at 0, far below 2^64
        let bytes = v.max(0.0) as u64;
        bytes
    };
    let points = (0..=years)
        .map(|y| {
            let t = now_days + u64::from(y) * 365;
            let k = kept.map_or(t + 1, |f| f(t + 1));
            let all = at(t, t);
            let pol = at(t, k.saturating_sub(1));
            ProjectionPoint {
                years_from_now: y,
                days: t,
                snapshots_keep_all: t + 1,
                snapshots_policy: k,
                stored_bytes_keep_all: all,
                stored_bytes_policy: pol,
                monthly_cost_keep_all: cost.map(|c| c.per_month(all, growth)),
                monthly_cost_policy: cost.map(|c| c.per_month(pol, growth)),
            }
        })
        .collect();
    let mut assumptions = vec![
        format!(
            "one snapshot a day; stored growth {:.0} bytes a day, observed over {:.0} day(s) of {} snapshot(s)",
            growth,
            observed_days,
            s.len()
        ),
        format!(
            "{:.1}% of each day's growth is held by that snapshot alone and freed when it is forgotten \
             (observed: exclusive over added bytes of the snapshots between the first and the last); \
             the rest stays referenced",
            rho * 100.0
        ),
        format!("the first snapshot's {first_bytes} stored bytes stay referenced"),
    ];
    match kept {
        Some(_) => assumptions.push("the retention policy is applied every day".into()),
        None => assumptions.push("no retention policy: every snapshot is kept".into()),
    }
    if let Some(c) = cost {
        assumptions.push(format!(
            "storage billed per GiB-month; {:.0} requests a month ({} small ones and the pack uploads of each nightly backup; forget, prune and audits not counted); pack size {} bytes",
            c.requests_per_month(growth),
            REQUESTS_PER_BACKUP,
            c.pack_size
        ));
    }
    Projection {
        daily_growth_bytes: growth,
        transient_share: rho,
        first_snapshot_bytes: first_bytes,
        observed_days,
        assumptions,
        points,
    }
}

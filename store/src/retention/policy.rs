//! Which snapshots of one group a policy keeps, and why: restic's
//! `ApplyPolicy` (restic 0.14), rule for rule.
//!
//! Snapshots are taken newest first. Each count rule (`last`, `hourly`, ...,
//! `yearly`) walks that order with a bucket function (the hour, day, ISO week,
//! month or year of the snapshot, in the policy's time zone) and keeps a
//! snapshot whenever its bucket differs from the last kept one's, until its
//! count is used up; so it keeps the newest snapshot of each of the N newest
//! buckets. `within` rules are relative to the newest snapshot's time (not
//! the clock), so a repository that stopped receiving backups is not emptied.
//! A snapshot may be kept by several rules; all are reported.

use super::span::Span;
use crate::format::snapshot::SnapshotEntry;
use jiff::tz::TimeZone;

/// How many buckets a count rule keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Count {
    #[default]
    Off,
    /// The newest snapshot of each of the N newest buckets.
    Newest(u32),
    /// The newest snapshot of every bucket (restic's `-1`).
    All,
}

impl Count {
    pub fn is_off(&self) -> bool {
        matches!(self, Count::Off | Count::Newest(0))
    }
}

/// A retention policy, restic's flags one for one.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub last: Count,
    pub hourly: Count,
    pub daily: Count,
    pub weekly: Count,
    pub monthly: Count,
    pub yearly: Count,
    /// Every snapshot younger than this, counted back from the newest one.
    pub within: Option<Span>,
    pub within_hourly: Option<Span>,
    pub within_daily: Option<Span>,
    pub within_weekly: Option<Span>,
    pub within_monthly: Option<Span>,
    pub within_yearly: Option<Span>,
    /// Keep every snapshot holding all tags of any one of these lists.
    pub tags: Vec<Vec<String>>,
}

impl Policy {
    /// No rule at all: restic then keeps everything (and so do we).
    pub fn is_empty(&self) -> bool {
        [
            self.last,
            self.hourly,
            self.daily,
            self.weekly,
            self.monthly,
            self.yearly,
        ]
        .iter()
        .all(Count::is_off)
            && [
                self.within,
                self.within_hourly,
                self.within_daily,
                self.within_weekly,
                self.within_monthly,
                self.within_yearly,
            ]
            .iter()
            .all(|w| w.is_none_or(|s| s.is_zero()))
            && self.tags.is_empty()
    }
}

/// Calendar buckets of the count rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Bucket {
    Every,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Bucket {
    fn name(self) -> &'static str {
        match self {
            Bucket::Every => "last",
            Bucket::Hour => "hourly",
            Bucket::Day => "daily",
            Bucket::Week => "weekly",
            Bucket::Month => "monthly",
            Bucket::Year => "yearly",
        }
    }

    /// A number naming the bucket of a snapshot (its position for `Every`).
    fn of(self, unix_ns: i64, position: usize, tz: &TimeZone) -> i64 {
        let Ok(ts) = jiff::Timestamp::from_nanosecond(i128::from(unix_ns)) else {
            return i64::MIN;
        };
        let z = ts.to_zoned(tz.clone());
        let (y, m, d, h) = (
            i64::from(z.year()),
            i64::from(z.month()),
            i64::from(z.day()),
            i64::from(z.hour()),
        );
        match self {
            Bucket::Every => i64::try_from(position).unwrap_or(i64::MAX),
            Bucket::Hour => ((y * 100 + m) * 100 + d) * 100 + h,
            Bucket::Day => (y * 100 + m) * 100 + d,
            Bucket::Week => {
                let w = z.date().iso_week_date();
                i64::from(w.year()) * 100 + i64::from(w.week())
            }
            Bucket::Month => y * 100 + m,
            Bucket::Year => y,
        }
    }
}

/// The outcome for one snapshot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Index into the group as given.
    pub index: usize,
    pub keep: bool,
    /// Why it is kept (`daily`, `within 30d`, `tags foo`, ...); empty when forgotten.
    pub reasons: Vec<String>,
}

/// Applies `policy` to one group. Returns one decision per snapshot, newest first.
/// `now` only serves to ignore snapshots dated in the future when finding the
/// newest one, as restic does.
pub fn apply(
    group: &[SnapshotEntry],
    policy: &Policy,
    tz: &TimeZone,
    now_ns: i64,
) -> Vec<Decision> {
    let mut order: Vec<usize> = (0..group.len()).collect();
    // Newest first; equal times by id so the result does not depend on listing order.
    order.sort_by(|&a, &b| {
        let (sa, sb) = (&group[a], &group[b]);
        sb.snapshot
            .time_unix_ns
            .cmp(&sa.snapshot.time_unix_ns)
            .then(sa.id.cmp(&sb.id))
    });
    if policy.is_empty() {
        return order
            .into_iter()
            .map(|index| Decision {
                index,
                keep: true,
                reasons: vec!["policy is empty".into()],
            })
            .collect();
    }
    let latest = group
        .iter()
        .map(|s| s.snapshot.time_unix_ns)
        .filter(|&t| t < now_ns)
        .max()
        .unwrap_or(0);

    struct CountRule {
        left: Count,
        bucket: Bucket,
        last: Option<i64>,
    }
    let mut counts: Vec<CountRule> = [
        (policy.last, Bucket::Every),
        (policy.hourly, Bucket::Hour),
        (policy.daily, Bucket::Day),
        (policy.weekly, Bucket::Week),
        (policy.monthly, Bucket::Month),
        (policy.yearly, Bucket::Year),
    ]
    .into_iter()
    .map(|(left, bucket)| CountRule {
        left,
        bucket,
        last: None,
    })
    .collect();

    struct WithinRule {
        span: Span,
        since: i64,
        bucket: Bucket,
        last: Option<i64>,
    }
    let mut withins: Vec<WithinRule> = [
        (policy.within_hourly, Bucket::Hour),
        (policy.within_daily, Bucket::Day),
        (policy.within_weekly, Bucket::Week),
        (policy.within_monthly, Bucket::Month),
        (policy.within_yearly, Bucket::Year),
    ]
    .into_iter()
    .filter_map(|(span, bucket)| {
        let span = span.filter(|s| !s.is_zero())?;
        Some(WithinRule {
            span,
            since: span.before(latest, tz),
            bucket,
            last: None,
        })
    })
    .collect();
    let within = policy
        .within
        .filter(|s| !s.is_zero())
        .map(|s| (s, s.before(latest, tz)));

    let mut out = Vec::with_capacity(group.len());
    for (position, index) in order.into_iter().enumerate() {
        let s = &group[index].snapshot;
        let t = s.time_unix_ns;
        let mut reasons = Vec::new();
        for list in &policy.tags {
            if list.iter().all(|tag| s.tags.contains(tag)) {
                reasons.push(format!("tags {}", list.join(",")));
            }
        }
        if let Some((span, since)) = within
            && t > since
        {
            reasons.push(format!("within {span}"));
        }
        for rule in &mut counts {
            let has_room = match rule.left {
                Count::Off => false,
                Count::Newest(n) => n > 0,
                Count::All => true,
            };
            if !has_room {
                continue;
            }
            let b = rule.bucket.of(t, position, tz);
            if rule.last != Some(b) {
                rule.last = Some(b);
                if let Count::Newest(n) = &mut rule.left {
                    *n -= 1;
                }
                reasons.push(rule.bucket.name().to_string());
            }
        }
        for rule in &mut withins {
            if t > rule.since {
                let b = rule.bucket.of(t, position, tz);
                if rule.last != Some(b) {
                    rule.last = Some(b);
                    reasons.push(format!("{} within {}", rule.bucket.name(), rule.span));
                }
            }
        }
        out.push(Decision {
            index,
            keep: !reasons.is_empty(),
            reasons,
        });
    }
    out
}

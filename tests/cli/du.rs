//! `coffer du`: the cost audit through the binary, on a folder and on S3, and
//! its HTML report opened in a real headless browser (Debian's chromium).

use crate::harness::{Coffer, RepoKind, num, skip};
use std::process::Command;

on_each_store!(du_breaks_down_costs);

/// Deterministic bytes that do not compress (so sizes are predictable).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()[0]
        })
        .collect()
}

/// Three months of two tenants sharing a base; returns the repository.
fn tenants(kind: RepoKind) -> Option<Coffer> {
    let c = Coffer::init_on(kind, &[])?;
    let base = noise(1, 200_000);
    for (day, time) in ["2026-01-05", "2026-02-05", "2026-03-05"]
        .iter()
        .enumerate()
    {
        for (t, tenant) in ["acme", "globex"].iter().enumerate() {
            let mut data = base.clone();
            data.extend(noise(10 + t as u64, 80_000));
            data.extend(noise(100 + day as u64 * 2 + t as u64, 30_000));
            let tag = format!("tenant={tenant}");
            let name = format!("db/{tenant}.sql");
            let at = format!("{time} 0{t}:00");
            c.run_with_stdin(
                [
                    "backup",
                    "--stdin",
                    "--stdin-name",
                    &name,
                    "--tag",
                    &tag,
                    "--time",
                    &at,
                ],
                &data,
            )
            .assert_code(0);
        }
    }
    Some(c)
}

fn du_breaks_down_costs(kind: RepoKind) {
    let Some(c) = tenants(kind) else {
        return;
    };
    let repo = c.json(["du"]);
    let r = &repo["repository"];
    let stored = num(r, "stored_bytes");
    assert_eq!(num(r, "snapshots"), 6);
    assert!(num(r, "logical_bytes") > num(r, "deduplicated_bytes"));
    assert_eq!(num(r, "unused_bytes"), 0);
    assert_eq!(num(r, "pack_bytes"), stored + num(r, "pack_overhead_bytes"));

    let by_snap = c.json(["du", "--by", "snapshot"]);
    let snaps = by_snap["snapshots"].as_array().expect("snapshots");
    assert_eq!(snaps.len(), 6);
    let fair: u64 = snaps.iter().map(|s| num(s, "fair_share_bytes")).sum();
    let added: u64 = snaps.iter().map(|s| num(s, "added_bytes")).sum();
    assert_eq!(fair, stored);
    assert_eq!(added, stored);
    for s in snaps {
        // Each snapshot's daily part is its own, the base is shared.
        assert!(num(s, "exclusive_bytes") >= 30_000, "{s}");
        assert!(num(s, "shared_bytes") >= 200_000, "{s}");
        assert_eq!(
            num(s, "referenced_bytes"),
            num(s, "exclusive_bytes") + num(s, "shared_bytes")
        );
    }
    // The first snapshot paid for the base; later ones only for what is new.
    assert!(num(&snaps[0], "added_bytes") > num(&snaps[2], "added_bytes") + 150_000);

    let by_tenant = c.json(["du", "--by", "tag:tenant", "--timeline", "monthly"]);
    let groups = by_tenant["groups"].as_array().expect("groups");
    let names: Vec<&str> = groups
        .iter()
        .map(|g| g["group"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["acme", "globex"]);
    let gfair: u64 = groups.iter().map(|g| num(g, "fair_share_bytes")).sum();
    assert_eq!(gfair, stored);
    for g in groups {
        // Each tenant's slow part and dailies are its own: 80 kB + 3 x 30 kB.
        assert!(num(g, "exclusive_bytes") >= 170_000, "{g}");
        assert!(num(g, "fair_share_bytes") > num(g, "exclusive_bytes"));
    }
    let months = by_tenant["timeline"].as_array().expect("timeline");
    assert_eq!(months.len(), 3);
    assert_eq!(num(&months[2], "stored_bytes"), stored);

    let paths = c.json(["du", "--by", "path", "--depth", "2", "latest"]);
    let rows = paths["paths"].as_array().expect("paths");
    let row = |p: &str| {
        rows.iter()
            .find(|r| r["path"] == p)
            .unwrap_or_else(|| panic!("{p} in {paths}"))
    };
    assert_eq!(num(row("db/globex.sql"), "logical_bytes"), 310_000);
    assert!(num(row("db"), "stored_bytes") >= num(row("db/globex.sql"), "stored_bytes"));

    let priced = c.json([
        "du",
        "--price-per-gb-month",
        "0.02",
        "--price-per-1k-requests",
        "0.005",
        "--keep-monthly",
        "1",
    ]);
    let forget = &priced["forget"];
    // forget's rules: grouped by host and paths (each tenant's dump is its own
    // path), so each tenant keeps its newest.
    assert_eq!(num(forget, "snapshots_forgotten"), 4, "{forget}");
    let one_group = c.json(["du", "--keep-monthly", "1", "--group-by", ""]);
    let forget_one = &one_group["forget"];
    assert_eq!(num(forget_one, "snapshots_forgotten"), 5);
    // Forgetting all but the latest frees the other tenant's own bytes at least.
    assert!(num(forget_one, "freed_bytes") >= 170_000, "{forget_one}");
    let points = priced["projection"]["points"].as_array().expect("points");
    assert_eq!(points.len(), 11);
    assert!(num(&points[10], "stored_bytes_policy") <= num(&points[10], "stored_bytes_keep_all"));
    assert!(priced["cost"]["monthly_now"].as_f64().expect("cost") > 0.0);
    assert!(
        !priced["projection"]["assumptions"]
            .as_array()
            .expect("assumptions")
            .is_empty()
    );

    tiers_are_what_forget_plans(&c, stored);

    let table = c.ok(["du", "--by", "tag:tenant"]).stdout_str();
    assert!(
        table.contains("acme") && table.contains("Fair share"),
        "{table}"
    );
    c.run(["du", "--by", "colour"])
        .assert_error(1, &["--by", "tag:KEY"]);
    c.run(["du", "--by", "path"])
        .assert_error(1, &["--by path"]);
}

/// `du --keep-*` applies forget's own plan: the same snapshots go and the
/// same bytes are freed; per tier, today's bytes add up.
fn tiers_are_what_forget_plans(c: &Coffer, stored: u64) {
    let policy = ["--keep-last", "2", "--keep-monthly", "2", "--group-by", ""];
    let mut du_args = vec!["du", "--by", "tag:tenant"];
    du_args.extend(policy);
    let du = c.json(&du_args);
    let mut forget_args = vec!["forget", "--dry-run", "--cost"];
    forget_args.extend(policy);
    let plan = c.json(&forget_args);
    assert_eq!(
        num(&du["forget"], "snapshots_forgotten"),
        num(&plan, "forgotten")
    );
    assert_eq!(
        num(&du["forget"], "freed_bytes"),
        num(&plan["cost"], "freed_bytes"),
        "du and forget --cost disagree: {du} {plan}"
    );
    assert_eq!(du["groups"].as_array().expect("groups").len(), 2, "{du}");
    let tiers = du["tiers"].as_array().expect("tiers");
    let tier = |name: &str| {
        tiers
            .iter()
            .find(|t| t["tier"] == name)
            .unwrap_or_else(|| panic!("tier {name} in {tiers:?}"))
    };
    let names: Vec<&str> = tiers
        .iter()
        .map(|t| t["tier"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["monthly", "last", "forgotten"]);
    // last keeps March's two snapshots, monthly March's and February's newest
    // (globex, 01:00): globex of March counts as monthly, the more durable rule.
    assert_eq!(num(tier("last"), "snapshots_kept_by_rule"), 2);
    assert_eq!(num(tier("last"), "snapshots"), 1);
    assert_eq!(num(tier("monthly"), "snapshots_kept_by_rule"), 2);
    assert_eq!(num(tier("monthly"), "snapshots"), 2);
    assert_eq!(num(tier("forgotten"), "snapshots"), 3);
    // acme's March dump alone holds its daily part.
    assert!(num(tier("last"), "exclusive_bytes") >= 30_000, "{tiers:?}");
    assert_eq!(
        num(tier("forgotten"), "exclusive_bytes"),
        num(&du["forget"], "freed_bytes")
    );
    let fair: u64 = tiers.iter().map(|t| num(t, "fair_share_bytes")).sum();
    assert_eq!(fair, stored);
    let table = c.ok(&du_args).stdout_str();
    assert!(
        table.contains("Kept by rule") && table.contains("forgotten"),
        "{table}"
    );
    c.run(["du", "--keep-daily", "-3"])
        .assert_error(1, &["--keep-daily -3"]);
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|b| {
        Command::new(b)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Non-white pixels of a PNG.
fn ink(png_path: &std::path::Path) -> (u64, u64) {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png_path).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("png frame");
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let inked = px
        .chunks(channels)
        .filter(|p| p.iter().take(3).any(|&v| v < 200))
        .count();
    (inked as u64, (px.len() / channels) as u64)
}

#[test]
fn html_report_renders_in_a_browser() {
    let Some(browser) = chromium() else {
        skip("no chromium: install Debian's chromium package (bash .ci/install)");
        return;
    };
    let c = tenants(RepoKind::Folder).expect("folder");
    let page = c.path("report.html");
    c.ok([
        "du",
        "--by",
        "tag:tenant",
        "--keep-last",
        "2",
        "--keep-monthly",
        "2",
        "--group-by",
        "",
        "--html",
        page.to_str().expect("utf-8"),
    ]);
    let html = std::fs::read_to_string(&page).expect("report");
    for external in ["src=", "href=", "<link", "<script", "url("] {
        assert!(
            !html.contains(external),
            "the page loads something ({external}): it must be self-contained"
        );
    }
    let url = format!("file://{}", page.display());
    let profile = c.path("chromium-profile");
    let base = |cmd: &mut Command| {
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()));
    };
    let shot = c.path("report.png");
    let mut cmd = Command::new(browser);
    base(&mut cmd);
    cmd.arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1000,1800")
        .arg(&url);
    let out = cmd.output().expect("run chromium");
    assert!(
        out.status.success() && shot.exists(),
        "chromium screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (inked, total) = ink(&shot);
    assert!(
        inked * 100 > total,
        "screenshot nearly blank: {inked} of {total} pixels inked"
    );

    let mut cmd = Command::new(browser);
    base(&mut cmd);
    let dom = cmd
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&dom.stdout);
    for id in [
        "chart-footprint",
        "chart-groups",
        "chart-tiers",
        "chart-projection",
        "chart-prune",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "rendered page lacks {id}"
        );
    }
    assert!(
        dom.matches("<rect class=\"bar\"").count() >= 3 + 2 + 3 + 22,
        "bars missing"
    );
    assert!(dom.contains("acme") && dom.contains("globex"));
    // The tier chart: one bar per tier, named.
    let tiers = dom
        .split("id=\"chart-tiers\"")
        .nth(1)
        .and_then(|rest| rest.split("</svg>").next())
        .expect("tier chart");
    assert_eq!(tiers.matches("<rect class=\"bar\"").count(), 3, "{tiers}");
    for name in ["monthly", "last", "forgotten"] {
        assert!(tiers.contains(name), "tier chart lacks {name}");
    }
}

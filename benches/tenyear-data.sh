#!/usr/bin/env bash
# The ten-year simulation: a slowly changing ERP-like dataset backed up once a
# day, with back-dated times, into a coffer repository AND a restic (0.14)
# repository, so both hold the same daily snapshots. Later benchmarks
# (benches/du.sh, benches/retention.sh) reuse the result.
#
#   bash benches/tenyear-data.sh [DAYS]     # default 3650 (2016-01-01 .. 2025-12-28)
#
# Cached under $COFFER_TENYEAR_DIR (default target/tenyear): data/ (today's
# tree), coffer/ and restic/ (the repositories), cache/ and rcache/ (their
# caches), days (how many days both repositories hold), build.log (seconds per
# day). Re-running extends the cache to DAYS; a run that is stopped (kill, or
# `touch $COFFER_TENYEAR_DIR/STOP`, which ends it after the current day)
# resumes where it stopped. The series is deterministic: day k is the same on
# every machine with the same Python 3, so a cache of fewer days is a prefix of
# a longer one.
#
# The dataset (~8 MB on day 0, ~70 MB on day 3,650):
# - db/erp.sql: a plain-SQL dump of three tables (customers, invoices, invoice
#   lines; COPY blocks); each day appends the day's invoices and lines and
#   updates ~0.2% of old rows, scattered; an updated row moves to the end of its
#   table, as PostgreSQL's heap (and so pg_dump's order) does;
# - documents/facture/YYYY/MM/*.pdf: ~1,500 invoices of 4-16 KiB at the start,
#   incompressible like real PDFs, 0-4 new ones each weekday; about one in 40
#   days an old one is deleted;
# - documents/contrats/*.pdf: 50 contracts, one rewritten about one day in 20.
# Snapshots: host erp1, tags env=prod and year=YYYY, time YYYY-MM-DD 02:00 UTC.
set -euo pipefail
days=${1:-3650}
root=$(cd "$(dirname "$0")/.." && pwd)
coffer="${COFFER_BIN:-$root/target/release/coffer}"
[ -x "$coffer" ] || cargo build --release --manifest-path "$root/Cargo.toml"
dir="${COFFER_TENYEAR_DIR:-$root/target/tenyear}"
mkdir -p "$dir"
export COFFER_PASSWORD=bench RESTIC_PASSWORD=bench TZ=UTC
export COFFER_CACHE_DIR="$dir/cache" RESTIC_CACHE_DIR="$dir/rcache"
[ -d "$dir/coffer" ] || "$coffer" --repo "$dir/coffer" init -q >/dev/null
[ -d "$dir/restic" ] || restic -q -r "$dir/restic" init >/dev/null
rm -f "$dir/STOP"

python3 - "$dir" "$days" "$coffer" <<'PY'
import datetime, json, os, random, shutil, subprocess, sys, time

dir, target, coffer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = os.path.join(dir, "data")
START = datetime.date(2016, 1, 1)

def count_coffer():
    out = subprocess.run([coffer, "--repo", f"{dir}/coffer", "--json", "snapshots"],
                         check=True, capture_output=True).stdout
    return len(json.loads(out))

def count_restic():
    out = subprocess.run(["restic", "-q", "-r", f"{dir}/restic", "snapshots", "--json"],
                         check=True, capture_output=True).stdout
    return len(json.loads(out) or [])

class Erp:
    """The whole dataset as it is after a given day; `day(k)` moves it on."""

    def __init__(self):
        self.r = random.Random(20160101)
        r = self.r
        self.customers = [self.customer(i) for i in range(2000)]
        self.invoices, self.lines = [], []
        self.next_invoice = 1
        self.next_line = 1
        self.docs = []  # paths of invoices, oldest first
        self.pending = {}  # relative path -> bytes to write (None: delete)
        for _ in range(1500):
            self.new_invoice(START - datetime.timedelta(days=r.randrange(1, 2000)))
        for i in range(50):
            self.pending[f"documents/contrats/contrat-{i:03}.pdf"] = r.randbytes(r.randint(20000, 60000))

    def customer(self, i):
        r = self.r
        return f"{i}\tCUST{i:05}\tSociete {r.getrandbits(40):x} SARL\t{r.randint(1000, 99999)} Ville-{r.randrange(500)}\t{r.choice('ABCDE')}"

    def new_invoice(self, date):
        r = self.r
        n = self.next_invoice
        self.next_invoice += 1
        ref = f"FA{date:%y%m}-{n:05}"
        total = 0
        for _ in range(r.randint(1, 6)):
            qty, price = r.randint(1, 20), r.randint(100, 99999)
            total += qty * price
            self.lines.append(f"{self.next_line}\t{n}\tProduit {r.getrandbits(24):x}\t{qty}\t{price / 100:.2f}")
            self.next_line += 1
        self.invoices.append(f"{n}\t{ref}\t{date}\t{r.randrange(2000)}\t{total / 100:.2f}\t{r.randint(0, 2)}\tnote {r.getrandbits(64):x}")
        path = f"documents/facture/{date:%Y}/{date:%m}/{ref}.pdf"
        self.docs.append(path)
        self.pending[path] = r.randbytes(r.randint(4096, 16384))

    def update_rows(self, table, share):
        """Updated rows leave their place and go to the end, like a heap."""
        r = self.r
        for _ in range(max(1, int(len(table) * share))):
            row = table.pop(r.randrange(len(table)))
            cols = row.split("\t")
            cols[-1] = f"{cols[-1].split(' ')[0]} {r.getrandbits(32):x}"
            table.append("\t".join(cols))

    def day(self, k):
        r = self.r
        date = START + datetime.timedelta(days=k)
        if date.weekday() < 5:
            for _ in range(r.randint(0, 4)):
                self.new_invoice(date)
        for _ in range(r.randint(5, 15)):  # orders, quotes: rows without a document
            self.lines.append(f"{self.next_line}\t0\tDevis {r.getrandbits(24):x}\t1\t{r.randint(100, 9999) / 100:.2f}")
            self.next_line += 1
        self.update_rows(self.invoices, 0.002)
        self.update_rows(self.lines, 0.002)
        self.update_rows(self.customers, 0.001)
        if r.randrange(40) == 0 and len(self.docs) > 100:
            self.pending[self.docs.pop(r.randrange(len(self.docs) - 100))] = None
        if r.randrange(20) == 0:
            self.pending[f"documents/contrats/contrat-{r.randrange(50):03}.pdf"] = r.randbytes(r.randint(20000, 60000))
        return date

    def write(self, date, with_dump):
        stamp = datetime.datetime(date.year, date.month, date.day, 1, 0, tzinfo=datetime.timezone.utc).timestamp()
        for rel, content in self.pending.items():
            p = os.path.join(data, rel)
            if content is None:
                if os.path.exists(p):
                    os.remove(p)
                continue
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(content)
            os.utime(p, (stamp, stamp))
        self.pending.clear()
        if with_dump:
            os.makedirs(f"{data}/db", exist_ok=True)
            parts = ["-- ERP dump\nSET client_encoding = 'UTF8';\n"]
            for name, cols, rows in [
                ("llx_societe", "rowid, code, nom, adresse, categorie", self.customers),
                ("llx_facture", "rowid, ref, datef, fk_soc, total_ttc, statut, note", self.invoices),
                ("llx_facturedet", "rowid, fk_facture, description, qty, price", self.lines),
            ]:
                parts.append(f"\nCOPY public.{name} ({cols}) FROM stdin;\n")
                parts.append("\n".join(rows))
                parts.append("\n\\.\n")
            with open(f"{data}/db/erp.sql", "w") as f:
                f.write("".join(parts))
            os.utime(f"{data}/db/erp.sql", (stamp, stamp))

done_file = os.path.join(dir, "days")
done = int(open(done_file).read()) if os.path.exists(done_file) else 0
if done >= target:
    print(f"{dir}: {done} days already there (asked for {target})", file=sys.stderr)
    sys.exit(0)
# Rebuild the tree as of day `done - 1` (the dump is written once, at the end).
t0 = time.time()
if os.path.exists(data):
    shutil.rmtree(data)
erp = Erp()
for k in range(done):
    d = erp.day(k)
    erp.write(d, with_dump=False)
if done:
    print(f"replayed {done} days in {time.time() - t0:.1f} s", file=sys.stderr)
# A run stopped between the two backups of a day: do only the missing one.
have_coffer, have_restic = count_coffer(), count_restic()
log = open(os.path.join(dir, "build.log"), "a")
t_start = time.time()
for k in range(done, target):
    if os.path.exists(os.path.join(dir, "STOP")):
        print(f"stopped by {dir}/STOP after day {k}", file=sys.stderr)
        break
    t = time.time()
    date = erp.day(k)
    erp.write(date, with_dump=True)
    when = f"{date} 02:00:00"
    tags = ["--tag", "env=prod", "--tag", f"year={date.year}"]
    procs = []
    if have_coffer <= k:
        procs.append(subprocess.Popen([coffer, "--repo", f"{dir}/coffer", "backup", "-q", "--host", "erp1",
                                       "--time", when, *tags, data], stdout=subprocess.DEVNULL))
    if have_restic <= k:
        procs.append(subprocess.Popen(["restic", "-q", "-r", f"{dir}/restic", "backup", "--host", "erp1",
                                       "--time", when, *tags, data], stdout=subprocess.DEVNULL))
    for p in procs:
        if p.wait() != 0:
            sys.exit(f"day {k}: {p.args[0]} backup failed with {p.returncode}")
    # Nights here are a second apart, not a day: the hour of grace after which
    # a backup's index compaction deletes the files it merged never passes, so
    # superseded copies would pile up (1,400 index files, 66 MB by day 1,564)
    # where a real repository holds one pending set. Let the hour pass.
    if (k + 1) % 32 == 0:
        subprocess.run([coffer, "--repo", f"{dir}/coffer", "compact", "-q", "--grace", "0s"],
                       check=True, stdout=subprocess.DEVNULL)
    with open(done_file + ".tmp", "w") as f:
        f.write(str(k + 1))
    os.replace(done_file + ".tmp", done_file)
    log.write(f"{k} {date} {time.time() - t:.2f}\n")
    log.flush()
    if (k + 1) % 50 == 0:
        print(f"day {k + 1}: {(time.time() - t_start) / (k + 1 - done):.2f} s a day", file=sys.stderr)
subprocess.run([coffer, "--repo", f"{dir}/coffer", "compact", "-q", "--grace", "0s"],
               check=True, stdout=subprocess.DEVNULL)
total = int(open(done_file).read()) if os.path.exists(done_file) else 0
print(f"{dir}: {total} days in both repositories; this run {time.time() - t_start:.0f} s", file=sys.stderr)
PY

#!/usr/bin/env bash
# Builds a document tree like an ERP's documents folder (Dolibarr's layout:
# facture/FA2605-0001/FA2605-0001.pdf, fournisseur/facture/1/2/123/..., societe/42/...),
# the second input of coffer's benchmarks besides the database dumps.
#
#   benches/data/gen-documents.sh OUTDIR [--files N] [--mb M]   # mixed tree, default ~300 MB
#   benches/data/gen-documents.sh OUTDIR --many-small [--files N] # 90,000 small files
#   benches/data/gen-documents.sh OUTDIR --nightly [--invoices K] # one night's new files
#
# Mixed tree: mostly already-compressed content (PDFs with random streams,
# JPEG-like photos, ODT/XLSX zips), 20 KB - 2 MB per file, a few CSV/text notes,
# and ~3% exact duplicates (the same attachment filed in two places). --files and
# --mb bound the tree; with both, sizes are scaled to fit M MB in N files.
#
# --many-small: 90,000 files of 0.25-8 KB (about 200 MB) in the same layout,
# facture/ holding 20,000 invoice folders: the case where walking and stat-ing
# the tree, not hashing bytes, is the cost.
#
# --nightly: adds what one night brings to an existing tree (K new invoices,
# default 25, a few supplier invoices, two regenerated invoice PDFs, a grown CSV
# export). State lives beside the tree in OUTDIR.gen.json.
#
# Deterministic: each file's bytes come from a PRNG seeded with its path.
set -euo pipefail

usage() { sed -n '2,9p' "$0" >&2; exit 2; }

outdir=
mode=mixed
files=
mb=
invoices=25
while [ $# -gt 0 ]; do
    case "$1" in
        --files) files=${2:?--files needs a value}; shift 2 ;;
        --mb) mb=${2:?--mb needs a value}; shift 2 ;;
        --invoices) invoices=${2:?--invoices needs a value}; shift 2 ;;
        --many-small) mode=many-small; shift ;;
        --nightly) mode=nightly; shift ;;
        -h|--help) usage ;;
        -*) echo "gen-documents: unknown option $1" >&2; usage ;;
        *) [ -z "$outdir" ] || usage; outdir=$1; shift ;;
    esac
done
[ -n "$outdir" ] || usage
for v in "$files" "$mb" "$invoices"; do
    [ -z "$v" ] || [[ "$v" =~ ^[0-9]+$ ]] || { echo "gen-documents: not a number: $v" >&2; exit 2; }
done

exec python3 - "$outdir" "$mode" "${files:-0}" "${mb:-0}" "$invoices" <<'PYEOF'
import hashlib, io, json, math, os, random, sys, time, zipfile

outdir, mode, n_files, mb, n_invoices = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
KB, MB = 1024, 1024 * 1024
state_path = outdir.rstrip("/") + ".gen.json"

def rng_for(path, salt=""):
    seed = int.from_bytes(hashlib.blake2b((salt + path).encode(), digest_size=8).digest(), "little")
    return random.Random(seed)

WORDS = ("facture client livraison commande devis remise paiement virement échéance contrat "
         "maintenance prestation installation formation support licence abonnement matériel "
         "logiciel serveur stockage sauvegarde réseau audit conseil intégration migration total "
         "net TVA HT TTC quantité référence article produit service garantie fournisseur").split()

def text(r, n):
    return " ".join(r.choice(WORDS) for _ in range(n))

# --- content makers: bytes of about `size`, shaped like the real thing --------
def pdf(r, size, title):
    head = (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
            b"1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n"
            b"2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n"
            b"3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>\nendobj\n"
            + f"5 0 obj\n<< /Title ({title}) /Producer (TCPDF 6.6.5) >>\nendobj\n".encode())
    body_len = max(0, size - len(head) - 200)
    stream = (f"4 0 obj\n<< /Length {body_len} /Filter /FlateDecode >>\nstream\n".encode()
              + r.randbytes(body_len) + b"\nendstream\nendobj\n")
    tail = b"xref\n0 6\n0000000000 65535 f \ntrailer\n<< /Size 6 /Root 1 0 R /Info 5 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(head) + len(stream))
    return head + stream + tail

def jpeg(r, size):
    head = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00H\x00H\x00\x00\xff\xdb\x00C\x00" + bytes(r.randrange(1, 64) for _ in range(64))
    return head + r.randbytes(max(0, size - len(head) - 2)) + b"\xff\xd9"

def office_zip(r, size, kind):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        mimetype = {"odt": "application/vnd.oasis.opendocument.text",
                    "ods": "application/vnd.oasis.opendocument.spreadsheet"}.get(kind)
        if mimetype:
            z.writestr(zipfile.ZipInfo("mimetype", (2026, 1, 1, 0, 0, 0)), mimetype, zipfile.ZIP_STORED)
        xml = "<?xml version='1.0'?><doc>" + text(r, 400) + "</doc>"
        z.writestr(zipfile.ZipInfo("content.xml", (2026, 1, 1, 0, 0, 0)), xml, zipfile.ZIP_DEFLATED)
        # embedded pictures are stored as-is: already compressed
        z.writestr(zipfile.ZipInfo("Pictures/image1.jpg", (2026, 1, 1, 0, 0, 0)),
                   jpeg(r, max(1024, size - 4096)), zipfile.ZIP_STORED)
    return buf.getvalue()

def csv_export(r, size):
    rows = ["ref;date;client;total_ht;total_ttc"]
    n = 0
    while n < size:
        row = f"FA{r.randrange(2101, 2612):04d}-{r.randrange(1, 9999):04d};2025-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d};{text(r, 2)};{r.uniform(10, 9000):.2f};{r.uniform(12, 10800):.2f}"
        rows.append(row)
        n += len(row) + 1
    return ("\n".join(rows) + "\n").encode()[:max(size, 64)]

def note(r, size):
    out = []
    n = 0
    while n < size:
        line = text(r, r.randrange(5, 15))
        out.append(line)
        n += len(line) + 1
    return ("\n".join(out) + "\n").encode()[:size]

def content(path, size):
    r = rng_for(path)
    ext = path.rsplit(".", 1)[-1]
    if ext == "pdf":
        return pdf(r, size, os.path.basename(path))
    if ext in ("jpg", "png"):
        return jpeg(r, size)
    if ext in ("odt", "ods", "xlsx", "docx"):
        return office_zip(r, size, ext)
    if ext == "csv":
        return csv_export(r, size)
    return note(r, size)

def write(path, data):
    full = os.path.join(outdir, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "wb") as f:
        f.write(data)

def yymm(r):
    return f"{r.randrange(21, 26):02d}{r.randrange(1, 13):02d}"

def lognormal_size(r, median, lo, hi):
    return int(min(hi, max(lo, r.lognormvariate(math.log(median), 0.9))))

# --- the mixed tree ------------------------------------------------------------
def plan_mixed(count_limit, byte_limit):
    r = random.Random(20260105)
    plan, total, counters = [], 0, {}
    def next_ref(prefix, ym):
        counters[(prefix, ym)] = counters.get((prefix, ym), 0) + 1
        return f"{prefix}{ym}-{counters[(prefix, ym)]:04d}"
    while (count_limit == 0 or len(plan) < count_limit) and (byte_limit == 0 or total < byte_limit):
        k = r.random()
        ym = yymm(r)
        if plan and r.random() < 0.03:
            src = plan[r.randrange(len(plan))]
            if src[2] is None:
                # the general terms of sale sent again with another quote
                ref = next_ref("PR", ym)
                plan.append((f"propale/{ref}/{os.path.basename(src[0])}", src[1], src[0]))
                total += src[1]
                continue
        if k < 0.45:
            ref = next_ref("FA", ym)
            path, size = f"facture/{ref}/{ref}.pdf", lognormal_size(r, 60 * KB, 20 * KB, 2 * MB)
        elif k < 0.60:
            i = r.randrange(1, 20000)
            ref = next_ref("SI", ym)
            path, size = f"fournisseur/facture/{i % 10}/{i // 10 % 10}/{i}/{ref}.pdf", lognormal_size(r, 400 * KB, 20 * KB, 2 * MB)
        elif k < 0.70:
            i = r.randrange(1, 3000)
            name = r.choice(["contrat.pdf", "kbis.pdf", "rib.pdf", "logo.jpg", f"devis_signe_{r.randrange(1, 99)}.pdf"])
            path, size = f"societe/{i}/{name}", lognormal_size(r, 150 * KB, 20 * KB, 2 * MB)
        elif k < 0.80:
            ref = next_ref("PR", ym)
            path, size = f"propale/{ref}/{ref}.pdf", lognormal_size(r, 80 * KB, 20 * KB, 2 * MB)
        elif k < 0.88:
            ref = next_ref("CO", ym)
            path, size = f"commande/{ref}/{ref}.pdf", lognormal_size(r, 70 * KB, 20 * KB, 2 * MB)
        elif k < 0.95:
            i = r.randrange(1, 5000)
            path, size = f"produit/PRD-{i:06d}/photo_{r.randrange(1, 5)}.jpg", lognormal_size(r, 300 * KB, 20 * KB, 2 * MB)
        else:
            folder = r.choice(["Comptabilite", "RH", "Qualite", "Direction", "Exports"])
            ext = r.choice(["odt", "ods", "xlsx", "docx", "csv", "txt"])
            path, size = f"ecm/{folder}/{text(r, 2).replace(' ', '_')}_{len(plan)}.{ext}", lognormal_size(r, 100 * KB, 20 * KB, 2 * MB)
        plan.append((path, size, None))
        total += size
    return plan

# --- many small files ------------------------------------------------------------
def plan_many_small(count):
    r = random.Random(20260106)
    def size():
        return int(math.exp(r.uniform(math.log(256), math.log(8 * KB))))
    shares = [  # (share of count, maker)
        (0.222, lambda i: f"facture/FA{2101 + (i // 333) // 12 * 100 + (i // 333) % 12:04d}-{i % 333 + 1:04d}/FA{2101 + (i // 333) // 12 * 100 + (i // 333) % 12:04d}-{i % 333 + 1:04d}.pdf"),
        (0.167, lambda i: f"fournisseur/facture/{i % 10}/{i // 10 % 10}/{i}/SI{i:06d}.pdf"),
        (0.167, lambda i: f"societe/{i // 3}/{['contrat.pdf', 'kbis.pdf', 'logo.jpg'][i % 3]}"),
        (0.089, lambda i: f"propale/PR{i:06d}/PR{i:06d}.pdf"),
        (0.089, lambda i: f"commande/CO{i:06d}/CO{i:06d}.pdf"),
        (0.133, lambda i: f"produit/PRD-{i // 2:06d}/photo_{i % 2}.jpg"),
        (0.067, lambda i: f"expedition/sending/SH{i:06d}/SH{i:06d}.pdf"),
        (0.066, lambda i: f"ecm/dossier_{i % 60:02d}/note_{i:06d}.txt"),
    ]
    plan = []
    for share, make in shares:
        for i in range(round(count * share)):
            plan.append((make(i), size(), None))
    return plan[:count]

def materialize(plan, scale=1.0):
    total = 0
    t0 = time.time()
    for n, (path, size, dup_of) in enumerate(plan):
        if dup_of is not None:
            with open(os.path.join(outdir, dup_of), "rb") as f:
                data = f.read()
        else:
            data = content(path, max(64, int(size * scale)))
        write(path, data)
        total += len(data)
        if n and n % 10000 == 0:
            print(f"gen-documents: {n} files, {total / MB:.0f} MB", file=sys.stderr)
    return total, time.time() - t0

if mode in ("mixed", "many-small"):
    if os.path.exists(outdir) and os.listdir(outdir):
        sys.exit(f"gen-documents: {outdir} is not empty (remove it first, or use --nightly)")
    if mode == "mixed":
        if n_files == 0 and mb == 0:
            mb = 300
        if n_files and mb:
            plan = plan_mixed(n_files, 0)
            natural = sum(s for _, s, _ in plan)
            scale = mb * MB / natural
        else:
            plan, scale = plan_mixed(n_files, mb * MB), 1.0
    else:
        plan = plan_many_small(n_files or 90000)
        scale = (mb * MB / sum(s for _, s, _ in plan)) if mb else 1.0
    total, secs = materialize(plan, scale)
    with open(state_path, "w") as f:
        json.dump({"mode": mode, "nights": 0}, f)
    dirs = {os.path.dirname(p) for p, _, _ in plan}
    biggest = max((sum(1 for e in os.scandir(os.path.join(outdir, d))) , d) for d in {p.split("/")[0] for p, _, _ in plan})
    print(f"gen-documents: {len(plan)} files, {len(dirs)} folders, {total / MB:.1f} MB in {secs:.1f} s; "
          f"largest folder {biggest[1]}/ with {biggest[0]} entries -> {outdir}", file=sys.stderr)
else:
    if not os.path.isdir(os.path.join(outdir, "facture")):
        sys.exit(f"gen-documents: {outdir}/facture missing: build a tree first")
    try:
        with open(state_path) as f:
            st = json.load(f)
    except FileNotFoundError:
        st = {"mode": "mixed", "nights": 0}
    night = st["nights"] + 1
    r = random.Random(1000 + night)
    small = st["mode"] == "many-small"
    def size(median):
        return int(math.exp(r.uniform(math.log(256), math.log(8 * KB)))) if small else lognormal_size(r, median, 20 * KB, 2 * MB)
    ym = "2606"  # after every invoice a fresh tree holds
    added = changed = nbytes = 0
    for i in range(n_invoices):
        ref = f"FA{ym}-{(night - 1) * n_invoices + i + 1:04d}"
        data = content(f"facture/{ref}/{ref}.pdf", size(60 * KB))
        write(f"facture/{ref}/{ref}.pdf", data); added += 1; nbytes += len(data)
    for i in range(max(1, n_invoices // 5)):
        j = 50000 + night * 100 + i
        p = f"fournisseur/facture/{j % 10}/{j // 10 % 10}/{j}/SI{ym}-{j:06d}.pdf"
        data = content(p, size(400 * KB)); write(p, data); added += 1; nbytes += len(data)
    # two existing invoices get paid: Dolibarr regenerates their PDF
    existing = sorted(e.name for e in os.scandir(os.path.join(outdir, "facture")) if e.is_dir())
    for name in r.sample(existing, min(2, len(existing))):
        p = f"facture/{name}/{name}.pdf"
        full = os.path.join(outdir, p)
        old = os.path.getsize(full) if os.path.exists(full) else 60 * KB
        data = pdf(rng_for(p, f"night{night}"), old, name)
        write(p, data); changed += 1; nbytes += len(data)
    # the accounting export grows by a day
    p = "ecm/Exports/export_comptable.csv"
    full = os.path.join(outdir, p)
    prev = open(full, "rb").read() if os.path.exists(full) else b""
    data = prev + csv_export(rng_for(p, f"night{night}"), 20 * KB if not small else 2 * KB)
    write(p, data); changed += 1; nbytes += len(data) - len(prev)
    st["nights"] = night
    with open(state_path, "w") as f:
        json.dump(st, f)
    print(f"gen-documents: night {night}: {added} files added, {changed} changed, {nbytes / MB:.1f} MB written", file=sys.stderr)
PYEOF

-- One business day of a Dolibarr-like ERP, for benches/data/gen-erp-series.sh.
-- psql variables: :day (1, 2, ...). Runs after erp-init.sql and the days before.
--
-- What a real night's dump sees change, and what matters for deduplication:
--   - appended rows: new invoices, their lines, payments, events (clustered at
--     the end of each table's data);
--   - scattered UPDATEs (~0.5% of old rows): PostgreSQL writes the new tuple
--     where there is room, which is the end of the heap until a VACUUM frees
--     space, so pg_dump emits the row at a new place and leaves a hole at the
--     old one;
--   - a few DELETEs (abandoned draft invoices);
--   - tiny updates in a small table (llx_const) near the start of the dump.
\set ON_ERROR_STOP 1
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;
BEGIN;
SELECT setseed(1.0 / (:day + 1));

SELECT scale, n_soc, n_prod,
       greatest(2, round(1.2 * scale * (0.6 + 0.8 * random())))::int AS n_new,
       greatest(1, round(0.3 * scale * random()))::int AS n_soc_new,
       gen.day_ts(:day) AS ts,
       to_char(gen.day_ts(:day), 'YYMM') AS yymm,
       (SELECT max(rowid) FROM llx_facture) AS fac_max_before,
       (SELECT max(rowid) FROM llx_societe) AS soc_max
FROM gen.params \gset
SELECT coalesce(max(substr(ref, 8)::int), 0) AS fac_num_base
FROM llx_facture WHERE ref LIKE 'FA' || :'yymm' || '-%' \gset

-- ---------------------------------------------------------- new customers
INSERT INTO llx_societe (rowid, nom, status, tms, datec, code_client, address, zip, town,
    fk_departement, fk_pays, phone, email, client, fournisseur, siren, siret, ape, tva_intra,
    capital, fk_typent, fk_effectif, fk_forme_juridique, note_private, default_lang,
    fk_user_creat, fk_user_modif)
SELECT s.id, s.nom, 1, s.dc, s.dc, 'CU' || to_char(s.dc, 'YYMM') || '-' || lpad(s.id::text, 5, '0'),
       gen.rint(1, 180) || ' rue ' || gen.cap(gen.txt(gen.rint(1, 3))),
       lpad(gen.rint(1000, 95999)::text, 5, '0'), gen.cap(gen.pick(gen.vocab())),
       gen.rint(1, 101), 1, '+33 ' || gen.digits(9),
       'contact@' || lower(replace(s.nom, ' ', '')) || '.fr', 1, 0,
       gen.digits(9), gen.digits(14), gen.digits(4) || 'Z', 'FR' || gen.digits(11),
       round((random() * 100000)::numeric, 0), gen.rint(1, 8), gen.rint(1, 7), gen.rint(50, 70),
       CASE WHEN random() < 0.5 THEN gen.txt(gen.rint(5, 60)) END, 'fr_FR',
       gen.rint(1, 12), gen.rint(1, 12)
FROM generate_series(1, :n_soc_new) g,
     LATERAL (SELECT nextval('llx_societe_rowid_seq')::int AS id,
                     gen.cap(gen.pick(gen.vocab())) || ' ' || gen.cap(gen.pick(gen.vocab()))
                         || ' ' || gen.pick('{SARL,SAS,SA,EURL,SASU}') AS nom,
                     :'ts'::timestamp + gen.rint(8 * 3600, 18 * 3600) * interval '1 second' AS dc
              WHERE g > 0) s  -- the outer reference makes it run once per row
ORDER BY s.id;

-- ------------------------------------- yesterday's drafts: validate or drop
CREATE TEMP TABLE drafts ON COMMIT DROP AS
SELECT rowid, random() < 0.7 AS keep FROM llx_facture WHERE fk_statut = 0 ORDER BY rowid;
DELETE FROM llx_facturedet WHERE fk_facture IN (SELECT rowid FROM drafts WHERE NOT keep);
DELETE FROM llx_facture WHERE rowid IN (SELECT rowid FROM drafts WHERE NOT keep);
-- Validation gives the next number of the month (Dolibarr's FA{yy}{mm}-{0000}).
UPDATE llx_facture f
SET ref = 'FA' || :'yymm' || '-' || lpad((:fac_num_base + k.n)::text, 4, '0'),
    fk_statut = 1, datef = :'ts'::date, date_valid = :'ts'::date,
    date_lim_reglement = :'ts'::date + 30, tms = :'ts'::timestamp + interval '9 hours',
    fk_user_valid = gen.rint(1, 12),
    last_main_doc = 'facture/FA' || :'yymm' || '-' || lpad((:fac_num_base + k.n)::text, 4, '0')
        || '/FA' || :'yymm' || '-' || lpad((:fac_num_base + k.n)::text, 4, '0') || '.pdf'
FROM (SELECT rowid, row_number() OVER (ORDER BY rowid) AS n FROM drafts WHERE keep) k
WHERE f.rowid = k.rowid;
SELECT :fac_num_base + count(*) AS fac_num_base FROM drafts WHERE keep \gset

-- ------------------------------------------------------------ new invoices
CREATE TEMP TABLE new_fac ON COMMIT DROP AS
SELECT id, fk_soc, draft, dc,
       CASE WHEN draft THEN '(PROV' || id || ')'
            ELSE 'FA' || :'yymm' || '-' || lpad((:fac_num_base
                     + count(*) FILTER (WHERE NOT draft) OVER (ORDER BY id))::text, 4, '0')
       END AS ref
FROM (SELECT nextval('llx_facture_rowid_seq')::int AS id,
             CASE WHEN random() < 0.1 THEN :soc_max - gen.rint(0, 20)
                  ELSE 1 + floor(:soc_max * random() * random())::int END AS fk_soc,
             random() < 0.1 AS draft,
             :'ts'::timestamp + gen.rint(8 * 3600, 18 * 3600) * interval '1 second' AS dc
      FROM generate_series(1, :n_new) g) n;

CREATE TEMP TABLE new_lines ON COMMIT DROP AS
SELECT f.id, l.rang, 1 + floor(:n_prod * random() * random())::int AS fk_product,
       (1 + floor(random() * random() * 20))::real AS qty,
       CASE WHEN random() < 0.15 THEN gen.rint(1, 4) * 5 ELSE 0 END::real AS remise,
       random() < 0.7 AS copy_desc
FROM new_fac f,
     LATERAL generate_series(1, 1 + floor(random() * random() * 12)::int + 0 * f.id) l(rang);

INSERT INTO llx_facture (rowid, ref, ref_client, type, fk_soc, datec, datef, date_valid, tms,
    paye, total_ht, total_tva, total_ttc, fk_statut, fk_user_author, fk_user_valid,
    fk_cond_reglement, fk_mode_reglement, date_lim_reglement, note_private, note_public,
    model_pdf, last_main_doc, multicurrency_code, multicurrency_tx)
SELECT f.id, f.ref, CASE WHEN random() < 0.4 THEN 'CMD-' || gen.digits(6) END, 0, f.fk_soc,
       f.dc, f.dc::date, CASE WHEN NOT f.draft THEN f.dc::date END, f.dc, 0,
       t.ht, round(t.ht * 0.2, 8), round(t.ht * 1.2, 8), (NOT f.draft)::int,
       gen.rint(1, 12), CASE WHEN NOT f.draft THEN gen.rint(1, 12) END, gen.rint(1, 6),
       gen.rint(1, 7), f.dc::date + 30,
       CASE WHEN random() < 0.1 THEN gen.txt(gen.rint(3, 25)) END,
       CASE WHEN random() < 0.05 THEN gen.txt(gen.rint(3, 25)) END, 'sponge',
       CASE WHEN NOT f.draft THEN 'facture/' || f.ref || '/' || f.ref || '.pdf' END, 'EUR', 1
FROM new_fac f
JOIN (SELECT l.id, round(sum(l.qty * p.price * (1 - l.remise / 100))::numeric, 8) AS ht
      FROM new_lines l JOIN llx_product p ON p.rowid = l.fk_product GROUP BY l.id) t USING (id)
ORDER BY f.id;

INSERT INTO llx_facturedet (fk_facture, fk_product, label, description, tva_tx, qty,
    remise_percent, subprice, total_ht, total_tva, total_ttc, product_type, buy_price_ht,
    special_code, rang, fk_unit)
SELECT l.id, l.fk_product, p.label,
       CASE WHEN l.copy_desc THEN p.description ELSE gen.txt(gen.rint(2, 30)) END,
       p.tva_tx, l.qty, l.remise, p.price,
       round((l.qty * p.price * (1 - l.remise / 100))::numeric, 8),
       round((l.qty * p.price * (1 - l.remise / 100) * 0.2)::numeric, 8),
       round((l.qty * p.price * (1 - l.remise / 100) * 1.2)::numeric, 8),
       p.fk_product_type, p.pmp, 0, l.rang, 1
FROM new_lines l JOIN llx_product p ON p.rowid = l.fk_product
ORDER BY l.id, l.rang;

-- Stock moves: scattered over the products sold (popular ones are old rows).
UPDATE llx_product p SET stock = p.stock - s.q, tms = :'ts'::timestamp + interval '18 hours'
FROM (SELECT fk_product, sum(qty) AS q FROM new_lines GROUP BY fk_product) s
WHERE p.rowid = s.fk_product;

-- ---------------------------------------------------------------- payments
CREATE TEMP TABLE new_pay ON COMMIT DROP AS
SELECT nextval('llx_paiement_rowid_seq')::int AS pid, f.rowid AS fac, f.total_ttc, f.fk_soc,
       :'ts'::timestamp + gen.rint(8 * 3600, 18 * 3600) * interval '1 second' AS datep
FROM (SELECT rowid, total_ttc, fk_soc FROM llx_facture
      WHERE fk_statut = 1 AND paye = 0 AND type = 0
      ORDER BY datef, rowid
      LIMIT round(:n_new * (0.8 + 0.4 * random()))) f
ORDER BY f.rowid;
INSERT INTO llx_paiement (rowid, ref, datec, tms, datep, amount, fk_paiement, num_paiement,
    note, fk_bank, fk_user_creat, statut)
SELECT pid, 'PAY' || to_char(datep, 'YYMM') || '-' || lpad(pid::text, 6, '0'), datep, datep,
       datep, total_ttc, gen.rint(1, 7), CASE WHEN random() < 0.5 THEN gen.digits(7) END,
       CASE WHEN random() < 0.2 THEN gen.txt(gen.rint(2, 12)) END, pid, gen.rint(1, 12), 1
FROM new_pay ORDER BY pid;
INSERT INTO llx_paiement_facture (fk_paiement, fk_facture, amount)
SELECT pid, fac, total_ttc FROM new_pay ORDER BY pid;
UPDATE llx_facture f SET paye = 1, fk_statut = 2, tms = p.datep
FROM new_pay p WHERE f.rowid = p.fac;

-- ------------------------------------------- scattered edits of old rows
UPDATE llx_societe SET phone = '+33 ' || gen.digits(9), fk_user_modif = gen.rint(1, 12),
    note_private = coalesce(note_private || ' ', '') || gen.txt(gen.rint(2, 10)),
    tms = :'ts'::timestamp + interval '10 hours'
WHERE random() < 0.005 AND rowid <= :soc_max;
UPDATE llx_product SET price = round(price * 1.03, 2), price_ttc = round(price * 1.03 * 1.2, 2),
    tms = :'ts'::timestamp + interval '11 hours'
WHERE random() < 0.005;
UPDATE llx_facture SET note_private = coalesce(note_private || ' ', '') || gen.txt(gen.rint(2, 12)),
    tms = :'ts'::timestamp + interval '12 hours'
WHERE random() < 0.005 AND rowid <= :fac_max_before;
UPDATE llx_facturedet SET description = gen.txt(gen.rint(2, 30))
WHERE random() < 0.001 AND fk_facture <= :fac_max_before;

-- Settings touched every day (cron timestamps, counters), one added now and then.
UPDATE llx_const SET value = to_char(:'ts'::timestamp + interval '23 hours', 'YYYYMMDDHH24MISS'),
    tms = :'ts'::timestamp + interval '23 hours'
WHERE rowid IN (7, 42, 201);
INSERT INTO llx_const (name, value, type, tms)
SELECT 'MAIN_DAY_' || :day || '_' || upper(gen.pick(gen.vocab())), gen.txt(2), 'chaine', :'ts'
WHERE :day % 5 = 0;

-- ------------------------------------------- the event log (append-only)
SELECT last_value AS ac_base FROM llx_actioncomm_id_seq \gset
INSERT INTO llx_actioncomm (id, ref, datep, datep2, fk_action, code, label, note, fk_soc,
    fk_element, elementtype, fk_user_author, fk_user_action, datec, tms, percent, email_msgid,
    email_from, email_to)
SELECT :ac_base + n, (:ac_base + n)::text, datep, datep, fk_action, code, label, note, fk_soc, fk_element, elementtype,
       gen.rint(1, 12), gen.rint(1, 12), datep, datep, -1, msgid,
       CASE WHEN msgid IS NOT NULL THEN 'facturation@example.fr' END,
       CASE WHEN msgid IS NOT NULL THEN 'contact@client.fr' END
FROM (SELECT row_number() OVER (ORDER BY datep, code, fk_element) AS n, * FROM (
      SELECT f.tms AS datep, 40 AS fk_action, 'AC_BILL_VALIDATE' AS code,
             'Facture ' || f.ref || ' validée' AS label,
             'Auteur: ' || gen.pick(gen.vocab()) || E'\nFacture ' || f.ref || ' validée' AS note,
             f.fk_soc, f.rowid AS fk_element, 'invoice' AS elementtype, NULL::text AS msgid
      FROM llx_facture f WHERE f.fk_statut = 1 AND f.date_valid = :'ts'::date
      UNION ALL
      SELECT f.tms + interval '2 hours', 40, 'AC_BILL_SENTBYMAIL',
             'Facture ' || f.ref || ' envoyée par courriel',
             'Expéditeur: facturation@example.fr' || E'\nDestinataire: contact@client.fr\nSujet: Facture '
                 || f.ref || E'\nCorps:\n' || gen.txt(gen.rint(30, 120)) || E'\nPièce jointe: ' || f.ref || '.pdf',
             f.fk_soc, f.rowid, 'invoice', '<' || gen.digits(16) || '.' || f.rowid || '@example.fr>'
      FROM llx_facture f WHERE f.fk_statut = 1 AND f.date_valid = :'ts'::date AND random() < 0.6
      UNION ALL
      SELECT p.datep, 40, 'AC_PAYMENT_CUSTOMER_CREATE',
             'Paiement PAY' || to_char(p.datep, 'YYMM') || '-' || lpad(p.pid::text, 6, '0') || ' créé',
             'Paiement enregistré', p.fk_soc, p.pid, 'payment', NULL
      FROM new_pay p
      UNION ALL
      SELECT :'ts'::timestamp + gen.rint(8 * 3600, 18 * 3600) * interval '1 second',
             gen.rint(1, 5), gen.pick('{AC_TEL,AC_RDV,AC_EMAIL,AC_OTH,AC_INT}'),
             gen.cap(gen.txt(gen.rint(2, 6))), gen.txt(gen.rint(5, 80)),
             gen.rint(1, :soc_max), NULL, NULL, NULL
      FROM generate_series(1, greatest(1, :n_new / 2)) g) e0) e
ORDER BY n;
SELECT setval('llx_actioncomm_id_seq', (SELECT max(id) FROM llx_actioncomm));

COMMIT;

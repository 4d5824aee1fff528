-- Initial five years of a Dolibarr-like ERP, for benches/data/gen-erp-series.sh.
-- psql variables: :scale (numeric; 1 ~ 1,500 invoices). Deterministic: every
-- random() draw follows a setseed() in this one session.
\set ON_ERROR_STOP 1
SET max_parallel_workers_per_gather = 0;
SET client_min_messages = warning;

-- Helpers live in schema gen, which pg_dump leaves out (-N gen).
CREATE SCHEMA gen;
CREATE FUNCTION gen.vocab() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
SELECT '{facture,client,livraison,commande,devis,remise,paiement,virement,chèque,échéance,
 acompte,relance,contrat,maintenance,prestation,installation,formation,support,licence,
 abonnement,matériel,logiciel,serveur,poste,imprimante,câble,écran,clavier,souris,onduleur,
 stockage,sauvegarde,réseau,routeur,commutateur,pare-feu,messagerie,hébergement,domaine,
 certificat,audit,conseil,développement,intégration,migration,mise,à,jour,de,la,le,les,des,
 du,pour,avec,sans,sur,sous,par,en,au,aux,et,ou,mais,donc,selon,suite,votre,notre,nos,vos,
 demande,conformément,ci-joint,veuillez,trouver,merci,cordialement,bonjour,madame,monsieur,
 rappel,retard,urgent,important,annuel,mensuel,trimestriel,semaine,jour,heure,tarif,prix,
 quantité,unité,référence,article,produit,service,garantie,retour,avoir,note,crédit,débit,
 compte,banque,IBAN,BIC,TVA,HT,TTC,total,net,brut,frais,port,transport,emballage,palette,
 carton,colis,entrepôt,stock,inventaire,fournisseur,prospect,contact,adresse,téléphone,
 courriel,site,agence,siège,succursale,direction,comptabilité,achats,ventes,atelier,
 chantier,projet,tâche,intervention,ticket,incident,demande,validation,signature,bon,
 réception,expédition,transporteur,suivi,numéro,lot,série,modèle,version,option,
 accessoire,pièce,détachée,consommable,encre,toner,papier,bureau,mobilier,chaise,table,
 armoire,éclairage,chauffage,climatisation,entretien,nettoyage,sécurité,alarme,badge,
 accès,clé,porte,fenêtre,vitrage,peinture,plomberie,électricité,câblage,fibre,ADSL,
 téléphonie,standard,mobile,forfait,option,data,cloud,SaaS,ERP,CRM,GED,PDF,export,import,
 Lyon,Paris,Nantes,Lille,Bordeaux,Toulouse,Marseille,Rennes,Grenoble,Strasbourg,Dijon,
 Martin,Bernard,Dubois,Thomas,Robert,Richard,Petit,Durand,Leroy,Moreau,Simon,Laurent,
 Lefebvre,Michel,Garcia,David,Bertrand,Roux,Vincent,Fournier,Morel,Girard,André,Mercier}'::text[]
$$;
CREATE FUNCTION gen.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT a[1 + floor(random() * cardinality(a))::int] $$;
CREATE FUNCTION gen.txt(n integer) RETURNS text LANGUAGE sql VOLATILE AS $$
SELECT string_agg(v[1 + floor(random() * cardinality(v))::int], ' ')
FROM gen.vocab() AS v, generate_series(1, greatest(n, 1))
$$;
-- gen.cap() would also capitalize after accented letters in the C locale.
CREATE FUNCTION gen.cap(t text) RETURNS text LANGUAGE sql IMMUTABLE AS
$$ SELECT upper(left(t, 1)) || substr(t, 2) $$;
CREATE FUNCTION gen.rint(lo integer, hi integer) RETURNS integer LANGUAGE sql VOLATILE AS
$$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;
CREATE FUNCTION gen.digits(n integer) RETURNS text LANGUAGE sql VOLATILE AS
$$ SELECT string_agg(floor(random() * 10)::int::text, '') FROM generate_series(1, n) $$;
-- Day 1 of the series is the Monday after the five years of history.
CREATE FUNCTION gen.day_ts(d integer) RETURNS timestamp LANGUAGE sql IMMUTABLE AS
$$ SELECT timestamp '2026-01-05' + (d - 1) * interval '1 day' $$;
CREATE TABLE gen.params AS
SELECT round(200 * :scale)::int AS n_soc,
       round(120 * :scale)::int AS n_prod,
       round(1500 * :scale)::int AS n_fac,
       :scale::numeric AS scale;

SELECT n_soc, n_prod, n_fac FROM gen.params \gset

\ir erp-schema.sql

-- ---------------------------------------------------------------- llx_const
SELECT setseed(0.11);
INSERT INTO llx_const (rowid, name, entity, value, type, visible, note, tms)
SELECT g,
       'MAIN_' || upper(replace(gen.pick(gen.vocab()), '-', '_')) || '_' || g,
       1 + (g % 7 = 0)::int,
       CASE WHEN g % 3 = 0 THEN gen.rint(0, 1)::text
            WHEN g % 3 = 1 THEN gen.txt(gen.rint(1, 6))
            ELSE gen.digits(gen.rint(4, 12)) END,
       CASE WHEN g % 3 = 0 THEN 'yesno' ELSE 'chaine' END,
       (g % 5 <> 0)::int,
       CASE WHEN g % 4 = 0 THEN gen.txt(gen.rint(3, 15)) END,
       timestamp '2021-01-04' + g * interval '5 hours'
FROM generate_series(1, 300) g;
SELECT setval('llx_const_rowid_seq', 300);

-- -------------------------------------------------------------- llx_societe
SELECT setseed(0.22);
INSERT INTO llx_societe (rowid, nom, name_alias, status, tms, datec, code_client,
    code_fournisseur, address, zip, town, fk_departement, fk_pays, phone, fax, url, email,
    client, fournisseur, siren, siret, ape, tva_intra, capital, fk_typent, fk_effectif,
    fk_forme_juridique, note_private, note_public, default_lang, fk_user_creat, fk_user_modif)
SELECT g, s.nom, CASE WHEN random() < 0.3 THEN gen.cap(gen.pick(gen.vocab())) END,
       (random() < 0.95)::int, s.dc + interval '3 days', s.dc,
       CASE WHEN s.cli THEN 'CU' || to_char(s.dc, 'YYMM') || '-' || lpad(g::text, 5, '0') END,
       CASE WHEN NOT s.cli THEN 'SU' || to_char(s.dc, 'YYMM') || '-' || lpad(g::text, 5, '0') END,
       gen.rint(1, 180) || ' ' || gen.pick('{rue,avenue,boulevard,chemin,place,allée,impasse}')
           || ' ' || gen.cap(gen.txt(gen.rint(1, 3))),
       lpad(gen.rint(1000, 95999)::text, 5, '0'), gen.cap(gen.pick(gen.vocab())),
       gen.rint(1, 101), CASE WHEN random() < 0.9 THEN 1 ELSE gen.rint(2, 30) END,
       '+33 ' || gen.rint(1, 9) || ' ' || gen.digits(2) || ' ' || gen.digits(2) || ' ' || gen.digits(2) || ' ' || gen.digits(2),
       CASE WHEN random() < 0.2 THEN '+33 ' || gen.digits(9) END,
       CASE WHEN random() < 0.6 THEN 'https://www.' || lower(replace(s.nom, ' ', '-')) || '.fr' END,
       'contact@' || lower(replace(s.nom, ' ', '')) || '.fr',
       s.cli::int, (NOT s.cli OR random() < 0.1)::int,
       gen.digits(9), gen.digits(14), gen.digits(4) || gen.pick('{A,B,C,Z}'),
       'FR' || gen.digits(11), round((random() * 500000)::numeric, 0), gen.rint(1, 8), gen.rint(1, 7),
       gen.rint(50, 70),
       CASE WHEN random() < 0.5 THEN gen.txt(gen.rint(5, 60)) END,
       CASE WHEN random() < 0.2 THEN gen.txt(gen.rint(5, 30)) END,
       'fr_FR', gen.rint(1, 12), gen.rint(1, 12)
FROM generate_series(1, :n_soc) g,
     LATERAL (SELECT gen.cap(gen.pick(gen.vocab())) || ' ' || gen.cap(gen.pick(gen.vocab()))
                     || ' ' || gen.pick('{SARL,SAS,SA,EURL,SCI,SASU}') AS nom,
                     timestamp '2021-01-01' + (g::float8 / :n_soc) * interval '1826 days'
                         + gen.rint(8 * 3600, 18 * 3600) * interval '1 second' AS dc,
                     random() < 0.85 AS cli
              WHERE g > 0) s;  -- the outer reference makes it run once per row
SELECT setval('llx_societe_rowid_seq', :n_soc);

-- -------------------------------------------------------------- llx_product
SELECT setseed(0.33);
INSERT INTO llx_product (rowid, ref, datec, tms, label, description, note, price, price_ttc,
    price_min, tva_tx, fk_user_author, tosell, tobuy, fk_product_type, stock, pmp, barcode,
    weight, weight_units)
SELECT g, 'PRD-' || lpad(g::text, 6, '0'), p.dc, p.dc + interval '1 day', p.label,
       gen.txt(gen.rint(8, 120)), CASE WHEN random() < 0.3 THEN gen.txt(gen.rint(3, 20)) END,
       p.price, round(p.price * 1.2, 8), round(p.price * 0.8, 8), 20, gen.rint(1, 12),
       1, (random() < 0.7)::int, (random() < 0.25)::int, gen.rint(0, 500),
       round(p.price * 0.6, 8), '3' || gen.digits(12), round((random() * 20)::numeric, 3), 0
FROM generate_series(1, :n_prod) g,
     LATERAL (SELECT gen.cap(gen.txt(gen.rint(2, 5))) AS label,
                     round((5 + random() * random() * 2000)::numeric, 2) AS price,
                     timestamp '2021-01-01' + (g::float8 / :n_prod) * interval '1826 days' AS dc
              WHERE g > 0) p;
SELECT setval('llx_product_rowid_seq', :n_prod);

-- ----------------------------------------------- llx_facture + llx_facturedet
-- Lines first (staged), so each invoice is written once with its totals.
SELECT setseed(0.44);
CREATE TEMP TABLE stage_fac AS
SELECT g, date '2021-01-01' + floor((g - 1) * 1826.0 / :n_fac)::int AS datef,
       1 + floor(:n_soc * random() * random())::int AS fk_soc
FROM generate_series(1, :n_fac) g;
CREATE TEMP TABLE stage_lines AS
SELECT f.g, l.rang, 1 + floor(:n_prod * random() * random())::int AS fk_product,
       (1 + floor(random() * random() * 20))::real AS qty,
       CASE WHEN random() < 0.15 THEN gen.rint(1, 4) * 5 ELSE 0 END::real AS remise
FROM stage_fac f,
     LATERAL generate_series(1, 1 + floor(random() * random() * 12)::int + 0 * f.g) l(rang);

CREATE TEMP TABLE stage_tot AS
SELECT l.g, round(sum(l.qty * p.price * (1 - l.remise / 100))::numeric, 8) AS ht
FROM stage_lines l JOIN llx_product p ON p.rowid = l.fk_product GROUP BY l.g;

INSERT INTO llx_facture (rowid, ref, ref_client, type, fk_soc, datec, datef, date_valid, tms,
    paye, total_ht, total_tva, total_ttc, fk_statut, fk_user_author, fk_user_valid,
    fk_cond_reglement, fk_mode_reglement, date_lim_reglement, note_private, note_public,
    model_pdf, last_main_doc, multicurrency_code, multicurrency_tx)
SELECT f.g, f.ref,
       CASE WHEN random() < 0.4 THEN 'CMD-' || gen.digits(6) END,
       (random() < 0.03)::int * 2, f.fk_soc,
       f.datef + gen.rint(8 * 3600, 18 * 3600) * interval '1 second', f.datef, f.datef,
       f.datef + interval '40 days',
       f.paid::int, t.ht, round(t.ht * 0.2, 8), round(t.ht * 1.2, 8), 1 + f.paid::int,
       gen.rint(1, 12), gen.rint(1, 12), gen.rint(1, 6), gen.rint(1, 7), f.datef + 30,
       CASE WHEN random() < 0.1 THEN gen.txt(gen.rint(3, 25)) END,
       CASE WHEN random() < 0.05 THEN gen.txt(gen.rint(3, 25)) END,
       'sponge', 'facture/' || f.ref || '/' || f.ref || '.pdf', 'EUR', 1
FROM (SELECT *, datef < date '2025-11-01' AND random() < 0.98 AS paid,
             'FA' || to_char(datef, 'YYMM') || '-' || lpad(row_number()
                 OVER (PARTITION BY date_trunc('month', datef) ORDER BY g)::text, 4, '0') AS ref
      FROM stage_fac) f
JOIN stage_tot t USING (g)
ORDER BY f.g;
SELECT setval('llx_facture_rowid_seq', :n_fac);

INSERT INTO llx_facturedet (fk_facture, fk_product, label, description, tva_tx, qty,
    remise_percent, subprice, total_ht, total_tva, total_ttc, product_type, buy_price_ht,
    special_code, rang, fk_unit)
SELECT l.g, l.fk_product, p.label,
       CASE WHEN random() < 0.7 THEN p.description ELSE gen.txt(gen.rint(2, 30)) END,
       p.tva_tx, l.qty, l.remise, p.price,
       round((l.qty * p.price * (1 - l.remise / 100))::numeric, 8),
       round((l.qty * p.price * (1 - l.remise / 100) * 0.2)::numeric, 8),
       round((l.qty * p.price * (1 - l.remise / 100) * 1.2)::numeric, 8),
       p.fk_product_type, p.pmp, 0, l.rang, 1
FROM stage_lines l JOIN llx_product p ON p.rowid = l.fk_product
ORDER BY l.g, l.rang;

-- ------------------------------------------------ llx_paiement (+ _facture)
SELECT setseed(0.55);
CREATE TEMP TABLE stage_pay AS
SELECT row_number() OVER (ORDER BY d.datep, d.rowid) AS pid, d.*
FROM (SELECT f.rowid, f.total_ttc,
             f.datef + gen.rint(3, 55) * interval '1 day' + gen.rint(8 * 3600, 18 * 3600) * interval '1 second' AS datep
      FROM llx_facture f WHERE f.paye = 1) d;
INSERT INTO llx_paiement (rowid, ref, datec, tms, datep, amount, fk_paiement, num_paiement,
    note, fk_bank, fk_user_creat, statut)
SELECT pid, 'PAY' || to_char(datep, 'YYMM') || '-' || lpad(pid::text, 6, '0'), datep, datep,
       datep, total_ttc, gen.rint(1, 7),
       CASE WHEN random() < 0.5 THEN gen.digits(7) END,
       CASE WHEN random() < 0.2 THEN gen.txt(gen.rint(2, 12)) END,
       pid, gen.rint(1, 12), 1
FROM stage_pay ORDER BY pid;
INSERT INTO llx_paiement_facture (fk_paiement, fk_facture, amount)
SELECT pid, rowid, total_ttc FROM stage_pay ORDER BY pid;
SELECT setval('llx_paiement_rowid_seq', (SELECT max(rowid) FROM llx_paiement));

-- ------------------------------------------------- llx_actioncomm (the log)
SELECT setseed(0.66);
CREATE TEMP TABLE stage_ev AS
SELECT f.datec AS datep, 40 AS fk_action, 'AC_BILL_VALIDATE' AS code,
       'Facture ' || f.ref || ' validée' AS label,
       'Auteur: ' || gen.pick(gen.vocab()) || E'\nFacture ' || f.ref || ' validée' AS note,
       f.fk_soc, f.rowid AS fk_element, 'invoice' AS elementtype, NULL::text AS msgid
FROM llx_facture f
UNION ALL
SELECT f.datec + interval '2 hours', 40, 'AC_BILL_SENTBYMAIL', 'Facture ' || f.ref || ' envoyée par courriel',
       'Expéditeur: facturation@example.fr' || E'\nDestinataire: contact@client.fr\nSujet: Facture '
           || f.ref || E'\nCorps:\n' || gen.txt(gen.rint(30, 120)) || E'\nPièce jointe: ' || f.ref || '.pdf',
       f.fk_soc, f.rowid, 'invoice', '<' || gen.digits(16) || '.' || f.rowid || '@example.fr>'
FROM llx_facture f WHERE random() < 0.6
UNION ALL
SELECT p.datep, 40, 'AC_PAYMENT_CUSTOMER_CREATE', 'Paiement ' || p.ref || ' créé',
       'Paiement ' || p.ref || ' enregistré', f.fk_soc, p.rowid, 'payment', NULL
FROM llx_paiement p JOIN llx_paiement_facture pf ON pf.fk_paiement = p.rowid
JOIN llx_facture f ON f.rowid = pf.fk_facture
UNION ALL
SELECT timestamp '2021-01-01' + (g::float8 / (:n_fac / 2)) * interval '1826 days'
           + gen.rint(8 * 3600, 18 * 3600) * interval '1 second',
       gen.rint(1, 5), gen.pick('{AC_TEL,AC_RDV,AC_EMAIL,AC_OTH,AC_INT}'),
       gen.cap(gen.txt(gen.rint(2, 6))), gen.txt(gen.rint(5, 80)),
       gen.rint(1, :n_soc), NULL, NULL, NULL
FROM generate_series(1, :n_fac / 2) g;
INSERT INTO llx_actioncomm (id, ref, datep, datep2, fk_action, code, label, note, fk_soc,
    fk_element, elementtype, fk_user_author, fk_user_action, datec, tms, percent, email_msgid,
    email_from, email_to)
SELECT n, n::text, datep, datep, fk_action, code, label, note, fk_soc, fk_element, elementtype,
       gen.rint(1, 12), gen.rint(1, 12), datep, datep, -1, msgid,
       CASE WHEN msgid IS NOT NULL THEN 'facturation@example.fr' END,
       CASE WHEN msgid IS NOT NULL THEN 'contact@client.fr' END
FROM (SELECT row_number() OVER (ORDER BY datep, code, fk_element) AS n, * FROM stage_ev) e
ORDER BY e.n;
SELECT setval('llx_actioncomm_id_seq', (SELECT max(id) FROM llx_actioncomm));

-- Dolibarr's indexes (pg_dump writes them after the data).
CREATE UNIQUE INDEX uk_const ON llx_const (name, entity);
CREATE INDEX idx_societe_nom ON llx_societe (nom);
CREATE UNIQUE INDEX uk_product_ref ON llx_product (ref, entity);
CREATE UNIQUE INDEX uk_facture_ref ON llx_facture (ref, entity);
CREATE INDEX idx_facture_fk_soc ON llx_facture (fk_soc);
CREATE INDEX idx_facture_fk_statut ON llx_facture (fk_statut);
CREATE INDEX idx_facturedet_fk_facture ON llx_facturedet (fk_facture);
CREATE INDEX idx_paiement_facture_fk_facture ON llx_paiement_facture (fk_facture);
CREATE INDEX idx_actioncomm_datep ON llx_actioncomm (datep);
CREATE INDEX idx_actioncomm_fk_soc ON llx_actioncomm (fk_soc);
DROP TABLE stage_fac, stage_lines, stage_tot, stage_pay, stage_ev;
VACUUM ANALYZE;

-- Fixtures of the planner's pure rules, in DuckDB's dialect over the TPC-H tables.
-- Each case: "-- rule: <name> [alias]", the input query, "-- expected:", the rewrite. test_rules.py
-- checks the rewrite is what the rule produces and that both give the same rows on DuckDB.

-- rule: implied_by_or p
SELECT count(*) FROM lineitem AS l JOIN part AS p ON p.p_partkey = l.l_partkey
WHERE (p.p_brand = 'Brand#12' AND l.l_quantity <= 11) OR (p.p_brand = 'Brand#23' AND l.l_quantity >= 10);
-- expected:
SELECT count(*) FROM lineitem AS l JOIN part AS p ON p.p_partkey = l.l_partkey
WHERE ((p.p_brand = 'Brand#12' AND l.l_quantity <= 11) OR (p.p_brand = 'Brand#23' AND l.l_quantity >= 10))
  AND (p.p_brand = 'Brand#12' OR p.p_brand = 'Brand#23');

-- rule: implied_by_or n1
SELECT count(*) FROM nation AS n1, nation AS n2
WHERE (n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY') OR (n1.n_name = 'GERMANY' AND n2.n_name = 'FRANCE');
-- expected:
SELECT count(*) FROM nation AS n1, nation AS n2
WHERE ((n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY') OR (n1.n_name = 'GERMANY' AND n2.n_name = 'FRANCE'))
  AND (n1.n_name = 'FRANCE' OR n1.n_name = 'GERMANY');

-- rule: inner_when_null_rejected
SELECT c.c_custkey, o.o_orderkey FROM customer AS c LEFT JOIN orders AS o ON o.o_custkey = c.c_custkey
WHERE o.o_totalprice > 400000;
-- expected:
SELECT c.c_custkey, o.o_orderkey FROM customer AS c JOIN orders AS o ON o.o_custkey = c.c_custkey
WHERE o.o_totalprice > 400000;

-- rule: inner_when_null_rejected
SELECT c.c_custkey, o.o_orderkey FROM customer AS c LEFT JOIN orders AS o ON o.o_custkey = c.c_custkey
WHERE c.c_custkey < 20 AND NOT o.o_orderkey IS NULL;
-- expected:
SELECT c.c_custkey, o.o_orderkey FROM customer AS c JOIN orders AS o ON o.o_custkey = c.c_custkey
WHERE c.c_custkey < 20 AND NOT o.o_orderkey IS NULL;

-- rule: inner_when_null_rejected
SELECT c.c_custkey, o.o_orderkey FROM customer AS c LEFT JOIN orders AS o ON o.o_custkey = c.c_custkey
WHERE c.c_custkey < 20 AND (o.o_orderkey IS NULL OR o.o_totalprice > 1000);
-- expected:
SELECT c.c_custkey, o.o_orderkey FROM customer AS c LEFT JOIN orders AS o ON o.o_custkey = c.c_custkey
WHERE c.c_custkey < 20 AND (o.o_orderkey IS NULL OR o.o_totalprice > 1000);

-- rule: implied_equalities
SELECT count(*) FROM part AS p, partsupp AS ps, lineitem AS l
WHERE p.p_partkey = l.l_partkey AND ps.ps_partkey = l.l_partkey AND ps.ps_suppkey = l.l_suppkey
  AND p.p_name LIKE '%green%';
-- expected:
SELECT count(*) FROM part AS p, partsupp AS ps, lineitem AS l
WHERE p.p_partkey = l.l_partkey AND ps.ps_partkey = l.l_partkey AND ps.ps_suppkey = l.l_suppkey
  AND p.p_name LIKE '%green%' AND p.p_partkey = ps.ps_partkey;

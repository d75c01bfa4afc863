-- Named entities in silver/ner by label: how many, in how many tweets.
SELECT e['label'] AS label, count(*) AS entities, count(DISTINCT id_str) AS tweets
FROM (SELECT id_str, unnest(entities) AS e FROM silver_ner)
GROUP BY e['label']
ORDER BY entities DESC, label

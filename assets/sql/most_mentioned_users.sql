-- The users mentioned most (@name), with how many distinct authors mentioned them.
SELECT lower(m) AS mentioned, count(*) AS mentions, count(DISTINCT author) AS by_authors
FROM (SELECT author, unnest(mentions) AS m FROM bronze)
GROUP BY lower(m)
ORDER BY mentions DESC, mentioned
LIMIT 20

-- Hashtag mentions per minute of tweet time (bronze's `hashtags` column), newest first.
SELECT date_trunc('minute', created_at) AS minute, count(*) AS hashtags
FROM (SELECT created_at, unnest(hashtags) AS tag FROM bronze)
GROUP BY minute
ORDER BY minute DESC
LIMIT 60

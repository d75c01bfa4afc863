-- The seed's trending query: every whitespace-separated word containing '#' is a hashtag,
-- counted over the whole stream; the top 20 (the seed's dashboard left out 'no tags').
SELECT word AS hashtag, count(*) AS count
FROM (
  SELECT unnest(string_to_array(regexp_replace(text, '\s+', ' ', 'g'), ' ')) AS word
  FROM bronze
)
WHERE word LIKE '%#%'
GROUP BY word
ORDER BY count DESC, hashtag
LIMIT 20

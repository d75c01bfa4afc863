-- The seed's trending query: every whitespace-separated word containing '#' is a hashtag
-- (tabs and line breaks count as spaces), counted over the whole stream; the top 20.
SELECT word AS hashtag, count(*) AS count
FROM (
  SELECT unnest(string_to_array(translate(text, chr(9) || chr(10) || chr(13), '   '), ' ')) AS word
  FROM bronze
)
WHERE word LIKE '%#%'
GROUP BY word
ORDER BY count DESC, hashtag
LIMIT 20

-- Hand labels of the newest dataset version against the classifier's predictions for the
-- same tweets (labels are the [learn] label values, predictions their names).
SELECT l.label AS hand_label, g.label AS predicted, count(*) AS tweets,
       round(avg(g.probability), 3) AS mean_probability
FROM labels l
JOIN dataset_deduplicated_raw_tweet d ON d.text_id = l.text_id
JOIN gold_ai_tweets g ON g.id_str = d.tweet_id
WHERE l.version = (SELECT max(version) FROM labels)
GROUP BY l.label, g.label
ORDER BY l.label, g.label

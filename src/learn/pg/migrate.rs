//! Creating the label tables (`dataset_versions`, `label_events`, `ai_tweets`) and adding
//! the columns later layouts need.

use tokio_postgres::Client;

use super::{PgConn, PgResult};

pub(super) async fn migrate(client: &mut Client, c: &PgConn) -> PgResult<()> {
    let tx = client.transaction().await?;
    crate::store::pg::begin_migration(&tx, &format!("ssp-tui labels {}", c.schema), &c.schema)
        .await?;
    let s = &c.schema;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {s}.\"dataset_versions\" (
            version integer PRIMARY KEY,
            manifest text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE IF NOT EXISTS {s}.\"label_events\" (
            seq bigserial PRIMARY KEY,
            version integer NOT NULL,
            text_id bigint NOT NULL,
            split text NOT NULL,
            kind text NOT NULL,
            label integer NOT NULL,
            prev_label integer NOT NULL,
            undoes bigint,
            who text NOT NULL,
            at timestamptz NOT NULL,
            note text
        );
        CREATE INDEX IF NOT EXISTS \"label_events_version_idx\" ON {s}.\"label_events\" (version, seq);
        ALTER TABLE {s}.\"label_events\"
            ADD COLUMN IF NOT EXISTS event_id text,
            ADD COLUMN IF NOT EXISTS tweet_id text,
            ADD COLUMN IF NOT EXISTS source text,
            ADD COLUMN IF NOT EXISTS model_version bigint,
            ADD COLUMN IF NOT EXISTS probability real;
        CREATE UNIQUE INDEX IF NOT EXISTS \"label_events_event_id_idx\" ON {s}.\"label_events\" (event_id);
        CREATE TABLE IF NOT EXISTS {s}.\"ai_tweets\" (
            id_str text PRIMARY KEY,
            created_at timestamptz,
            author text,
            text text NOT NULL,
            probability real NOT NULL,
            label text NOT NULL,
            model_version integer NOT NULL,
            hand_labels integer NOT NULL,
            classified_at timestamptz NOT NULL DEFAULT now()
        );"
    ))
    .await?;
    tx.commit().await
}

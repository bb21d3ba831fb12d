//! The consumers and their pending (delivered, unacknowledged) positions, on the shared
//! database (SQLite or PostgreSQL, one SQL with `$n` parameters for both).

use magnetite_db::{db_read, db_tx, Cols, Db};

use crate::error::ConsumerError;
use crate::model::{Consumer, Reply, TargetKind};

type Result<T> = std::result::Result<T, ConsumerError>;

const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS consumers (id TEXT PRIMARY KEY, owner_id TEXT NOT NULL, \
     target TEXT NOT NULL, target_id TEXT NOT NULL, subresources BIGINT NOT NULL, \
     cursor BIGINT NOT NULL, created_at BIGINT NOT NULL, last_fetch_at BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS consumers_by_owner ON consumers (owner_id)",
    "CREATE INDEX IF NOT EXISTS consumers_by_last_fetch ON consumers (last_fetch_at)",
    "CREATE TABLE IF NOT EXISTS consumer_pending (consumer_id TEXT NOT NULL, \
     position BIGINT NOT NULL, salt TEXT NOT NULL, delivered_at BIGINT NOT NULL, \
     PRIMARY KEY (consumer_id, position))",
];

/// A pending delivery due for redelivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub position: i64,
    pub salt: String,
}

/// The consumer tables.
#[derive(Debug, Clone)]
pub struct ConsumerStore {
    db: Db,
}

fn consumer_from_row(r: &impl Cols) -> Result<Consumer> {
    let target = r.text("target")?;
    Ok(Consumer {
        id: r.text("id")?,
        owner_id: r.text("owner_id")?,
        target: TargetKind::parse(&target)
            .ok_or_else(|| ConsumerError::BadRequest(format!("stored target {target}")))?,
        target_id: r.text("target_id")?,
        subresources: r.int("subresources")? != 0,
        cursor: r.int("cursor")?,
    })
}

impl ConsumerStore {
    /// Creates the tables if they do not exist.
    pub async fn open(db: Db) -> Result<ConsumerStore> {
        for s in SCHEMA {
            db_read!(&db, pool => { sqlx::query(s).execute(pool).await?; });
        }
        Ok(ConsumerStore { db })
    }

    /// The database (the outbox lives there too).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Inserts `c` unless its owner already has `max_per_user` consumers (checked in the
    /// same transaction, so concurrent creates cannot overshoot on SQLite).
    pub async fn insert(&self, c: &Consumer, now: i64, max_per_user: i64) -> Result<()> {
        db_tx!(&self.db, tx => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM consumers WHERE owner_id = $1")
                .bind(&c.owner_id)
                .fetch_one(&mut *tx)
                .await?;
            if n >= max_per_user {
                return Err(ConsumerError::Conflict(format!(
                    "at most {max_per_user} consumers per user; delete one first"
                )));
            }
            sqlx::query(
                "INSERT INTO consumers (id, owner_id, target, target_id, subresources, cursor, \
                 created_at, last_fetch_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            )
            .bind(&c.id)
            .bind(&c.owner_id)
            .bind(c.target.as_str())
            .bind(&c.target_id)
            .bind(i64::from(c.subresources))
            .bind(c.cursor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        });
        Ok(())
    }

    /// The consumer `id` if `owner` owns it.
    pub async fn owned(&self, id: &str, owner: &str) -> Result<Option<Consumer>> {
        let q = "SELECT * FROM consumers WHERE id = $1 AND owner_id = $2";
        db_read!(&self.db, pool => {
            let row = sqlx::query(q).bind(id).bind(owner).fetch_optional(pool).await?;
            row.as_ref().map(consumer_from_row).transpose()
        })
    }

    /// Deletes the consumer `id` of `owner` and its pending rows; whether it existed.
    pub async fn delete(&self, id: &str, owner: &str) -> Result<bool> {
        let done = db_tx!(&self.db, tx => {
            let done = sqlx::query("DELETE FROM consumers WHERE id = $1 AND owner_id = $2")
                .bind(id)
                .bind(owner)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done > 0 {
                sqlx::query("DELETE FROM consumer_pending WHERE consumer_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            done > 0
        });
        Ok(done)
    }

    /// Marks a fetch (the expiry clock restarts).
    pub async fn touch(&self, id: &str, now: i64) -> Result<()> {
        let q = "UPDATE consumers SET last_fetch_at = $2 WHERE id = $1";
        db_read!(&self.db, pool => { sqlx::query(q).bind(id).bind(now).execute(pool).await?; });
        Ok(())
    }

    /// Up to `limit` pending positions delivered at or before `due_before`, oldest first.
    pub async fn due(&self, id: &str, due_before: i64, limit: i64) -> Result<Vec<Due>> {
        let q = "SELECT position, salt FROM consumer_pending WHERE consumer_id = $1 \
                 AND delivered_at <= $2 ORDER BY position LIMIT $3";
        db_read!(&self.db, pool => {
            let rows = sqlx::query(q).bind(id).bind(due_before).bind(limit).fetch_all(pool).await?;
            rows.iter()
                .map(|r| Ok(Due { position: r.int("position")?, salt: r.text("salt")? }))
                .collect()
        })
    }

    /// Swaps a due delivery's salt for `fresh`'s; `false` when another fetch did first.
    pub async fn redeliver(&self, old: &Due, fresh: &Reply, now: i64) -> Result<bool> {
        let q = "UPDATE consumer_pending SET salt = $4, delivered_at = $5 \
                 WHERE consumer_id = $1 AND position = $2 AND salt = $3";
        let done = db_read!(&self.db, pool => {
            sqlx::query(q).bind(&fresh.consumer).bind(old.position).bind(&old.salt)
                .bind(&fresh.salt).bind(now).execute(pool).await?.rows_affected()
        });
        Ok(done == 1)
    }

    /// Forgets pending positions whose events are gone (pruned by retention).
    pub async fn drop_pending(&self, id: &str, positions: &[i64]) -> Result<()> {
        let q = "DELETE FROM consumer_pending WHERE consumer_id = $1 AND position = $2";
        for p in positions {
            db_read!(&self.db, pool => { sqlx::query(q).bind(id).bind(*p).execute(pool).await?; });
        }
        Ok(())
    }

    /// How many deliveries await an acknowledgement.
    pub async fn pending_count(&self, id: &str) -> Result<i64> {
        let q = "SELECT COUNT(*) FROM consumer_pending WHERE consumer_id = $1";
        let n: i64 =
            db_read!(&self.db, pool => { sqlx::query_scalar(q).bind(id).fetch_one(pool).await? });
        Ok(n)
    }

    /// Moves the cursor from `from` to `to` and records `fresh` as pending, in one
    /// transaction; `false` (nothing written) when another fetch moved the cursor first.
    pub async fn advance(
        &self,
        id: &str,
        from: i64,
        to: i64,
        fresh: &[Reply],
        now: i64,
    ) -> Result<bool> {
        let moved = db_tx!(&self.db, tx => {
            let done = sqlx::query("UPDATE consumers SET cursor = $3 WHERE id = $1 AND cursor = $2")
                .bind(id)
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done == 1 {
                for r in fresh {
                    sqlx::query(
                        "INSERT INTO consumer_pending (consumer_id, position, salt, delivered_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                    )
                    .bind(id)
                    .bind(r.position)
                    .bind(&r.salt)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            done == 1
        });
        Ok(moved)
    }

    /// Acknowledges deliveries, in one transaction (one commit however many): for each
    /// reply, whether it named the latest salt of a pending position of a consumer
    /// `owner` owns. `false` for anything else (already acknowledged, a stale salt,
    /// another user's consumer), in the order given.
    pub async fn acknowledge_all(&self, replies: &[Reply], owner: &str) -> Result<Vec<bool>> {
        let q = "DELETE FROM consumer_pending WHERE consumer_id = $1 AND position = $2 \
                 AND salt = $3 AND consumer_id IN (SELECT id FROM consumers WHERE owner_id = $4)";
        if replies.is_empty() {
            return Ok(Vec::new());
        }
        let done = db_tx!(&self.db, tx => {
            let mut done = Vec::with_capacity(replies.len());
            for reply in replies {
                let n = sqlx::query(q).bind(&reply.consumer).bind(reply.position).bind(&reply.salt)
                    .bind(owner).execute(&mut *tx).await?.rows_affected();
                done.push(n == 1);
            }
            done
        });
        Ok(done)
    }

    /// Deletes the consumers not fetched since `before` (and their pending rows), at
    /// most `limit` per call; how many went.
    pub async fn expire(&self, before: i64, limit: i64) -> Result<u64> {
        let gone = db_tx!(&self.db, tx => {
            let ids: Vec<String> = sqlx::query_scalar(
                "SELECT id FROM consumers WHERE last_fetch_at < $1 ORDER BY last_fetch_at LIMIT $2",
            )
            .bind(before)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            for id in &ids {
                for q in ["DELETE FROM consumer_pending WHERE consumer_id = $1", "DELETE FROM consumers WHERE id = $1"] {
                    sqlx::query(q).bind(id).execute(&mut *tx).await?;
                }
            }
            ids.len() as u64
        });
        Ok(gone)
    }
}

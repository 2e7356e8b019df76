//! Write coalescing for un-keyed inserts on PostgreSQL: requests that arrive while an insert
//! is in flight are stored together by the next multi-row `INSERT ... RETURNING`, one round
//! trip and one commit for the lot. Nobody waits for a batch to fill: a worker takes whatever
//! is queued the moment it is free. Each caller is answered only after its row is committed;
//! a failed batch fails every caller in it (none of its rows were stored).

use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::entity::number;
use crate::store::Number;

/// Most rows one INSERT carries.
pub const MAX_BATCH: usize = 64;

type Reply = oneshot::Sender<Result<Number, DbErr>>;

/// Queue of pending inserts served by a few workers.
#[derive(Debug, Clone)]
pub struct Inserter {
    queue: mpsc::Sender<(i64, Reply)>,
}

impl Inserter {
    /// Start `workers` batch workers on `db` (call inside a tokio runtime).
    pub fn spawn(db: DatabaseConnection, workers: usize) -> Self {
        let (queue, rx) = mpsc::channel::<(i64, Reply)>(MAX_BATCH * workers.max(1) * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..workers.max(1) {
            let rx = rx.clone();
            let db = db.clone();
            tokio::spawn(async move {
                loop {
                    let batch = {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        let mut batch = vec![first];
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(item) => batch.push(item),
                                Err(_) => break,
                            }
                        }
                        batch
                    };
                    store_batch(&db, batch).await;
                }
            });
        }
        Self { queue }
    }

    /// Store `value`; returns once its row is committed.
    pub async fn insert(&self, value: i64) -> Result<Number, DbErr> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((value, reply))
            .await
            .map_err(|_| DbErr::Custom("insert queue closed".into()))?;
        answer
            .await
            .map_err(|_| DbErr::Custom("insert worker stopped".into()))?
    }
}

async fn store_batch(db: &DatabaseConnection, batch: Vec<(i64, Reply)>) {
    let created_at = Utc::now().trunc_subsecs(6);
    let rows = batch.iter().map(|(value, _)| number::ActiveModel {
        value: sea_orm::Set(*value),
        created_at: sea_orm::Set(created_at),
        ..Default::default()
    });
    // PostgreSQL evaluates the id default and returns rows in VALUES order: row i is caller i.
    match number::Entity::insert_many(rows)
        .exec_with_returning(db)
        .await
    {
        Ok(mut stored) if stored.len() == batch.len() => {
            stored.sort_by_key(|n| n.id);
            for ((_, reply), row) in batch.into_iter().zip(stored) {
                let _ = reply.send(Ok(row));
            }
        }
        Ok(stored) => {
            let err = format!(
                "batch insert returned {} rows for {}",
                stored.len(),
                batch.len()
            );
            for (_, reply) in batch {
                let _ = reply.send(Err(DbErr::Custom(err.clone())));
            }
        }
        Err(err) => {
            // Clone the classification, not the error: every caller learns the same outcome.
            let unavailable = crate::db::is_unavailable(&err);
            let message = err.to_string();
            for (_, reply) in batch {
                let e = if unavailable {
                    DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::ConnectionClosed)
                } else {
                    DbErr::Custom(message.clone())
                };
                let _ = reply.send(Err(e));
            }
            tracing::warn!(error = %message, "batch insert failed");
        }
    }
}

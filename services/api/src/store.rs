//! Data access for numbers: every query the routes need, and nothing about HTTP.

use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    FromQueryResult, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, SqlErr, Statement,
    TransactionTrait,
};

use crate::entity::{idempotency_key, number};

/// A stored number as the store returns it.
pub type Number = number::Model;

/// Outcome of a create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Stored now.
    New(Number),
    /// The same `Idempotency-Key` stored this earlier; nothing new was stored.
    Replayed(Number),
    /// The key was first used with another value; nothing was stored.
    KeyReused {
        /// The value the key was first used with.
        first: i64,
    },
}

/// Store `value`, once per idempotency key when one is given. Returns only after commit.
pub async fn create(
    db: &DatabaseConnection,
    inserter: Option<&crate::batch::Inserter>,
    value: i64,
    key: Option<&str>,
) -> Result<Created, DbErr> {
    let Some(key) = key else {
        let stored = match inserter {
            Some(batched) => batched.insert(value).await?,
            None => insert(db, value).await?,
        };
        return Ok(Created::New(stored));
    };
    if let Some(done) = replay(db, key, value).await? {
        return Ok(done);
    }
    let txn = db.begin().await?;
    let stored = insert(&txn, value).await?;
    let remembered = idempotency_key::Model {
        key: key.to_owned(),
        number_id: stored.id,
        value,
        created_at: stored.created_at,
    }
    .into_active_model();
    match idempotency_key::Entity::insert(remembered).exec(&txn).await {
        Ok(_) => {
            txn.commit().await?;
            Ok(Created::New(stored))
        }
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            // A concurrent request with the same key won the race: drop our row, answer theirs.
            txn.rollback().await?;
            replay(db, key, value)
                .await?
                .ok_or_else(|| DbErr::Custom("idempotency key vanished after a conflict".into()))
        }
        Err(err) => Err(err),
    }
}

async fn replay(db: &DatabaseConnection, key: &str, value: i64) -> Result<Option<Created>, DbErr> {
    let found = idempotency_key::Entity::find_by_id(key.to_owned())
        .one(db)
        .await?;
    Ok(found.map(|first| {
        if first.value == value {
            Created::Replayed(Number {
                id: first.number_id,
                value: first.value,
                created_at: first.created_at,
            })
        } else {
            Created::KeyReused { first: first.value }
        }
    }))
}

async fn insert(db: &impl ConnectionTrait, value: i64) -> Result<Number, DbErr> {
    // Microseconds: what PostgreSQL keeps, so the answer equals what a later read returns.
    let created_at: DateTime<Utc> = Utc::now().trunc_subsecs(6);
    number::ActiveModel {
        value: sea_orm::Set(value),
        created_at: sea_orm::Set(created_at),
        ..Default::default()
    }
    .insert(db)
    .await
}

/// Up to `limit` numbers, newest first, with ids below `before` when given.
/// Returns the page and whether more exist after it.
pub async fn page(
    db: &DatabaseConnection,
    limit: u64,
    before: Option<i64>,
) -> Result<(Vec<Number>, bool), DbErr> {
    if db.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
        return page_postgres(db, limit, before).await;
    }
    let mut query = number::Entity::find().order_by_desc(number::Column::Id);
    if let Some(before) = before {
        query = query.filter(number::Column::Id.lt(before));
    }
    let mut rows = query.limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// The hot read path on PostgreSQL: one prepared statement, columns decoded by position
/// (sea-orm's by-name decoding costs more than the query itself at 100 rows a page).
async fn page_postgres(
    db: &DatabaseConnection,
    limit: u64,
    before: Option<i64>,
) -> Result<(Vec<Number>, bool), DbErr> {
    use sea_orm::sqlx;
    let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
    let rows: Vec<(i64, i64, DateTime<Utc>)> = sqlx::query_as(
        r#"SELECT id, "value", created_at FROM numbers WHERE id < $1 ORDER BY id DESC LIMIT $2"#,
    )
    .bind(before.unwrap_or(i64::MAX))
    .bind(fetch)
    .fetch_all(db.get_postgres_connection_pool())
    .await
    .map_err(|e| DbErr::Query(sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(e))))?;
    let more = rows.len() as u64 > limit;
    let rows = rows
        .into_iter()
        .take(limit as usize)
        .map(|(id, value, created_at)| Number {
            id,
            value,
            created_at,
        })
        .collect();
    Ok((rows, more))
}

/// Every number, oldest first (the original API's `/values/all`).
pub async fn all(db: &DatabaseConnection) -> Result<Vec<Number>, DbErr> {
    number::Entity::find()
        .order_by_asc(number::Column::Id)
        .all(db)
        .await
}

/// One number by id.
pub async fn get(db: &DatabaseConnection, id: i64) -> Result<Option<Number>, DbErr> {
    number::Entity::find_by_id(id).one(db).await
}

/// Delete one number; whether it existed.
pub async fn delete(db: &DatabaseConnection, id: i64) -> Result<bool, DbErr> {
    let result = number::Entity::delete_by_id(id).exec(db).await?;
    Ok(result.rows_affected > 0)
}

/// Aggregates over every stored number. `sum` is exact (128-bit).
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// How many numbers are stored.
    pub count: i64,
    /// Their exact sum.
    pub sum: i128,
    /// The smallest, if any.
    pub min: Option<i64>,
    /// The largest, if any.
    pub max: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct StatsRow {
    count: i64,
    hi: i64,
    lo: i64,
    min: Option<i64>,
    max: Option<i64>,
}

/// Count, exact sum, min and max in one query on either backend.
///
/// A plain `SUM` overflows 64 bits on SQLite; summing the high and low 32-bit halves
/// separately cannot overflow for fewer than 2^31 rows, and recombines exactly.
pub async fn stats(db: &DatabaseConnection) -> Result<Stats, DbErr> {
    let sql = r#"SELECT COUNT(*) AS count,
        CAST(COALESCE(SUM("value" >> 32), 0) AS BIGINT) AS hi,
        CAST(COALESCE(SUM("value" & 4294967295), 0) AS BIGINT) AS lo,
        MIN("value") AS min, MAX("value") AS max
        FROM numbers"#;
    let row = StatsRow::find_by_statement(Statement::from_string(db.get_database_backend(), sql))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::Custom("aggregate query returned no row".into()))?;
    Ok(Stats {
        count: row.count,
        sum: (i128::from(row.hi) << 32) + i128::from(row.lo),
        min: row.min,
        max: row.max,
    })
}

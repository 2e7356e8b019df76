//! Sync history in a database (sea-orm): every attempt (environment, revision, trigger, start,
//! duration, result, changes, errors). SQLite file by default, PostgreSQL with
//! `--database-url postgres://...`. Read back at start-up so status shows what ran before.
//!
//! An apply is written ahead: its row is stored as `Applying` before the first write to the
//! platform and completed afterwards, so a process killed during an apply leaves a trace; at
//! the next start such rows become `Interrupted` (the reconcile that follows converges).

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, QueryOrder, QuerySelect, Set};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string, text};

use super::status::SyncAttempt;

/// One row of `sync_attempts`.
#[allow(unreachable_pub)]
pub(crate) mod attempt {
    use sea_orm::entity::prelude::*;

    /// A stored sync attempt.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "sync_attempts")]
    pub struct Model {
        /// Row id (insertion order).
        #[sea_orm(primary_key)]
        pub id: i64,
        /// Environment.
        pub env: String,
        /// Revision.
        pub revision: String,
        /// Trigger.
        pub trigger: String,
        /// Start, RFC 3339.
        pub started: String,
        /// Duration (ms).
        pub duration_ms: i64,
        /// Result.
        pub result: String,
        /// Changes, JSON array of strings.
        pub changes: String,
        /// Errors, JSON array of strings.
        pub errors: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The result of a row written ahead of an apply that has not finished.
const APPLYING: &str = "Applying";
/// The result of such a row found at start-up: the process died during the apply.
const INTERRUPTED: &str = "Interrupted";

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateSyncAttempts)]
    }
}

#[derive(DeriveIden)]
enum SyncAttempts {
    Table,
    Id,
    Env,
    Revision,
    Trigger,
    Started,
    DurationMs,
    Result,
    Changes,
    Errors,
}

struct CreateSyncAttempts;

impl MigrationName for CreateSyncAttempts {
    fn name(&self) -> &str {
        "m20261129_000001_create_sync_attempts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSyncAttempts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(SyncAttempts::Table)
                    .if_not_exists()
                    .col(big_pk_auto(SyncAttempts::Id))
                    .col(string(SyncAttempts::Env))
                    .col(string(SyncAttempts::Revision))
                    .col(string(SyncAttempts::Trigger))
                    .col(string(SyncAttempts::Started))
                    .col(big_integer(SyncAttempts::DurationMs))
                    .col(string(SyncAttempts::Result))
                    .col(text(SyncAttempts::Changes))
                    .col(text(SyncAttempts::Errors))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(SyncAttempts::Table).to_owned())
            .await
    }
}

/// The history store.
#[derive(Clone, Debug)]
pub(crate) struct History {
    db: DatabaseConnection,
}

impl History {
    /// Open (and migrate) the store at `url`.
    pub(crate) async fn open(url: &str) -> Result<Self, DbErr> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(4).sqlx_logging(false);
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        let interrupted = attempt::Entity::update_many()
            .col_expr(attempt::Column::Result, Expr::value(INTERRUPTED))
            .col_expr(
                attempt::Column::Errors,
                Expr::value(
                    serde_json::json!([
                        "ferry stopped during this apply (crash or kill); the next reconcile converges"
                    ])
                    .to_string(),
                ),
            )
            .filter(attempt::Column::Result.eq(APPLYING))
            .exec(&db)
            .await?;
        if interrupted.rows_affected > 0 {
            tracing::warn!(
                attempts = interrupted.rows_affected,
                "found applies interrupted by a crash; marked Interrupted"
            );
        }
        Ok(Self { db })
    }

    /// Write an apply ahead, as `Applying`; returns its row.
    pub(crate) async fn begin(&self, env: &str, a: &SyncAttempt) -> Result<i64, DbErr> {
        let row = Self::model(env, a);
        let stored = attempt::ActiveModel {
            result: Set(APPLYING.into()),
            ..row
        }
        .insert(&self.db)
        .await?;
        Ok(stored.id)
    }

    /// Store one finished attempt (completing its row if it was written ahead).
    pub(crate) async fn record(&self, env: &str, a: &SyncAttempt) -> Result<(), DbErr> {
        let mut row = Self::model(env, a);
        if let Some(id) = a.row {
            row.id = Set(id);
            row.update(&self.db).await.map(|_| ())
        } else {
            row.insert(&self.db).await.map(|_| ())
        }
    }

    fn model(env: &str, a: &SyncAttempt) -> attempt::ActiveModel {
        attempt::ActiveModel {
            env: Set(env.to_owned()),
            revision: Set(a.revision.clone()),
            trigger: Set(a.trigger.clone()),
            started: Set(a.started.clone()),
            duration_ms: Set(<i64 as TryFrom<u64>>::try_from(a.duration_ms).unwrap_or(i64::MAX)),
            result: Set(a.result.clone()),
            changes: Set(serde_json::to_string(&a.changes).unwrap_or_default()),
            errors: Set(serde_json::to_string(&a.errors).unwrap_or_default()),
            ..Default::default()
        }
    }

    /// The newest `limit` attempts of `env`, newest first.
    pub(crate) async fn recent(&self, env: &str, limit: u64) -> Result<Vec<SyncAttempt>, DbErr> {
        let rows = attempt::Entity::find()
            .filter(attempt::Column::Env.eq(env))
            .order_by_desc(attempt::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|r| SyncAttempt {
                revision: r.revision,
                trigger: r.trigger,
                started: r.started,
                duration_ms: <u64 as TryFrom<i64>>::try_from(r.duration_ms).unwrap_or(0),
                result: r.result,
                changes: serde_json::from_str(&r.changes).unwrap_or_default(),
                errors: serde_json::from_str(&r.errors).unwrap_or_default(),
                row: Some(r.id),
            })
            .collect())
    }

    /// The newest revision of `env` whose attempt succeeded (applied or already in sync).
    pub(crate) async fn last_applied(&self, env: &str) -> Result<Option<String>, DbErr> {
        let row = attempt::Entity::find()
            .filter(attempt::Column::Env.eq(env))
            .filter(attempt::Column::Result.is_in(["Succeeded", "NoChanges"]))
            .order_by_desc(attempt::Column::Id)
            .one(&self.db)
            .await?;
        Ok(row.map(|r| r.revision))
    }
}

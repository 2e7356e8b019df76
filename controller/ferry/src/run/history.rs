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
use sea_orm_migration::schema::{big_integer, big_pk_auto, string, text, text_null};

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
        /// Why it failed (`RolledBack`, `RolloutFailed`, `RolloutTimedOut`...), if it did.
        pub reason: Option<String>,
        /// What each service ran when it ended well: JSON object service → revision.
        pub deployed: Option<String>,
        /// The newest source revision when it ran (a rollback pauses until another arrives).
        pub head: Option<String>,
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
        vec![Box::new(CreateSyncAttempts), Box::new(AddRolloutColumns)]
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
    Reason,
    Deployed,
    Head,
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

struct AddRolloutColumns;

impl MigrationName for AddRolloutColumns {
    fn name(&self) -> &str {
        "m20261130_000001_add_rollout_columns"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddRolloutColumns {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters one thing at a time.
        for column in [
            SyncAttempts::Reason,
            SyncAttempts::Deployed,
            SyncAttempts::Head,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SyncAttempts::Table)
                        .add_column(text_null(column))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [
            SyncAttempts::Reason,
            SyncAttempts::Deployed,
            SyncAttempts::Head,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(SyncAttempts::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// Key of the PostgreSQL advisory lock that serializes Ferry's migrations across replicas
/// ("ferry" in ASCII; numbers-api uses its own key).
const MIGRATION_LOCK_KEY: i64 = 0x0066_6572_7279;

/// Run pending migrations. On PostgreSQL a session advisory lock, held on a connection of its
/// own for the whole run, makes replicas starting at once take turns: one creates the tables,
/// the others find them there (without it they race on `seaql_migrations` and crash).
async fn migrate(url: &str, db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(1)
        .min_connections(1)
        .sqlx_logging(false);
    let lock = Database::connect(options).await?;
    lock.execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .await?;
    let result = Migrator::up(db, None).await;
    let unlocked = lock
        .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .await;
    let _ = lock.close().await;
    result.and(unlocked.map(|_| ()))
}

/// Results that end a sync attempt (what the remembered state is read from).
const OUTCOMES: [&str; 5] = ["Succeeded", "Failed", "NoChanges", "Superseded", "Resumed"];

/// Reasons of a rollout that did not complete: its revision is not applied again on its own.
pub(crate) const ROLLOUT_FAILURES: [&str; 3] = ["RolledBack", "RolloutFailed", "RolloutTimedOut"];

/// What the loop of an environment remembers across restarts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Remembered {
    /// The newest revision applied (or already in sync).
    pub(crate) applied: Option<String>,
    /// The newest attempt, when it was a rollout that failed: (revision, reason, errors).
    pub(crate) failed: Option<(String, String, Vec<String>)>,
    /// The newest attempt, when it was a rollback: (revision rolled back to, head then).
    pub(crate) paused: Option<(String, String)>,
}

/// A rollback target found in history: a revision and what each service ran then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GoodRevision {
    /// The revision.
    pub(crate) revision: String,
    /// Service → task definition ARN (or local revision) it ran.
    pub(crate) deployed: std::collections::BTreeMap<String, String>,
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
        migrate(url, &db).await?;
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
            reason: Set(a.reason.clone()),
            deployed: Set((!a.deployed.is_empty())
                .then(|| serde_json::to_string(&a.deployed).unwrap_or_default())),
            head: Set(a.head.clone()),
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
        Ok(rows.into_iter().map(Self::attempt).collect())
    }

    fn attempt(r: attempt::Model) -> SyncAttempt {
        SyncAttempt {
            revision: r.revision,
            trigger: r.trigger,
            started: r.started,
            duration_ms: <u64 as TryFrom<i64>>::try_from(r.duration_ms).unwrap_or(0),
            result: r.result,
            reason: r.reason,
            changes: serde_json::from_str(&r.changes).unwrap_or_default(),
            errors: serde_json::from_str(&r.errors).unwrap_or_default(),
            deployed: r
                .deployed
                .as_deref()
                .and_then(|d| serde_json::from_str(d).ok())
                .unwrap_or_default(),
            head: r.head,
            row: Some(r.id),
        }
    }

    /// What `env`'s loop must remember from before a restart: the applied revision, a
    /// revision whose rollout failed, a rollback that paused automatic sync.
    pub(crate) async fn remembered(&self, env: &str) -> Result<Remembered, DbErr> {
        let applied = self.last_applied(env).await?;
        let newest = attempt::Entity::find()
            .filter(attempt::Column::Env.eq(env))
            .filter(attempt::Column::Result.is_in(OUTCOMES))
            .order_by_desc(attempt::Column::Id)
            .one(&self.db)
            .await?
            .map(Self::attempt);
        let mut out = Remembered {
            applied,
            ..Remembered::default()
        };
        if let Some(a) = newest {
            if a.trigger == "rollback" {
                out.paused = Some((a.revision, a.head.unwrap_or_default()));
            } else if a.result == "Failed"
                && a.reason
                    .as_deref()
                    .is_some_and(|r| ROLLOUT_FAILURES.contains(&r))
            {
                out.failed = Some((a.revision, a.reason.unwrap_or_default(), a.errors));
            }
        }
        Ok(out)
    }

    /// The newest attempt of `env` that ended well and recorded what ran, for a revision other
    /// than `except` (the revision being rolled back from) — or, with `to`, for that revision
    /// (a full id or a prefix of at least 7 characters).
    pub(crate) async fn good_revision(
        &self,
        env: &str,
        to: Option<&str>,
        except: Option<&str>,
    ) -> Result<Option<GoodRevision>, DbErr> {
        let rows = attempt::Entity::find()
            .filter(attempt::Column::Env.eq(env))
            .filter(attempt::Column::Result.is_in(["Succeeded", "NoChanges"]))
            .filter(attempt::Column::Deployed.is_not_null())
            .order_by_desc(attempt::Column::Id)
            .limit(500)
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(Self::attempt)
            .filter(|a| !a.deployed.is_empty())
            .find(|a| match to {
                Some(to) => a.revision == to || (to.len() >= 7 && a.revision.starts_with(to)),
                None => Some(a.revision.as_str()) != except,
            })
            .map(|a| GoodRevision {
                revision: a.revision,
                deployed: a.deployed,
            }))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn three_replicas_opening_an_empty_postgresql_database_at_once_all_start() {
        let url = ferry_testkit::shared_pg_database();
        let opens: Vec<_> = (0..3)
            .map(|_| {
                let url = url.clone();
                tokio::spawn(async move { History::open(&url).await.map(|_| ()) })
            })
            .collect();
        for open in opens {
            let result = open.await.expect("task");
            assert!(result.is_ok(), "a replica failed to start: {result:?}");
        }
        let tables =
            ferry_testkit::psql(&url, "SELECT count(*) FROM seaql_migrations").expect("psql");
        assert_eq!(tables, "2", "each migration applied once");
    }
}

//! Sync history in a database (sea-orm): every attempt (environment, revision, trigger, start,
//! duration, result, changes, errors). SQLite file by default, PostgreSQL with
//! `--database-url postgres://...`. Read back at start-up so status shows what ran before.
//!
//! An apply is written ahead: its row is stored as `Applying` before the first write to the
//! platform and completed afterwards, so a process killed during an apply leaves a trace; at
//! the next start such rows become `Interrupted` (the reconcile that follows converges).
//!
//! On PostgreSQL, replicas share the store: each row names the replica and lease epoch that
//! wrote it, a replica writes an environment's rows only while it holds that environment's
//! lease (checked by the database in the same statement), and `Applying` rows become
//! `Interrupted` when a replica takes over the environment from the holder that wrote them.

use sea_orm::entity::prelude::*;
use sea_orm::{ConnectOptions, Database, DatabaseConnection, QueryOrder, QuerySelect, Set};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{
    big_integer, big_integer_null, big_pk_auto, string, text, text_null,
};

use super::lease::Fence;
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
        /// The replica that wrote it (replicas on PostgreSQL).
        pub replica: Option<String>,
        /// The lease epoch it was written under (replicas on PostgreSQL).
        pub epoch: Option<i64>,
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
        vec![
            Box::new(CreateSyncAttempts),
            Box::new(AddRolloutColumns),
            Box::new(AddReplicas),
        ]
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
    Replica,
    Epoch,
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

struct AddReplicas;

impl MigrationName for AddReplicas {
    fn name(&self) -> &str {
        "m20261201_000001_add_replicas"
    }
}

/// The tables replicas share (used on PostgreSQL only; created everywhere so one schema fits
/// both): leases per environment, replicas' heartbeats, the status of each environment as its
/// owner last published it, and signals (commands and webhooks one replica received for
/// another).
const REPLICA_TABLES: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS ferry_leases (env TEXT PRIMARY KEY, holder TEXT NOT NULL, \
     epoch BIGINT NOT NULL, expires_at TIMESTAMPTZ NOT NULL, acquired_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ferry_replicas (id TEXT PRIMARY KEY, address TEXT NOT NULL, \
     started_at TIMESTAMPTZ NOT NULL, expires_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ferry_env_status (env TEXT PRIMARY KEY, holder TEXT NOT NULL, \
     epoch BIGINT NOT NULL, status TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL)",
    "CREATE TABLE IF NOT EXISTS ferry_signals (id BIGSERIAL PRIMARY KEY, origin TEXT NOT NULL, \
     env TEXT, kind TEXT NOT NULL, target TEXT, created_at TIMESTAMPTZ NOT NULL)",
];

#[async_trait::async_trait]
impl MigrationTrait for AddReplicas {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SyncAttempts::Table)
                    .add_column(text_null(SyncAttempts::Replica))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(SyncAttempts::Table)
                    .add_column(big_integer_null(SyncAttempts::Epoch))
                    .to_owned(),
            )
            .await?;
        for sql in REPLICA_TABLES {
            manager.get_connection().execute_unprepared(sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            "ferry_leases",
            "ferry_replicas",
            "ferry_env_status",
            "ferry_signals",
        ] {
            manager
                .get_connection()
                .execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        for column in [SyncAttempts::Replica, SyncAttempts::Epoch] {
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

/// Why a fenced write was refused.
fn not_held(env: &str) -> DbErr {
    DbErr::Custom(format!(
        "not written: this replica does not hold the lease of `{env}` (another replica owns it now)"
    ))
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
    /// Replicas on PostgreSQL: rows are written only under a held lease.
    fence: Option<Fence>,
}

/// What an `Interrupted` row says.
fn interrupted_errors() -> String {
    serde_json::json!([
        "ferry stopped during this apply (crash or kill); the next reconcile converges"
    ])
    .to_string()
}

impl History {
    /// Open (and migrate) the store at `url`. On SQLite (one process owns everything) the
    /// applies a crash interrupted are marked at once; replicas on PostgreSQL mark them per
    /// environment when they take it over ([`History::mark_interrupted`]).
    pub(crate) async fn open(url: &str) -> Result<Self, DbErr> {
        let password = std::env::var(PASSWORD_ENV).ok();
        let full = with_password(url, password.as_deref());
        let url = full.as_str();
        let mut options = ConnectOptions::new(url.to_owned());
        options.max_connections(4).sqlx_logging(false);
        let db = match Database::connect(options.clone()).await {
            Err(e) if is_postgres(url) && e.to_string().contains("does not exist") => {
                create_database(url).await?;
                Database::connect(options).await?
            }
            connected => connected?,
        };
        migrate(url, &db).await?;
        if db.get_database_backend() != sea_orm::DatabaseBackend::Postgres {
            let interrupted = attempt::Entity::update_many()
                .col_expr(attempt::Column::Result, Expr::value(INTERRUPTED))
                .col_expr(attempt::Column::Errors, Expr::value(interrupted_errors()))
                .filter(attempt::Column::Result.eq(APPLYING))
                .exec(&db)
                .await?;
            if interrupted.rows_affected > 0 {
                tracing::warn!(
                    attempts = interrupted.rows_affected,
                    "found applies interrupted by a crash; marked Interrupted"
                );
            }
        }
        Ok(Self { db, fence: None })
    }

    /// Whether replicas share this store (PostgreSQL).
    pub(crate) fn shared(&self) -> bool {
        self.db.get_database_backend() == sea_orm::DatabaseBackend::Postgres
    }

    /// The same store, writing an environment's rows only while `fence` holds its lease.
    pub(crate) fn fenced(self, fence: Fence) -> Self {
        Self {
            fence: Some(fence),
            ..self
        }
    }

    /// `env` was taken over at `epoch`: the applies its earlier holders left `Applying` were
    /// interrupted (their holders' leases are gone). Applies of other environments, which
    /// live replicas may be running, are left alone.
    pub(crate) async fn mark_interrupted(&self, env: &str, epoch: i64) -> Result<u64, DbErr> {
        let done = attempt::Entity::update_many()
            .col_expr(attempt::Column::Result, Expr::value(INTERRUPTED))
            .col_expr(attempt::Column::Errors, Expr::value(interrupted_errors()))
            .filter(attempt::Column::Env.eq(env))
            .filter(attempt::Column::Result.eq(APPLYING))
            .filter(
                sea_orm::Condition::any()
                    .add(attempt::Column::Epoch.is_null())
                    .add(attempt::Column::Epoch.lt(epoch)),
            )
            .exec(&self.db)
            .await?;
        if done.rows_affected > 0 {
            tracing::warn!(env = %env, attempts = done.rows_affected, "found applies interrupted by the previous owner's end; marked Interrupted");
        }
        Ok(done.rows_affected)
    }

    /// Insert `row` (returning its id) — under the lease when fenced: the database inserts
    /// it only if this replica still holds `env` at the epoch it writes.
    async fn insert(&self, env: &str, row: attempt::ActiveModel) -> Result<i64, DbErr> {
        let Some(fence) = &self.fence else {
            return row.insert(&self.db).await.map(|m| m.id);
        };
        let epoch = fence.epoch(env).ok_or_else(|| not_held(env))?;
        let values = Self::values(&row, &fence.replica, epoch);
        let found = self
            .db
            .query_one_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "INSERT INTO sync_attempts (env, revision, trigger, started, duration_ms, result, changes, errors, reason, deployed, head, replica, epoch) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 WHERE EXISTS ( \
                   SELECT 1 FROM ferry_leases WHERE env = $1 AND holder = $12 AND epoch = $13 AND expires_at > now()) \
                 RETURNING id",
                values,
            ))
            .await?;
        match found {
            Some(r) => r.try_get::<i64>("", "id"),
            None => Err(not_held(env)),
        }
    }

    /// Update row `id` — under the lease when fenced.
    async fn update(&self, env: &str, id: i64, mut row: attempt::ActiveModel) -> Result<(), DbErr> {
        let Some(fence) = &self.fence else {
            row.id = Set(id);
            return row.update(&self.db).await.map(|_| ());
        };
        let epoch = fence.epoch(env).ok_or_else(|| not_held(env))?;
        let mut values = Self::values(&row, &fence.replica, epoch);
        values.push(id.into());
        let done = self
            .db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DatabaseBackend::Postgres,
                "UPDATE sync_attempts SET revision = $2, trigger = $3, started = $4, duration_ms = $5, result = $6, \
                 changes = $7, errors = $8, reason = $9, deployed = $10, head = $11, replica = $12, epoch = $13 \
                 WHERE id = $14 AND env = $1 AND EXISTS ( \
                   SELECT 1 FROM ferry_leases WHERE env = $1 AND holder = $12 AND epoch = $13 AND expires_at > now())",
                values,
            ))
            .await?;
        if done.rows_affected() == 0 {
            return Err(not_held(env));
        }
        Ok(())
    }

    /// The 13 column values of a fenced insert or update, in the statements' order.
    fn values(row: &attempt::ActiveModel, replica: &str, epoch: i64) -> Vec<sea_orm::Value> {
        let v = |value: &sea_orm::ActiveValue<String>| value.clone().take().unwrap_or_default();
        let o = |value: &sea_orm::ActiveValue<Option<String>>| value.clone().take().flatten();
        vec![
            v(&row.env).into(),
            v(&row.revision).into(),
            v(&row.trigger).into(),
            v(&row.started).into(),
            row.duration_ms.clone().take().unwrap_or_default().into(),
            v(&row.result).into(),
            v(&row.changes).into(),
            v(&row.errors).into(),
            o(&row.reason).into(),
            o(&row.deployed).into(),
            o(&row.head).into(),
            replica.to_owned().into(),
            epoch.into(),
        ]
    }

    /// Write an apply ahead, as `Applying`; returns its row.
    pub(crate) async fn begin(&self, env: &str, a: &SyncAttempt) -> Result<i64, DbErr> {
        let row = Self::model(env, a);
        self.insert(
            env,
            attempt::ActiveModel {
                result: Set(APPLYING.into()),
                ..row
            },
        )
        .await
    }

    /// Store one finished attempt (completing its row if it was written ahead).
    pub(crate) async fn record(&self, env: &str, a: &SyncAttempt) -> Result<(), DbErr> {
        let row = Self::model(env, a);
        if let Some(id) = a.row {
            self.update(env, id, row).await
        } else {
            self.insert(env, row).await.map(|_| ())
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

/// The environment variable holding the PostgreSQL password, so that the URL (an argument, a
/// plain environment variable of a task definition) never carries it.
pub(crate) const PASSWORD_ENV: &str = "FERRY_DATABASE_PASSWORD";

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A PostgreSQL `url` without a password, with `password` put in (percent-encoded). Any other
/// URL, or one that has a password already, is returned as it is.
pub(crate) fn with_password(url: &str, password: Option<&str>) -> String {
    let Some(password) = password.filter(|p| !p.is_empty()) else {
        return url.to_owned();
    };
    if !is_postgres(url) {
        return url.to_owned();
    }
    let Ok(mut u) = url::Url::parse(url) else {
        return url.to_owned();
    };
    if u.password().is_some() || u.set_password(Some(password)).is_err() {
        return url.to_owned();
    }
    u.to_string()
}

/// Create the database `url` names on its server (through the `postgres` maintenance
/// database). Another replica creating it at the same moment is no error.
async fn create_database(url: &str) -> Result<(), DbErr> {
    let mut admin = url::Url::parse(url).map_err(|e| DbErr::Custom(e.to_string()))?;
    let name = admin.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        return Err(DbErr::Custom("the database URL names no database".into()));
    }
    admin.set_path("/postgres");
    let mut options = ConnectOptions::new(admin.to_string());
    options.max_connections(1).sqlx_logging(false);
    let db = Database::connect(options).await?;
    let quoted = format!("\"{}\"", name.replace('"', "\"\""));
    match db
        .execute_unprepared(&format!("CREATE DATABASE {quoted}"))
        .await
    {
        Ok(_) => {
            tracing::info!(database = %name, "created Ferry's history database");
            Ok(())
        }
        Err(e)
            if e.to_string().contains("already exists")
                || e.to_string().contains("duplicate key") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
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
        assert_eq!(tables, "3", "each migration applied once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn replicas_create_their_missing_database_once() {
        // A database that does not exist yet on the server `cargo xtask test` started.
        let existing = ferry_testkit::shared_pg_database();
        let mut url = url::Url::parse(&existing).expect("url");
        let name = format!("ferry_new_{}", std::process::id());
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
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
        let migrations =
            ferry_testkit::psql(&url, "SELECT count(*) FROM seaql_migrations").expect("psql");
        assert_eq!(migrations, "3", "created once, migrated once");
    }

    #[test]
    fn a_password_from_its_own_variable_goes_into_a_postgresql_url_encoded() {
        assert_eq!(
            with_password(
                "postgres://ferry@db:5432/ferry?sslmode=require",
                Some("p@ss/w:rd")
            ),
            "postgres://ferry:p%40ss%2Fw%3Ard@db:5432/ferry?sslmode=require"
        );
        // A URL with its own password, SQLite, or no password: unchanged.
        assert_eq!(
            with_password("postgres://u:own@db/ferry", Some("other")),
            "postgres://u:own@db/ferry"
        );
        assert_eq!(
            with_password("sqlite://x.db?mode=rwc", Some("p")),
            "sqlite://x.db?mode=rwc"
        );
        assert_eq!(
            with_password("postgres://u@db/f", None),
            "postgres://u@db/f"
        );
    }

    fn table(db: &DatabaseConnection, me: &str) -> super::super::lease::LeaseTable {
        super::super::lease::LeaseTable {
            db: db.clone(),
            me: me.to_owned(),
            settings: super::super::lease::LeaseSettings {
                duration: std::time::Duration::from_secs(60),
                renew_every: std::time::Duration::from_secs(1),
                join_delay: std::time::Duration::ZERO,
            },
        }
    }

    fn applying(revision: &str) -> SyncAttempt {
        SyncAttempt {
            revision: revision.into(),
            trigger: "revision".into(),
            started: "2026-12-01T00:00:00Z".into(),
            ..SyncAttempt::default()
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_takeover_marks_only_the_previous_owners_applies_and_fences_its_late_writes() {
        let url = ferry_testkit::shared_pg_database();
        let a_fence = Fence::new("a");
        let b_fence = Fence::new("b");
        let a = History::open(&url)
            .await
            .expect("open")
            .fenced(a_fence.clone());
        let b = History::open(&url)
            .await
            .expect("open")
            .fenced(b_fence.clone());
        let (a_leases, b_leases) = (table(&a.db, "a"), table(&b.db, "b"));

        // a applies dev, b applies prod, each under its lease.
        let dev = a_leases
            .acquire("dev")
            .await
            .expect("sql")
            .expect("dev is free");
        a_fence.insert("dev", dev);
        let prod = b_leases
            .acquire("prod")
            .await
            .expect("sql")
            .expect("prod is free");
        b_fence.insert("prod", prod);
        assert_eq!(
            b_leases.acquire("dev").await.expect("sql"),
            None,
            "dev is held"
        );
        let dev_row = a.begin("dev", &applying("r1")).await.expect("a writes dev");
        let prod_row = b
            .begin("prod", &applying("r1"))
            .await
            .expect("b writes prod");
        assert!(
            b.begin("dev", &applying("r1")).await.is_err(),
            "b does not hold dev"
        );

        // a's lease on dev lapses (a froze); b takes dev at a newer epoch.
        ferry_testkit::psql(
            &url,
            "UPDATE ferry_leases SET expires_at = now() - interval '1 second' WHERE env = 'dev'",
        )
        .expect("psql");
        let taken = b_leases
            .acquire("dev")
            .await
            .expect("sql")
            .expect("dev lapsed");
        assert!(taken > dev, "a takeover bumps the fencing token");
        b_fence.insert("dev", taken);
        assert_eq!(b.mark_interrupted("dev", taken).await.expect("mark"), 1);
        let result = |id: i64| {
            ferry_testkit::psql(
                &url,
                &format!("SELECT result FROM sync_attempts WHERE id = {id}"),
            )
            .expect("psql")
        };
        assert_eq!(result(dev_row), "Interrupted", "the previous owner's apply");
        assert_eq!(
            result(prod_row),
            "Applying",
            "a live replica's apply is left alone"
        );

        // a wakes and finishes its attempt: the database refuses it (a still thinks it holds
        // dev at its old epoch).
        let mut late = applying("r1");
        late.row = Some(dev_row);
        late.result = "Succeeded".into();
        let refused = a.record("dev", &late).await;
        assert!(
            refused.is_err(),
            "a late write under a lost lease is refused"
        );
        late.row = None;
        assert!(a.record("dev", &late).await.is_err());
        assert_eq!(result(dev_row), "Interrupted");
        let rows = ferry_testkit::psql(
            &url,
            "SELECT count(*) FROM sync_attempts WHERE replica = 'a' AND result <> 'Interrupted'",
        )
        .expect("psql");
        assert_eq!(rows, "0", "nothing else of a's was written");
        // The new owner writes.
        b.record(
            "dev",
            &SyncAttempt {
                result: "Succeeded".into(),
                ..applying("r2")
            },
        )
        .await
        .expect("b writes dev now");
    }
}

//! Schema migrations (sea-orm-migration). Append new migrations; never edit a shipped one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, big_pk_auto, string, timestamp_with_time_zone};

/// Every migration of the numbers schema, in order.
pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateNumbers)]
    }
}

#[derive(DeriveIden)]
enum Numbers {
    Table,
    Id,
    Value,
    CreatedAt,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Key,
    NumberId,
    Value,
    CreatedAt,
}

/// The `numbers` table and the `idempotency_keys` table that remembers POST results.
struct CreateNumbers;

impl MigrationName for CreateNumbers {
    fn name(&self) -> &str {
        "m20261129_000001_create_numbers"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNumbers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Numbers::Table)
                    .if_not_exists()
                    .col(big_pk_auto(Numbers::Id))
                    .col(big_integer(Numbers::Value))
                    .col(timestamp_with_time_zone(Numbers::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(IdempotencyKeys::Table)
                    .if_not_exists()
                    .col(string(IdempotencyKeys::Key).primary_key())
                    .col(big_integer(IdempotencyKeys::NumberId))
                    .col(big_integer(IdempotencyKeys::Value))
                    .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IdempotencyKeys::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Numbers::Table).to_owned())
            .await
    }
}

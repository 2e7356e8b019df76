//! sea-orm entities for the tables the migrations create. Data shapes only, no queries.

/// A stored number.
pub mod number {
    use sea_orm::entity::prelude::*;

    /// One row of `numbers`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "numbers")]
    pub struct Model {
        /// Increasing identifier; also the keyset pagination key.
        #[sea_orm(primary_key)]
        pub id: i64,
        /// The stored integer.
        pub value: i64,
        /// When it was stored (UTC).
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The first result of a POST made with an `Idempotency-Key`.
pub mod idempotency_key {
    use sea_orm::entity::prelude::*;

    /// One row of `idempotency_keys`.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "idempotency_keys")]
    pub struct Model {
        /// The client's key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// The number the first request stored.
        pub number_id: i64,
        /// The value the first request stored (a replay with another value is refused).
        pub value: i64,
        /// When the first request stored it.
        pub created_at: DateTimeUtc,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

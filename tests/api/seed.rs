//! Tenants filled fast: users inserted straight through the store, for the
//! volumes (thousands to 100,000) the SCIM API would take minutes to create.

use scimgate::provision::represent;
use scimgate::store::bulk;
use scimgate::store::resources::{self, Row};
use serde_json::Value;

use crate::helpers::TestApp;

/// Inserts users straight through the store, in one transaction: for
/// volumes the SCIM API would take minutes to create.
pub async fn seed_users(app: &TestApp, tenant_id: &str, n: usize, doc: impl Fn(usize) -> Value) {
    let at = scimgate::store::now();
    let users: Vec<(Row, resources::Indexed)> = (0..n)
        .map(|i| {
            let doc = doc(i);
            let ix = represent::indexed(scim::ResourceKind::User, &doc);
            let row = Row {
                id: scimgate::store::new_id(),
                doc: doc.to_string(),
                version: 1,
                created_at: at.clone(),
                updated_at: at.clone(),
                derived_role: None,
                derived_groups: None,
            };
            (row, ix)
        })
        .collect();
    let mut tx = app.db.begin().await.unwrap();
    bulk::insert_users(&mut tx, tenant_id, &users)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

//! What each tenant with a budget spent this calendar month (UTC), from the
//! router's cost accounting. Held in memory and written to the node's redb
//! file at most once a second per tenant (off the request's thread), so a
//! restart keeps the month's spend, losing at most the last second of it.
//! Only tenants with a budget are tracked: the others cost nothing here.

use crate::tenant::Tenant;
use redb::{Database, ReadableTable, TableDefinition};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

/// `"<tenant>\0<yyyy-mm>"` → USD spent.
const TABLE: TableDefinition<&str, f64> = TableDefinition::new("tenant_spend");

/// How often one tenant's spend is written at most.
const PERSIST_EVERY: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct SpendLedger {
    db: Option<Arc<Database>>,
    tenants: Mutex<HashMap<Tenant, Month>>,
}

struct Month {
    /// `yyyy-mm`.
    month: String,
    usd: f64,
    persisted_at: Option<Instant>,
}

/// The current month, `yyyy-mm` (UTC).
fn this_month() -> String {
    let mut text = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    text.truncate(7);
    text
}

fn key(tenant: &Tenant, month: &str) -> String {
    format!("{tenant}\0{month}")
}

impl SpendLedger {
    /// A ledger kept in `db` (none: in memory only, for tests).
    pub fn new(db: Option<Arc<Database>>) -> SpendLedger {
        SpendLedger {
            db,
            tenants: Mutex::default(),
        }
    }

    /// What `tenant` spent this month, and the month.
    pub fn spent(&self, tenant: &Tenant) -> (f64, String) {
        let month = this_month();
        let mut tenants = crate::lock(&self.tenants);
        let entry = self.entry(&mut tenants, tenant, &month);
        (entry.usd, month)
    }

    /// Adds `usd` to `tenant`'s month.
    pub fn add(&self, tenant: &Tenant, usd: f64) {
        if !(usd.is_finite() && usd > 0.0) {
            return;
        }
        let month = this_month();
        let mut tenants = crate::lock(&self.tenants);
        let entry = self.entry(&mut tenants, tenant, &month);
        entry.usd += usd;
        let due = entry
            .persisted_at
            .is_none_or(|at| at.elapsed() >= PERSIST_EVERY);
        if due && let Some(db) = &self.db {
            entry.persisted_at = Some(Instant::now());
            let (db, key, usd) = (db.clone(), key(tenant, &month), entry.usd);
            let write = move || {
                if let Err(e) = write(&db, &key, usd) {
                    tracing::warn!(error = %e, "cannot record a tenant's spend");
                }
            };
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(write)),
                Err(_) => write(),
            }
        }
    }

    /// Writes every tenant's month now (at shutdown).
    pub fn flush(&self) {
        let Some(db) = &self.db else { return };
        let tenants = crate::lock(&self.tenants);
        for (tenant, m) in tenants.iter() {
            if let Err(e) = write(db, &key(tenant, &m.month), m.usd) {
                tracing::warn!(error = %e, "cannot record a tenant's spend");
            }
        }
    }

    fn entry<'a>(
        &self,
        tenants: &'a mut HashMap<Tenant, Month>,
        tenant: &Tenant,
        month: &str,
    ) -> &'a mut Month {
        let stale = tenants.get(tenant).is_none_or(|m| m.month != month);
        if stale {
            let usd = self.db.as_ref().map_or(0.0, |db| {
                read(db, &key(tenant, month)).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read a tenant's spend");
                    0.0
                })
            });
            tenants.insert(
                tenant.clone(),
                Month {
                    month: month.to_string(),
                    usd,
                    persisted_at: None,
                },
            );
        }
        tenants.get_mut(tenant).expect("inserted above")
    }
}

fn read(db: &Database, key: &str) -> Result<f64, redb::Error> {
    let tx = db.begin_read()?;
    let table = match tx.open_table(TABLE) {
        Ok(table) => table,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0.0),
        Err(e) => return Err(e.into()),
    };
    Ok(table.get(key)?.map_or(0.0, |v| v.value()))
}

fn write(db: &Database, key: &str, usd: f64) -> Result<(), redb::Error> {
    let tx = db.begin_write()?;
    {
        let mut table = tx.open_table(TABLE)?;
        let current = table.get(key)?.map_or(0.0, |v| v.value());
        // Writes may land out of order (blocking threads): never go back.
        if usd > current {
            table.insert(key, usd)?;
        }
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spend_adds_up_per_tenant_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("node.redb")).unwrap());
        let (a, b) = (Tenant::from("a"), Tenant::from("b"));
        let ledger = SpendLedger::new(Some(db.clone()));
        assert_eq!(ledger.spent(&a).0, 0.0);
        ledger.add(&a, 0.25);
        ledger.add(&a, 0.5);
        ledger.add(&b, 1.0);
        ledger.add(&b, f64::NAN);
        assert_eq!(ledger.spent(&a).0, 0.75);
        assert_eq!(ledger.spent(&b).0, 1.0);
        assert_eq!(ledger.spent(&a).1, this_month());
        ledger.flush();
        drop(ledger);

        let reopened = SpendLedger::new(Some(db));
        assert_eq!(reopened.spent(&a).0, 0.75);
        assert_eq!(reopened.spent(&b).0, 1.0);
    }
}

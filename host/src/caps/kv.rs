//! `hanzo:node/kv`: per-tenant, per-plugin key-value storage on the node's redb
//! file. The namespace comes from the call (tenant, plugin), never from the
//! plugin, so one plugin or tenant cannot name another's keys.

use crate::bindings::kv::{Host, KvError};
use crate::call_state::CallState;
use crate::grants::Capability;
use crate::kv_table::{KvTable, Namespace};
use std::sync::Arc;

/// Longest key accepted.
const MAX_KEY: usize = 1024;

impl CallState {
    /// The kv table and this call's namespace in it, when the plugin holds
    /// `permissions.kv` and `key` is acceptable.
    fn kv(&self, key: &str) -> wasmtime::Result<Result<(Arc<KvTable>, Namespace), KvError>> {
        let node = match self.granted(Capability::Kv)? {
            Ok(node) => node,
            Err(denied) => return Ok(Err(KvError::Denied(denied.to_string()))),
        };
        if let Err(e) = check_key(key) {
            return Ok(Err(e));
        }
        let ns = Namespace::new(&self.tenant, &self.grants.plugin);
        Ok(Ok((node.kv().clone(), ns)))
    }
}

fn check_key(key: &str) -> Result<(), KvError> {
    if key.len() > MAX_KEY {
        return Err(KvError::TooLarge(MAX_KEY as u64));
    }
    Ok(())
}

impl Host for CallState {
    async fn get(&mut self, key: String) -> wasmtime::Result<Result<Option<Vec<u8>>, KvError>> {
        let (store, ns) = match self.kv(&key)? {
            Ok(kv) => kv,
            Err(e) => return Ok(Err(e)),
        };
        Ok(tokio::task::spawn_blocking(move || store.kv_get(&ns, &key))
            .await?
            .map_err(|e| KvError::Store(e.to_string())))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        let (store, ns) = match self.kv(&key)? {
            Ok(kv) => kv,
            Err(e) => return Ok(Err(e)),
        };
        let max = self.grants.limits.kv_value_bytes;
        if value.len() as u64 > max {
            return Ok(Err(KvError::TooLarge(max)));
        }
        let quota = self.node()?.kv_quota(&self.tenant);
        Ok(
            match tokio::task::spawn_blocking(move || store.kv_set(&ns, &key, &value, quota))
                .await?
            {
                Ok(Ok(())) => Ok(()),
                Ok(Err(over)) => Err(KvError::QuotaExceeded(over.to_string())),
                Err(e) => Err(KvError::Store(e.to_string())),
            },
        )
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        let (store, ns) = match self.kv(&key)? {
            Ok(kv) => kv,
            Err(e) => return Ok(Err(e)),
        };
        Ok(
            tokio::task::spawn_blocking(move || store.kv_delete(&ns, &key))
                .await?
                .map_err(|e| KvError::Store(e.to_string())),
        )
    }

    async fn list_keys(
        &mut self,
        prefix: String,
        limit: u32,
    ) -> wasmtime::Result<Result<Vec<String>, KvError>> {
        let (store, ns) = match self.kv(&prefix)? {
            Ok(kv) => kv,
            Err(e) => return Ok(Err(e)),
        };
        let limit = limit.min(10_000) as usize;
        Ok(
            tokio::task::spawn_blocking(move || store.kv_list(&ns, &prefix, limit))
                .await?
                .map_err(|e| KvError::Store(e.to_string())),
        )
    }
}

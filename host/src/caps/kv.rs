//! `hanzo:node/kv`: per-tenant, per-plugin key-value storage on the node's redb
//! file. The namespace comes from the call (tenant, plugin), never from the
//! plugin, so one plugin or tenant cannot name another's keys.

use crate::bindings::kv::{Host, KvError};
use crate::call_state::CallState;
use crate::grants::Capability;
use crate::kv_table::Namespace;

/// Longest key accepted.
const MAX_KEY: usize = 1024;

impl CallState {
    fn kv_namespace(&self) -> Result<Namespace, KvError> {
        if !self.grants.allows(Capability::Kv) {
            return Err(KvError::Denied);
        }
        Ok(Namespace::new(&self.tenant, &self.grants.plugin))
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
        let ns = match self
            .kv_namespace()
            .and_then(|ns| check_key(&key).map(|_| ns))
        {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        let store = self.node()?.kv().clone();
        Ok(tokio::task::spawn_blocking(move || store.kv_get(&ns, &key))
            .await?
            .map_err(|e| KvError::Store(e.to_string())))
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<Result<(), KvError>> {
        let ns = match self
            .kv_namespace()
            .and_then(|ns| check_key(&key).map(|_| ns))
        {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        let max = self.grants.limits.kv_value_bytes;
        if value.len() as u64 > max {
            return Ok(Err(KvError::TooLarge(max)));
        }
        let store = self.node()?.kv().clone();
        Ok(
            tokio::task::spawn_blocking(move || store.kv_set(&ns, &key, &value))
                .await?
                .map_err(|e| KvError::Store(e.to_string())),
        )
    }

    async fn delete(&mut self, key: String) -> wasmtime::Result<Result<bool, KvError>> {
        let ns = match self
            .kv_namespace()
            .and_then(|ns| check_key(&key).map(|_| ns))
        {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        let store = self.node()?.kv().clone();
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
        let ns = match self
            .kv_namespace()
            .and_then(|ns| check_key(&prefix).map(|_| ns))
        {
            Ok(ns) => ns,
            Err(e) => return Ok(Err(e)),
        };
        let store = self.node()?.kv().clone();
        let limit = limit.min(10_000) as usize;
        Ok(
            tokio::task::spawn_blocking(move || store.kv_list(&ns, &prefix, limit))
                .await?
                .map_err(|e| KvError::Store(e.to_string())),
        )
    }
}

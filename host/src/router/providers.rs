//! What the router needs from the node: provider plugins to call. The
//! runtime implements it; a unit test can give the router a fake.

use crate::bindings::llm_types::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ModelInfo,
};
use crate::context::CallCtx;
use crate::error::ProviderCallError;
use crate::tenant::Tenant;
use futures_util::future::BoxFuture;
use std::task::Poll;

/// Whose provider plugin a name finds for a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderScope {
    /// The node's, shared by every tenant allowed it.
    Node,
    /// The tenant's own (its state is the tenant's alone).
    Own,
}

/// A provider plugin loaded now, with a key that changes with its version
/// (its model list is cached by it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderVersion {
    pub name: String,
    pub version: String,
    /// The tenant whose own plugin it is, if any.
    pub owner: Option<Tenant>,
}

/// Provider plugins by name, as a tenant sees them, and calls of them in a
/// call context (tenant, the deployment's overlay).
pub trait Providers: Send + Sync {
    /// Whether `tenant` sees a provider plugin of this name, and whose.
    fn has_provider(&self, tenant: &Tenant, name: &str) -> Option<ProviderScope>;

    /// Whether the node can serve a deployment that needs privacy tier
    /// `tier` and `gpu_memory_mb` of free GPU memory; else why not.
    fn admits(&self, tier: u8, gpu_memory_mb: Option<u64>) -> Result<(), Refusal> {
        let _ = (tier, gpu_memory_mb);
        Ok(())
    }

    /// The provider plugins `tenant` sees: the node's and its own.
    fn provider_versions(&self, tenant: &Tenant) -> Vec<ProviderVersion>;

    fn models<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
    ) -> BoxFuture<'a, Result<Vec<ModelInfo>, ProviderCallError>>;

    fn chat<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<ChatResponse, ProviderCallError>>;

    fn embed<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a EmbedRequest,
    ) -> BoxFuture<'a, Result<EmbedResponse, ProviderCallError>>;

    /// The request's input tokens, counted by the provider's upstream.
    fn count_tokens<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<u32, ProviderCallError>>;

    /// Opens a streamed chat.
    fn stream<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Box<dyn ProviderStream>, ProviderCallError>>;
}

/// Why the node cannot serve a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not on this node: a privacy tier it lacks, no GPU that large.
    Never(String),
    /// Not now: GPUs large enough exist, but none has the memory free.
    Busy(String),
}

/// The most chunks a stream takes from a plugin, or hands to one, in one
/// call: more than an upstream sends in one packet, few enough that a
/// batch's memory stays bounded whatever a plugin buffers or asks for.
pub const STREAM_BATCH_MAX: u32 = 64;

/// A streamed chat answer of a provider.
pub trait ProviderStream: Send {
    /// The next chunk; `None` once the stream ended. After an error the stream ends.
    fn next(&mut self) -> BoxFuture<'_, Option<Result<ChatChunk, ProviderCallError>>>;

    /// What [`next`](Self::next) would answer, when it answers without
    /// waiting (a chunk already here, or the end already known); `Pending`
    /// when it would wait.
    fn ready(&mut self) -> Poll<Option<Result<ChatChunk, ProviderCallError>>> {
        Poll::Pending
    }
}

//! What the router needs from the node: provider plugins to call. The
//! runtime implements it; a unit test can give the router a fake.

use crate::bindings::llm_types::{
    ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ModelInfo,
};
use crate::context::CallCtx;
use crate::error::ProviderCallError;
use futures_util::future::BoxFuture;

/// Provider plugins by name, and calls of them in a call context (tenant,
/// the deployment's overlay).
pub trait Providers: Send + Sync {
    /// Whether a provider plugin of this name is loaded.
    fn has_provider(&self, name: &str) -> bool;

    /// The provider plugins loaded now, each with a key that changes with
    /// its version (their model lists are cached by it).
    fn provider_versions(&self) -> Vec<(String, String)>;

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

    /// Opens a streamed chat.
    fn stream<'a>(
        &'a self,
        provider: &'a str,
        ctx: CallCtx,
        request: &'a ChatRequest,
    ) -> BoxFuture<'a, Result<Box<dyn ProviderStream>, ProviderCallError>>;
}

/// A streamed chat answer of a provider.
pub trait ProviderStream: Send {
    /// The next chunk; `None` once the stream ended. After an error the stream ends.
    fn next(&mut self) -> BoxFuture<'_, Option<Result<ChatChunk, ProviderCallError>>>;
}

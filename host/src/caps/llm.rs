//! `hanzo:node/llm`: the LLM router for API plugins (and later agents). The
//! plugin names a model alias; the router chooses, fails over, retries,
//! limits, caches and accounts, calling provider plugins in their own sandboxes
//! on behalf of the same tenant.

use crate::bindings::llm::{
    CallOptions, ChatResult, ChunkBatch, EmbedResult, Host, HostChatStream, LlmError, Model, Route,
};
use crate::bindings::llm_types::{ChatChunk, ChatRequest, EmbedRequest};
use crate::bindings::resources::LlmStream as RouterStream;
use crate::call_state::{CallState, Services};
use crate::grants::Capability;
use std::sync::Arc;
use wasmtime::component::Resource;

impl CallState {
    /// The node, when the plugin holds `permissions.llm`; else the
    /// `denied` error naming the grant.
    fn llm_node(&self) -> wasmtime::Result<Result<Arc<dyn Services>, LlmError>> {
        Ok(self
            .granted(Capability::Llm)?
            .map_err(|denied| LlmError::Denied(denied.to_string())))
    }
}

impl Host for CallState {
    async fn models(&mut self) -> wasmtime::Result<Result<Vec<Model>, LlmError>> {
        let node = match self.llm_node()? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(node.router().models(&self.tenant).await))
    }

    async fn chat(
        &mut self,
        request: ChatRequest,
        options: CallOptions,
    ) -> wasmtime::Result<Result<ChatResult, LlmError>> {
        let node = match self.llm_node()? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        Ok(node
            .router()
            .chat(self.tenant.clone(), request, options)
            .await)
    }

    async fn stream_chat(
        &mut self,
        request: ChatRequest,
        _options: CallOptions,
    ) -> wasmtime::Result<Result<Resource<RouterStream>, LlmError>> {
        let node = match self.llm_node()? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        match node.router().stream(self.tenant.clone(), request).await {
            Ok(stream) => Ok(Ok(self.table().push(RouterStream(Box::new(stream)))?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn embed(
        &mut self,
        request: EmbedRequest,
        options: CallOptions,
    ) -> wasmtime::Result<Result<EmbedResult, LlmError>> {
        let node = match self.llm_node()? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        Ok(node
            .router()
            .embed(self.tenant.clone(), request, options)
            .await)
    }

    async fn count_tokens(
        &mut self,
        request: ChatRequest,
    ) -> wasmtime::Result<Result<u32, LlmError>> {
        let node = match self.llm_node()? {
            Ok(node) => node,
            Err(e) => return Ok(Err(e)),
        };
        Ok(node
            .router()
            .count_tokens(self.tenant.clone(), request)
            .await)
    }
}

impl HostChatStream for CallState {
    async fn route(&mut self, stream: Resource<RouterStream>) -> wasmtime::Result<Route> {
        Ok(self.table().get(&stream)?.0.route().clone())
    }

    async fn next(
        &mut self,
        stream: Resource<RouterStream>,
    ) -> wasmtime::Result<Option<Result<ChatChunk, LlmError>>> {
        Ok(self.table().get_mut(&stream)?.0.next().await)
    }

    async fn next_many(
        &mut self,
        stream: Resource<RouterStream>,
        max: u32,
    ) -> wasmtime::Result<ChunkBatch> {
        // 0 would answer an empty batch; a plugin's huge `max` must not make
        // the host hold more than a batch.
        let max = max.clamp(1, crate::router::STREAM_BATCH_MAX) as usize;
        Ok(self.table().get_mut(&stream)?.0.next_many(max).await)
    }

    async fn drop(&mut self, stream: Resource<RouterStream>) -> wasmtime::Result<()> {
        self.table().delete(stream)?;
        Ok(())
    }
}

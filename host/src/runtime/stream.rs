//! A streamed chat answer pulled from a provider plugin, one chunk per call.

use super::Runtime;
use super::lease::{Lease, Release};
use crate::bindings::llm_types::{ChatChunk, ChatRequest};
use crate::bindings::versioned::Provider;
use crate::context::CallCtx;
use crate::error::ProviderCallError;
use crate::plugins::LoadedPlugin;
use std::sync::Arc;
use wasmtime::component::ResourceAny;

impl Runtime {
    /// Starts a streamed chat. The stream holds its instance (and a
    /// concurrency permit) until dropped; each pull is bounded by the
    /// plugin's time limit.
    pub async fn provider_stream(
        &self,
        provider: &str,
        ctx: impl Into<CallCtx>,
        request: &ChatRequest,
    ) -> Result<ChatStream, ProviderCallError> {
        let ctx = ctx.into();
        let plugin = self.plugin_for(&ctx.tenant, provider)?;
        let mut lease = self
            .lease::<Provider>(&plugin, ctx, true, Release::AfterResponse)
            .await?;
        let started = lease
            .call(async |p, s| p.stream_chat(s, request).await)
            .await?;
        match started {
            Ok(stream) => Ok(ChatStream {
                plugin,
                lease: Some(lease),
                stream,
                done: false,
            }),
            Err(e) => {
                lease.finish();
                Err(ProviderCallError::Provider(e))
            }
        }
    }
}

/// A streamed chat answer being pulled from a provider plugin.
pub struct ChatStream {
    plugin: Arc<LoadedPlugin>,
    /// Taken when the stream ends.
    lease: Option<Lease<Provider>>,
    stream: ResourceAny,
    done: bool,
}

impl ChatStream {
    /// The next chunk; `None` once the stream ended. After an error the stream ends.
    pub async fn next(&mut self) -> Option<Result<ChatChunk, ProviderCallError>> {
        if self.done {
            return None;
        }
        let lease = self.lease.as_mut()?;
        let stream = self.stream;
        let r = lease.call(async |p, s| p.next(s, stream).await).await;
        self.done = true;
        match r {
            Err(e) => Some(Err(e.into())),
            Ok(None) => {
                self.park().await;
                None
            }
            Ok(Some(Ok(chunk))) => {
                self.done = false;
                Some(Ok(chunk))
            }
            Ok(Some(Err(e))) => Some(Err(ProviderCallError::Provider(e))),
        }
    }

    /// After the stream's end: drops the plugin's stream resource and parks
    /// the instance for reuse, when the plugin opts in to it.
    async fn park(&mut self) {
        let Some(mut lease) = self.lease.take() else {
            return;
        };
        if !crate::warm::reuses(&self.plugin) {
            return;
        }
        let stream = self.stream;
        if lease
            .call(async |_, s| stream.resource_drop_async(s).await)
            .await
            .is_ok()
        {
            lease.finish();
        }
    }

    /// The plugin version serving this stream.
    pub fn plugin(&self) -> &Arc<LoadedPlugin> {
        &self.plugin
    }
}

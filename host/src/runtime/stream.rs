//! A streamed chat answer pulled from a provider plugin: each call takes
//! the chunks the plugin has ready (`next-many`), which are then handed out
//! one by one, so chunks the upstream sent together cross the plugin
//! boundary once.

use super::Runtime;
use super::lease::{Lease, Release};
use crate::bindings::llm_types::{ChatChunk, ChatRequest};
use crate::bindings::versioned::Provider;
use crate::context::CallCtx;
use crate::error::ProviderCallError;
use crate::plugins::LoadedPlugin;
use crate::router::STREAM_BATCH_MAX;
use std::collections::VecDeque;
use std::sync::Arc;
use std::task::Poll;
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
                ready: VecDeque::new(),
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
    /// Pulled from the plugin and not yet handed out; an error is last.
    ready: VecDeque<Result<ChatChunk, ProviderCallError>>,
    /// No more to pull from the plugin (what is `ready` is still handed out).
    done: bool,
}

impl ChatStream {
    /// The next chunk; `None` once the stream ended. After an error the stream ends.
    pub async fn next(&mut self) -> Option<Result<ChatChunk, ProviderCallError>> {
        if self.ready.is_empty() && !self.done {
            self.pull().await;
        }
        self.ready.pop_front()
    }

    /// What `next` would answer, when it answers without calling the
    /// plugin: a chunk already pulled, or the end the plugin announced.
    pub fn ready(&mut self) -> Poll<Option<Result<ChatChunk, ProviderCallError>>> {
        match self.ready.pop_front() {
            Some(item) => Poll::Ready(Some(item)),
            None if self.done => Poll::Ready(None),
            None => Poll::Pending,
        }
    }

    /// Takes the chunks the plugin has ready (waiting for the first).
    async fn pull(&mut self) {
        let Some(lease) = self.lease.as_mut() else {
            self.done = true;
            return;
        };
        let stream = self.stream;
        let r = lease
            .call(async |p, s| p.next_many(s, stream, STREAM_BATCH_MAX).await)
            .await;
        let batch = match r {
            Ok(batch) => batch,
            Err(e) => {
                self.done = true;
                self.ready.push_back(Err(e.into()));
                return;
            }
        };
        let failed = batch.chunks.last().is_some_and(Result::is_err);
        self.ready.extend(
            batch
                .chunks
                .into_iter()
                .map(|c| c.map_err(ProviderCallError::Provider)),
        );
        if batch.ended {
            self.done = true;
            // A clean end parks the instance now, before the chunks are
            // handed out: nothing else will call the plugin.
            if !failed {
                self.park().await;
            }
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

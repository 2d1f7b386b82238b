//! Streaming: opening a routed stream (failover and retries only before the
//! first chunk), and the stream itself, which charges usage when it ends.

use super::deployment::Deployment;
use super::disposition::llm_error;
use super::usage::Spent;
use super::{ProviderStream, Router, chat_needs};
use crate::bindings::llm::{ChunkBatch, LlmError, Route};
use crate::bindings::llm_types::{ChatChunk, ChatRequest, Usage as TokenUsage};
use crate::error::ProviderCallError;
use crate::tenant::Tenant;
use std::sync::Arc;
use std::task::Poll;

impl Router {
    /// Opens a stream on the first deployment that delivers a first chunk:
    /// failover and retries happen only before anything reached the client.
    pub async fn stream(
        self: &Arc<Self>,
        tenant: Tenant,
        request: ChatRequest,
    ) -> Result<RouterStream, LlmError> {
        let providers = self.providers()?;
        let alias = request.model.clone();
        let (needs, prompt) = chat_needs(&request, true);
        let ((inner, first), d, attempts) = self
            .drive(&tenant, &alias, needs, prompt, |d| {
                let mut req = request.clone();
                req.model = d.model.clone();
                let (providers, ctx) = (providers.clone(), self.ctx(&tenant, &d));
                async move {
                    let mut s = providers.stream(&d.provider, ctx, &req).await?;
                    match s.next().await {
                        Some(Err(e)) => Err(e),
                        Some(Ok(c)) => Ok((s, Some(c))),
                        None => Ok((s, None)),
                    }
                }
            })
            .await?;
        Ok(RouterStream {
            router: self.clone(),
            route: d.route(attempts, false, None),
            deployment: d,
            tenant,
            first,
            inner: Some(inner),
            usage: None,
        })
    }
}

/// A routed stream: the deployment's chat stream, its first chunk already
/// pulled, with usage charged when the stream ends.
pub struct RouterStream {
    router: Arc<Router>,
    deployment: Arc<Deployment>,
    pub route: Route,
    tenant: Tenant,
    first: Option<ChatChunk>,
    inner: Option<Box<dyn ProviderStream>>,
    usage: Option<TokenUsage>,
}

impl RouterStream {
    pub async fn next(&mut self) -> Option<Result<ChatChunk, LlmError>> {
        if let Some(c) = self.first.take() {
            return Some(self.account(Ok(c)));
        }
        match self.inner.as_mut()?.next().await {
            Some(item) => Some(self.account(item)),
            None => {
                self.finish();
                None
            }
        }
    }

    /// Up to `max` chunks: the next, waiting for it, then those the
    /// provider already sent, and whether the stream ended with them (an
    /// error is the last chunk and ends it).
    pub async fn next_many(&mut self, max: usize) -> ChunkBatch {
        let mut chunks = Vec::new();
        let Some(first) = self.next().await else {
            return ChunkBatch {
                chunks,
                ended: true,
            };
        };
        let mut ended = first.is_err();
        chunks.push(first);
        while !ended && chunks.len() < max {
            let Some(inner) = self.inner.as_mut() else {
                ended = true;
                break;
            };
            match inner.ready() {
                Poll::Ready(Some(item)) => {
                    let chunk = self.account(item);
                    ended = chunk.is_err();
                    chunks.push(chunk);
                }
                Poll::Ready(None) => {
                    self.finish();
                    ended = true;
                }
                Poll::Pending => break,
            }
        }
        ChunkBatch { chunks, ended }
    }

    /// Notes what a chunk says for the stream's accounting: its usage, or
    /// an error, which counts against the deployment and ends the stream.
    fn account(
        &mut self,
        item: Result<ChatChunk, ProviderCallError>,
    ) -> Result<ChatChunk, LlmError> {
        match item {
            Ok(c) => {
                if c.usage.is_some() {
                    self.usage = c.usage;
                }
                Ok(c)
            }
            Err(e) => {
                self.deployment.breaker.failure();
                self.finish();
                Err(llm_error(e))
            }
        }
    }

    /// Charges usage once, when the stream ends (or is dropped early).
    fn finish(&mut self) {
        if self.inner.take().is_some() {
            let cost = self
                .router
                .charge(&self.tenant, &self.deployment, self.usage.as_ref());
            if self.usage.is_none() {
                self.router.usage.record(
                    &self.tenant,
                    Some(&self.deployment.name),
                    Spent::default(),
                );
            }
            self.route.cost_usd = cost;
        }
    }
}

impl Drop for RouterStream {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A routed stream is what `hanzo:node/llm`'s `chat-stream` serves.
impl crate::bindings::resources::ChunkStream for RouterStream {
    fn route(&self) -> &Route {
        &self.route
    }

    fn next(&mut self) -> futures_util::future::BoxFuture<'_, Option<Result<ChatChunk, LlmError>>> {
        Box::pin(RouterStream::next(self))
    }

    fn next_many(&mut self, max: usize) -> futures_util::future::BoxFuture<'_, ChunkBatch> {
        Box::pin(RouterStream::next_many(self, max))
    }
}

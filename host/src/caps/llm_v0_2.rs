//! `hanzo:node/llm@0.2.0`, for API plugins built against that version: the
//! newest `llm` with its requests and answers converted (text only: a 0.2.0
//! message cannot hold an image).

use crate::bindings::resources::LlmStream as RouterStream;
use crate::bindings::v0_2::convert;
use crate::bindings::v0_2::llm::{
    CallOptions, ChatResult, EmbedResult, Host, HostChatStream, LlmError, Model, Route,
};
use crate::bindings::v0_2::llm_types::{ChatChunk, ChatRequest, EmbedRequest};
use crate::call_state::CallState;
use wasmtime::component::Resource;

impl Host for CallState {
    async fn models(&mut self) -> wasmtime::Result<Result<Vec<Model>, LlmError>> {
        Ok(crate::bindings::llm::Host::models(self)
            .await?
            .map(|m| m.into_iter().map(convert::down_model).collect())
            .map_err(convert::down_llm_error))
    }

    async fn chat(
        &mut self,
        request: ChatRequest,
        options: CallOptions,
    ) -> wasmtime::Result<Result<ChatResult, LlmError>> {
        let (request, options) = (
            convert::up_request(request),
            convert::up_call_options(options),
        );
        Ok(crate::bindings::llm::Host::chat(self, request, options)
            .await?
            .map(convert::down_chat_result)
            .map_err(convert::down_llm_error))
    }

    async fn stream_chat(
        &mut self,
        request: ChatRequest,
        options: CallOptions,
    ) -> wasmtime::Result<Result<Resource<RouterStream>, LlmError>> {
        let (request, options) = (
            convert::up_request(request),
            convert::up_call_options(options),
        );
        Ok(
            crate::bindings::llm::Host::stream_chat(self, request, options)
                .await?
                .map_err(convert::down_llm_error),
        )
    }

    async fn embed(
        &mut self,
        request: EmbedRequest,
        options: CallOptions,
    ) -> wasmtime::Result<Result<EmbedResult, LlmError>> {
        let (request, options) = (
            convert::up_embed_request(request),
            convert::up_call_options(options),
        );
        Ok(crate::bindings::llm::Host::embed(self, request, options)
            .await?
            .map(convert::down_embed_result)
            .map_err(convert::down_llm_error))
    }
}

impl HostChatStream for CallState {
    async fn route(&mut self, stream: Resource<RouterStream>) -> wasmtime::Result<Route> {
        Ok(convert::down_route(
            crate::bindings::llm::HostChatStream::route(self, stream).await?,
        ))
    }

    async fn next(
        &mut self,
        stream: Resource<RouterStream>,
    ) -> wasmtime::Result<Option<Result<ChatChunk, LlmError>>> {
        Ok(crate::bindings::llm::HostChatStream::next(self, stream)
            .await?
            .map(|r| r.map(convert::down_chunk).map_err(convert::down_llm_error)))
    }

    async fn drop(&mut self, stream: Resource<RouterStream>) -> wasmtime::Result<()> {
        crate::bindings::llm::HostChatStream::drop(self, stream).await
    }
}

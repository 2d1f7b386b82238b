//! The `hanzo-node` binary: `serve` runs the node; `plugin list|inspect` look
//! at plugins; `plugin keygen|sign|verify` handle publishers' signatures;
//! `tenant` manages tenants and keys; `hardware` shows the TEE and GPUs.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use hanzo_node::auth::KeyStore;
use hanzo_node::loader::LoadOutcome;
use hanzo_node::{NodeConfig, Runtime};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hanzo-node",
    version,
    about = "An AI node whose providers, tools and APIs are sandboxed WASM plugins"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the node: load the plugin directory, watch it, serve HTTP.
    Serve(NodeArgs),
    /// Look at plugins without running the node.
    #[command(subcommand)]
    Plugin(PluginCommand),
    /// Tenants and their keys, kept in <data-dir>/auth.redb (a running node
    /// picks changes up within a second).
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// What the node would run on, as `/v2/health` shows it: the TEE
    /// platform and privacy tier (by `[tee]` of the config), and the GPUs.
    Hardware {
        /// node.toml whose `[tee]` policy decides the tier.
        #[arg(long, env = "HANZO_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a tenant. Once one exists, every request needs a key.
    Create {
        /// 1-64 characters of a-z, 0-9, `-` and `_`.
        name: String,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// List the tenants and their keys (never a key's secret).
    List {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Add or revoke a tenant's keys.
    #[command(subcommand)]
    Key(KeyCommand),
}

#[derive(Subcommand)]
enum KeyCommand {
    /// Add an API key, printed once on stdout (only its hash is kept), or
    /// register an Ed25519 public key that signs requests.
    Add {
        tenant: String,
        /// The most the key may do: user, agent or admin.
        #[arg(long, default_value = "user")]
        scope: String,
        /// Expire after this long (`30d`, `12h`); default never.
        #[arg(long)]
        expires_in: Option<humantime::Duration>,
        /// Register this Ed25519 public key (hex) instead of making an API key.
        #[arg(long)]
        public_key: Option<String>,
        #[command(flatten)]
        node: NodeArgs,
    },
    /// Revoke a key by its id (`key_…`, from `tenant list`).
    Revoke {
        tenant: String,
        id: String,
        #[command(flatten)]
        node: NodeArgs,
    },
}

/// A plugin kind, as `plugin new --kind` takes it.
#[derive(Clone, Copy, clap::ValueEnum)]
enum KindArg {
    Tool,
    Provider,
    Api,
}

impl From<KindArg> for hanzo_node::plugins::PluginKind {
    fn from(k: KindArg) -> Self {
        match k {
            KindArg::Tool => Self::Tool,
            KindArg::Provider => Self::Provider,
            KindArg::Api => Self::Api,
        }
    }
}

#[derive(Subcommand)]
enum PluginCommand {
    /// Load every plugin of the plugin directory and show its state.
    List(NodeArgs),
    /// Show a component's kind, world, imports, exports, manifest problems,
    /// and what its manifest requests beside what this node grants it.
    Inspect {
        /// The `.wasm` file (its `plugin.toml` is read from the same folder).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// node.toml whose `[grants]` and `[plugins.<name>]` decide what is
        /// granted (default: ./node.toml when present, else built-in defaults).
        #[arg(long, env = "HANZO_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Write a new plugin project that builds with one command into a folder
    /// to drop into a node's plugin directory.
    New {
        /// The plugin's name (a-z, 0-9, `-`, `_`).
        name: String,
        #[arg(long, value_enum, default_value = "tool")]
        kind: KindArg,
        #[arg(long, value_enum, default_value = "rust")]
        lang: hanzo_node::scaffold::Lang,
        /// Where to write it (default: ./NAME).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Create a publisher's Ed25519 key: the secret in KEY (owner-only),
    /// the public key in KEY.pub (what operators put in grants.trusted_keys).
    Keygen { key: PathBuf },
    /// Sign plugin folders (their component and plugin.toml as they are now)
    /// into each folder's plugin.sig.
    Sign {
        /// The secret key file written by `keygen`.
        #[arg(long)]
        key: PathBuf,
        #[arg(required = true)]
        folders: Vec<PathBuf>,
    },
    /// Check a plugin folder's plugin.sig against its files and the trusted
    /// keys; exits 1 unless it is signed by a trusted key.
    Verify {
        folder: PathBuf,
        /// A public key file (`KEY.pub`) to trust besides the config's.
        #[arg(long)]
        trust: Vec<PathBuf>,
        /// node.toml whose `[grants]` names the trusted keys.
        #[arg(long, env = "HANZO_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// `--config`, else ./node.toml when present, else the defaults.
fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<NodeConfig> {
    Ok(match path {
        Some(path) => NodeConfig::load(path)?,
        None if std::path::Path::new("node.toml").is_file() => {
            NodeConfig::load("node.toml".as_ref())?
        }
        None => NodeConfig::default(),
    })
}

#[derive(Args)]
struct NodeArgs {
    /// node.toml to read (default: ./node.toml when present, else built-in defaults).
    #[arg(long, env = "HANZO_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on (default 127.0.0.1:3690).
    #[arg(long, env = "HANZO_LISTEN")]
    listen: Option<SocketAddr>,
    /// Plugin directory (default <data-dir>/plugins).
    #[arg(long, env = "HANZO_PLUGINS")]
    plugins: Option<PathBuf>,
    /// Data directory: database and compile cache (default ./hanzo-data).
    #[arg(long, env = "HANZO_DATA_DIR")]
    data_dir: Option<PathBuf>,
}

impl NodeArgs {
    fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let mut cfg = load_config(self.config.as_deref())?;
        if let Some(l) = self.listen {
            cfg.listen = l;
        }
        if let Some(p) = &self.plugins {
            cfg.plugins_dir = Some(p.clone());
        }
        if let Some(d) = &self.data_dir {
            cfg.data_dir = d.clone();
        }
        Ok(cfg)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HANZO_LOG").unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,wasmtime_cranelift=warn,cranelift=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli.command {
        Command::Serve(args) => {
            let cfg = args.node_config()?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(serve(cfg))
        }
        Command::Plugin(PluginCommand::List(args)) => {
            let cfg = args.node_config()?;
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(list(cfg))
        }
        Command::Tenant(command) => tenant(command),
        Command::Hardware { config } => {
            let cfg = load_config(config.as_deref())?;
            let hardware = hanzo_node::hardware::Hardware::probe_alone(cfg.tee);
            println!("{}", serde_json::to_string_pretty(&hardware.json())?);
            Ok(())
        }
        Command::Plugin(PluginCommand::New {
            name,
            kind,
            lang,
            dir,
        }) => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            let files = hanzo_node::scaffold::new_project(&name, kind.into(), lang, &dir)?;
            println!(
                "wrote {} files to {}
build: cd {} && {}
then copy {}/dist/{name} into the node's plugin directory",
                files.len(),
                dir.display(),
                dir.display(),
                lang.build_command(),
                dir.display(),
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Keygen { key }) => {
            let signing = hanzo_node::signing::generate_key().map_err(anyhow::Error::msg)?;
            hanzo_node::signing::write_key_pair(&key, &signing)
                .with_context(|| format!("cannot write {}", key.display()))?;
            println!(
                "secret key: {} (keep it private)\npublic key: {}.pub\n{}",
                key.display(),
                key.display(),
                hanzo_node::signing::public_key_hex(&signing.verifying_key())
            );
            Ok(())
        }
        Command::Plugin(PluginCommand::Sign { key, folders }) => {
            let text = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read {}", key.display()))?;
            let signing = hanzo_node::signing::parse_signing_key(&text)
                .map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
            for folder in folders {
                let sig = hanzo_node::inspect::sign_folder(&folder, &signing)?;
                println!("signed {}", sig.display());
            }
            Ok(())
        }
        Command::Plugin(PluginCommand::Verify {
            folder,
            trust,
            config,
        }) => {
            let mut cfg = load_config(config.as_deref())?;
            for t in trust {
                let key = std::fs::read_to_string(&t)
                    .with_context(|| format!("cannot read {}", t.display()))?;
                cfg.grants.trusted_keys.push(key.trim().to_string());
            }
            cfg.validate()?;
            let verdict = hanzo_node::inspect::verify_folder(&folder, &cfg)?;
            let v = verdict.to_json();
            println!(
                "{}: {}",
                folder.display(),
                v["state"].as_str().unwrap_or("-")
            );
            if let Some(key) = verdict.key() {
                println!("key: {key}");
            }
            if let Some(problem) = v["problem"].as_str() {
                println!("problem: {problem}");
            }
            if !verdict.trusted() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Plugin(PluginCommand::Inspect { file, json, config }) => {
            let cfg = load_config(config.as_deref())?;
            let report = hanzo_node::inspect::inspect(&file, &cfg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_inspect(&report);
            }
            if report["problems"].as_array().is_some_and(|p| !p.is_empty()) {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

/// Opens the port at once and loads the plugins meanwhile, then recovers
/// the jobs left from the last run (they need their tools): `/v2/health`
/// says `starting`, and lists the folders still loading, until both are
/// done.
async fn serve(cfg: NodeConfig) -> anyhow::Result<()> {
    let listen = cfg.listen;
    let runtime = Runtime::new(cfg)?;
    if let Some(problem) = runtime.auth.bind_problem(listen) {
        anyhow::bail!(problem);
    }
    let creds = runtime.auth.credentials();
    if creds.tenants == 0 {
        tracing::info!(
            "no tenant configured: serving loopback only, every request as the local tenant `default` with every level (add one with `hanzo-node tenant create`)"
        );
    } else {
        tracing::info!(
            tenants = creds.tenants,
            credentials = creds.key_count(),
            "authentication on: every request but those to public routes needs a tenant's key"
        );
    }
    tracing::info!(
        public_key = runtime.auth.identity.public_key_hex(),
        "node identity"
    );
    // Watching before the first load: a change made while it runs is not
    // missed (loads of one folder run one at a time).
    let _watcher = hanzo_node::loader::watcher::watch(runtime.clone())
        .context("cannot watch the plugin directory")?;
    // Tool lists that change with no file changing (an MCP server's).
    tokio::spawn(hanzo_node::loader::refresh::run(std::sync::Arc::downgrade(
        &runtime,
    )));
    // Vector collections indexed and compacted as they grow.
    tokio::spawn(hanzo_node::vectors::maintain_forever(
        std::sync::Arc::downgrade(&runtime.vectors),
        std::time::Duration::from_secs(runtime.config.vectors.maintain_every_s),
    ));
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "serving");
    // A machine-readable line for supervisors and tests that asked for port 0.
    println!("listening on http://{local}");
    // Containers a crash left behind go in the background: the engine may
    // be slow or absent, and start-up does not wait for it.
    {
        let containers = runtime.containers.clone();
        tokio::spawn(async move {
            match containers.remove_leftovers().await {
                Ok(0) => {}
                Ok(n) => tracing::info!(removed = n, "removed containers left by an earlier run"),
                Err(e) => tracing::info!(%e, "containers: unavailable until an engine answers"),
            }
        });
    }
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<anyhow::Error>();
    let startup = {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let outcomes = hanzo_node::loader::load_all(&runtime).await;
            let loaded = outcomes
                .iter()
                .filter(|(_, o)| *o == LoadOutcome::Loaded)
                .count();
            tracing::info!(
                dir = %runtime.plugins_dir.display(),
                loaded,
                failed = outcomes.len() - loaded,
                ms = started.elapsed().as_millis() as u64,
                "plugins loaded"
            );
            match runtime.start_jobs().await {
                Ok(()) => runtime.registry.set_started(),
                Err(e) => {
                    let _ = failed_tx.send(e);
                }
            }
        })
    };
    // A node whose job queue cannot start stops, as it did before serving.
    let mut failed = None;
    let stop = async {
        tokio::select! {
            _ = shutdown_signal() => {}
            Ok(e) = failed_rx => failed = Some(e),
        }
    };
    hanzo_node::server::serve(runtime.clone(), listener, stop).await?;
    startup.abort();
    if let Some(e) = failed {
        return Err(e.context("cannot start the job queue"));
    }
    let grace = std::time::Duration::from_secs(runtime.config.shutdown_grace_s);
    runtime.jobs.shutdown(grace).await;
    runtime.router.flush();
    // Processes kept between calls go with the node (a crash leaves them
    // to the next start's clean-up).
    let stopped = runtime.containers.processes.stop_idle().await;
    if stopped > 0 {
        tracing::info!(stopped, "container processes stopped");
    }
    Ok(())
}

/// The key store of the data directory `node` names.
fn key_store(node: &NodeArgs) -> anyhow::Result<KeyStore> {
    let dir = node.node_config()?.data_dir;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(KeyStore::new(&dir))
}

fn tenant(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create { name, node } => {
            let t = key_store(&node)?.create_tenant(&name)?;
            eprintln!(
                "created tenant `{}`; add a key with `hanzo-node tenant key add {}`",
                t.name, t.name
            );
        }
        TenantCommand::List { json, node } => {
            let store = key_store(&node)?;
            let (tenants, creds) = store.read()?;
            if json {
                let v = serde_json::json!({
                    "tenants": tenants.iter().map(|t| serde_json::json!({
                        "name": t.name,
                        "created_at": t.created_at,
                        "keys": creds.iter().filter(|c| c.tenant == t.name).map(|c| c.public_view()).collect::<Vec<_>>(),
                    })).collect::<Vec<_>>()
                });
                println!("{}", serde_json::to_string_pretty(&v)?);
                return Ok(());
            }
            let now = hanzo_node::auth::keys::unix_now();
            println!(
                "{:<20} {:<17} {:<8} {:<6} {:<20} STATE",
                "TENANT", "KEY", "KIND", "SCOPE", "PREFIX"
            );
            for t in &tenants {
                let mine: Vec<_> = creds.iter().filter(|c| c.tenant == t.name).collect();
                if mine.is_empty() {
                    println!("{:<20} {:<17}", t.name, "-");
                }
                for c in mine {
                    let state = if c.revoked_at.is_some() {
                        "revoked".to_string()
                    } else if !c.active(now) {
                        "expired".to_string()
                    } else if let Some(e) = c.expires_at {
                        format!("active, expires in {}s", e - now)
                    } else {
                        "active".to_string()
                    };
                    let kind = match c.kind {
                        hanzo_node::auth::keys::CredentialKind::ApiKey => "api_key",
                        hanzo_node::auth::keys::CredentialKind::Ed25519 => "ed25519",
                    };
                    let shown = c
                        .prefix
                        .clone()
                        .or_else(|| c.public_key.as_ref().map(|k| format!("{}…", &k[..16])))
                        .unwrap_or_default();
                    println!(
                        "{:<20} {:<17} {:<8} {:<6} {:<20} {}",
                        t.name, c.id, kind, c.scope, shown, state
                    );
                }
            }
        }
        TenantCommand::Key(KeyCommand::Add {
            tenant,
            scope,
            expires_in,
            public_key,
            node,
        }) => {
            let new = hanzo_node::auth::admin::new_key(
                Some(&scope),
                expires_in.map(|d| d.as_secs().max(1)),
                public_key,
            )
            .map_err(|e| anyhow::anyhow!(e))?;
            let (record, secret) = key_store(&node)?.add_key(&tenant, &new)?;
            match secret {
                Some(secret) => {
                    eprintln!(
                        "added key {} to tenant `{tenant}` (scope {}); its secret, shown only now:",
                        record.id, record.scope
                    );
                    println!("{secret}");
                }
                None => {
                    eprintln!(
                        "registered Ed25519 key {} for tenant `{tenant}` (scope {})",
                        record.id, record.scope
                    );
                    println!("{}", record.id);
                }
            }
        }
        TenantCommand::Key(KeyCommand::Revoke { tenant, id, node }) => {
            let record = key_store(&node)?.revoke(&tenant, &id)?;
            eprintln!("revoked key {} of tenant `{}`", record.id, record.tenant);
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn list(cfg: NodeConfig) -> anyhow::Result<()> {
    let runtime = Runtime::new(cfg)?;
    hanzo_node::loader::load_all(&runtime).await;
    let catalog = runtime.registry.catalog();
    println!(
        "{:<20} {:<9} {:<10} {:<7} DETAIL",
        "NAME", "KIND", "VERSION", "STATE"
    );
    for slot in catalog.slots.values() {
        let v = hanzo_node::server::slot_json(slot);
        let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
        let detail = match (&slot.error, &slot.current) {
            (Some(e), _) => e.clone(),
            (None, Some(p)) if !p.tools.is_empty() => {
                format!(
                    "tools: {}",
                    p.tools
                        .iter()
                        .map(|(t, _)| t.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            (None, Some(p)) if !p.manifest.routes.is_empty() => {
                format!("routes: {}", p.manifest.routes.join(", "))
            }
            _ => String::new(),
        };
        println!(
            "{:<20} {:<9} {:<10} {:<7} {}",
            s("name"),
            s("kind"),
            s("version"),
            s("state"),
            detail
        );
    }
    Ok(())
}

fn print_inspect(r: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("-").to_string();
    println!("file:    {}", s(&r["file"]));
    println!("size:    {} bytes", r["size"]);
    println!("blake3:  {}", s(&r["blake3"]));
    println!("kind:    {}", s(&r["kind"]));
    println!("world:   {}", s(&r["world"]));
    println!("exports:");
    for e in r["exports"].as_array().into_iter().flatten() {
        println!("  {}", s(e));
    }
    println!("imports:");
    for i in r["imports"].as_array().into_iter().flatten() {
        println!("  {}", s(i));
    }
    let m = &r["manifest"];
    if !m.is_null() {
        println!(
            "signature: {}{}",
            s(&m["signature"]["state"]),
            m["signature"]["key"]
                .as_str()
                .map(|k| format!(" (key {k})"))
                .unwrap_or_default()
        );
        println!("{:<9} {:<40} GRANTED", "GRANT", "REQUESTED");
        for key in [
            "http",
            "secrets",
            "kv",
            "llm",
            "tools",
            "jobs",
            "agents",
            "vectors",
            "containers",
        ] {
            let show = |v: &serde_json::Value| match v {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().unwrap_or("-"))
                    .collect::<Vec<_>>()
                    .join(", "),
                other => other.to_string(),
            };
            println!(
                "{key:<9} {:<40} {}",
                show(&m["requested"][key]),
                show(&m["granted"][key])
            );
        }
    }
    let problems = r["problems"].as_array().cloned().unwrap_or_default();
    if problems.is_empty() {
        println!("problems: none");
    } else {
        println!("problems:");
        for p in problems {
            println!("  - {}", s(&p));
        }
    }
}

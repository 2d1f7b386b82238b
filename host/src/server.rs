//! The HTTP server (hyper): the host's own endpoints (`/v2/health`,
//! `/v2/plugins`) and the route table that hands every other path to the API
//! plugin that declared it. Tenant resolution happens here, before any plugin
//! runs. Errors are JSON with stable codes.

use crate::auth::signature::SignedHeaders;
use crate::auth::{Auth, Denied, Level, Principal};
use crate::call_state::Tenant;
use crate::coalesce::Coalesced;
use crate::error::ApiError;
use crate::plugins::{Catalog, LoadedPlugin, Slot};
use crate::runtime::{ApiBody, Runtime};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::Watcher;
use serde_json::{Value, json};
use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;

fn fmt_time(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// A body of `bytes`, sent at once.
fn full(bytes: Bytes) -> ApiBody {
    Full::new(bytes)
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn json_response(status: StatusCode, body: &Value) -> Response<ApiBody> {
    let mut r = Response::new(full(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_response(e: &ApiError) -> Response<ApiBody> {
    let mut r = json_response(
        e.status,
        &serde_json::from_str(&e.body()).unwrap_or(Value::Null),
    );
    if e.status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut()
            .insert(header::ALLOW, header::HeaderValue::from_static("GET"));
    }
    r
}

/// The JSON view of a plugin slot, as `/v2/plugins` lists it.
pub fn slot_json(slot: &Slot) -> Value {
    let mut v = match &slot.current {
        Some(p) => plugin_json(p),
        None => json!({ "name": slot.folder, "state": "failed" }),
    };
    v["folder"] = json!(slot.folder);
    // Whose own plugin it is (`tenants/<tenant>/<folder>`); null: the node's.
    v["tenant"] = json!(crate::plugins::folder::owner(&slot.folder).as_deref());
    v["last_error"] = json!(slot.error);
    v["last_error_at"] = json!(slot.error_at.map(fmt_time));
    v
}

fn plugin_json(p: &LoadedPlugin) -> Value {
    let m = &p.manifest;
    json!({
        "name": m.name,
        "kind": m.kind.as_str(),
        "version": m.version,
        "description": m.description,
        "state": "loaded",
        "blake3": p.hash.to_hex().to_string(),
        "size": p.size,
        "loaded_at": fmt_time(p.loaded_at),
        "routes": m.routes,
        "route_levels": m.route_levels,
        "tools": p.tools.iter().map(|(s, _)| s.name.clone()).collect::<Vec<_>>(),
        // What the manifest asks for beside what the operator granted
        // (`crate::grants::resolve`), and whose signature it carries.
        "requested": p.grants.requested,
        "granted": p.grants.granted(),
        "signature": p.grants.signature.to_json(),
        // Declared secrets the node will not release here, and why.
        "secrets_withheld": p.grants.withheld,
        "tier": m.tier,
        "limits": {
            "memory_mb": m.limits.memory_mb,
            "timeout_ms": m.limits.timeout_ms,
            "max_concurrency": m.limits.max_concurrency,
            "calls_per_instance": m.limits.calls_per_instance,
        },
        // Calls that ran long and moved off the serving threads (`crate::sched`).
        "background_calls": p.cpu.moves(),
    })
}

fn health(rt: &Runtime, catalog: &Catalog) -> Value {
    let count = |kind: &str| {
        catalog
            .loaded()
            .filter(|p| p.manifest.kind.as_str() == kind)
            .count()
    };
    let failed = catalog.slots.values().filter(|s| s.error.is_some()).count();
    // `starting` until the plugins were loaded once and the jobs recovered: the port opens
    // before, and `loading` names the folders still on their way.
    let status = if rt.registry.started() {
        "ok"
    } else {
        "starting"
    };
    json!({
        "status": status,
        "version": crate::VERSION,
        // The node's Ed25519 identity; `local`: no tenant configured, loopback only.
        "identity": { "public_key": rt.auth.identity.public_key_hex() },
        "auth": if rt.auth.local() { "local" } else { "keys" },
        "uptime_s": rt.started.elapsed().as_secs_f64(),
        "plugins": {
            "loading": rt.registry.loading(),
            "loaded": catalog.loaded().count(),
            "failed": failed,
            "provider": count("provider"),
            "tool": count("tool"),
            "api": count("api"),
        },
        "active_calls": rt.engine.active_calls(),
        // Instances waiting for the next call of plugins that reuse them.
        "parked_instances": rt.warm.idle(),
        "parked_memory_mb": rt.warm.bytes() >> 20,
        "jobs": rt.jobs.stats(),
        // Plugin log lines over their rate limit, by plugin, since start.
        "log_lines_dropped": rt.logs.dropped(),
        "compile": {
            "compiled": rt.engine.compiled.load(std::sync::atomic::Ordering::Relaxed),
            "cache_hits": rt.engine.cache_hits.load(std::sync::atomic::Ordering::Relaxed),
        },
        // The TEE the node runs in and the privacy tier it proves; its GPUs.
        "tee": rt.tee.json(),
        "gpu": rt.gpus.json(),
    })
}

/// The level each of the host's own routes needs (`None`: not a host route).
fn host_level(path: &str) -> Option<Level> {
    match path {
        "/v2/health" => Some(Level::Public),
        // A tenant's own jobs and usage.
        "/v2/ws" | "/v2/usage" => Some(Level::User),
        // The node's evidence for a caller's nonce, and the verdict on anyone's.
        "/v2/attestation" | "/v2/attestation/verify" => Some(Level::User),
        "/v2/plugins" | "/v2/deployments" | "/v2/tenants" | "/v2/tool-settings" | "/v2/keys" => {
            Some(Level::Admin)
        }
        p if p.starts_with("/v2/plugins/")
            || p.starts_with("/v2/tenants/")
            || p.starts_with("/v2/tool-settings/")
            || p.starts_with("/v2/keys/") =>
        {
            Some(Level::Admin)
        }
        _ => None,
    }
}

fn body_too_large(max: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "body_too_large",
        format!("request body exceeds {max} bytes"),
    )
}

/// A refusal: 401 `unauthorized` (with `WWW-Authenticate`) or 403 `forbidden`.
fn denied(d: Denied) -> Response<ApiBody> {
    match d {
        Denied::Unauthorized(message) => {
            let mut r = error_response(&ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                message,
            ));
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"hanzo-node\""),
            );
            r
        }
        Denied::Forbidden(message) => {
            error_response(&ApiError::new(StatusCode::FORBIDDEN, "forbidden", message))
        }
    }
}

/// A request's body: still streaming, or read whole (to check a signature).
enum Body {
    Stream(Incoming),
    Read(Bytes),
}

/// Reads a body of at most `max` bytes.
async fn read_body(body: Incoming, max: u64) -> Result<Bytes, ApiError> {
    match Limited::new(body, max as usize).collect().await {
        Ok(b) => Ok(b.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(body_too_large(max)),
        Err(e) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "body_read_failed",
            format!("cannot read the request body: {e}"),
        )),
    }
}

/// Who sends the request, if it may call a route of `level`; the body,
/// read when a signature covers it.
async fn authenticate(
    rt: &Runtime,
    parts: &http::request::Parts,
    body: Incoming,
    level: Level,
) -> Result<(Principal, Body), Response<ApiBody>> {
    let auth = &rt.auth;
    if auth.local() {
        return Ok((Auth::local_principal(), Body::Stream(body)));
    }
    let (principal, body) = match SignedHeaders::parse(&parts.headers) {
        Some(Err(message)) => return Err(denied(Denied::Unauthorized(message))),
        Some(Ok(signed)) => {
            let bytes = read_body(body, rt.config.max_body_bytes)
                .await
                .map_err(|e| error_response(&e))?;
            let target = parts
                .uri
                .path_and_query()
                .map_or(parts.uri.path(), |p| p.as_str());
            let p = auth
                .verify_signed(&signed, parts.method.as_str(), target, &bytes)
                .map_err(denied)?;
            (p, Body::Read(bytes))
        }
        None => match auth.api_key(&parts.headers) {
            Ok(Some(p)) => (p, Body::Stream(body)),
            Ok(None) => (Auth::anonymous(), Body::Stream(body)),
            Err(d) => return Err(denied(d)),
        },
    };
    Auth::permit(&principal, level).map_err(denied)?;
    Ok((principal, body))
}

/// Answers one request: the checks against browsers (Host, Origin), CORS
/// for the origins the operator lists, then [`route`].
pub async fn handle(rt: Arc<Runtime>, req: Request<Incoming>) -> Response<ApiBody> {
    if !rt.auth.host_ok(req.headers(), req.uri()) {
        return error_response(&ApiError::new(
            StatusCode::FORBIDDEN,
            "host_not_allowed",
            "the node listens on loopback and answers only requests sent to a loopback name \
             (localhost, 127.0.0.1, [::1]) or one of auth.allowed_hosts",
        ));
    }
    let Some(origin) = req.headers().get(header::ORIGIN).cloned() else {
        return route(rt, req).await;
    };
    // A browser page: it may send state-changing requests only from the
    // node's own origin or a listed one (CSRF), and it reads answers only
    // with the CORS headers of a listed one.
    let text = origin.to_str().unwrap_or_default();
    let listed = rt.auth.cors_listed(text);
    if req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        if !listed {
            return error_response(&origin_refused(text));
        }
        let mut r = Response::new(full(Bytes::new()));
        *r.status_mut() = StatusCode::NO_CONTENT;
        crate::auth::http::add_preflight(
            r.headers_mut(),
            &origin,
            req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS),
        );
        return r;
    }
    if crate::auth::http::state_changing(req.method())
        && !rt.auth.origin_ok(text, req.headers(), req.uri())
    {
        return error_response(&origin_refused(text));
    }
    let mut r = route(rt, req).await;
    if listed {
        crate::auth::http::add_cors(r.headers_mut(), &origin);
    }
    r
}

fn origin_refused(origin: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "origin_not_allowed",
        format!("requests from origin `{origin}` are not allowed (see auth.allowed_origins)"),
    )
}

/// Routes one request to a host endpoint or the API plugin that declared
/// its path, once its caller may call it: a route of the node's plugins,
/// else one of the caller's tenant's own plugins.
async fn route(rt: Arc<Runtime>, req: Request<Incoming>) -> Response<ApiBody> {
    let path = req.uri().path().to_string();
    let catalog = rt.registry.catalog();
    // No route of the host or the node's plugins: a tenant's own plugin may
    // serve it, which only its credential tells. Which paths exist is for
    // callers with a credential to learn, not for probing anonymously.
    /// What serves the path, as far as is known before authenticating.
    enum Target {
        Host,
        Plugin(Arc<LoadedPlugin>),
        /// Maybe a route of the caller's tenant's own plugins.
        Unmatched,
    }
    let (target, level) = match host_level(&path) {
        Some(level) => (Target::Host, level),
        None => match catalog.route_with_level(&path) {
            Some((p, level)) => (Target::Plugin(p.clone()), level),
            None => (Target::Unmatched, Level::User),
        },
    };
    let (parts, body) = req.into_parts();
    let (principal, body) = match authenticate(&rt, &parts, body, level).await {
        Ok(found) => found,
        Err(refused) => return refused,
    };
    let plugin = match target {
        Target::Plugin(p) => p,
        Target::Host => return host_route(rt, &catalog, parts, body, principal).await,
        Target::Unmatched => match catalog.own_route_with_level(&principal.tenant, &path) {
            Some((p, level)) => {
                if let Err(refused) = Auth::permit(&principal, level) {
                    return denied(refused);
                }
                p.clone()
            }
            None => return error_response(&ApiError::not_found(format!("no route for {path}"))),
        },
    };
    drop(catalog);
    let tenant = principal.tenant;
    if !rt.config.tenants.get(&tenant).allows_plugin(plugin.name()) {
        // A plugin the operator keeps from this tenant has no routes for it.
        return error_response(&ApiError::not_found(format!("no route for {path}")));
    }
    let body = match body {
        Body::Stream(body) => body,
        Body::Read(bytes) => {
            // Signed: read whole already.
            let req = Request::from_parts(
                parts,
                Full::new(bytes)
                    .map_err(|never: Infallible| -> wasmtime_wasi_http::Error { match never {} }),
            );
            let method = req.method().clone();
            let result = rt.handle_http(&plugin, tenant.clone(), req).await;
            return plugin_answer(&plugin, &tenant, &method, &path, result);
        }
    };
    let req = Request::from_parts(parts, body);

    let max = rt.config.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        // Read and drop what the client is still sending (within a bound) so
        // it gets the 413 instead of a connection reset mid-upload.
        let drain = Limited::new(req.into_body(), (max as usize).saturating_mul(4)).collect();
        let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
        return error_response(&body_too_large(max));
    }
    // A body of no declared length (chunked) is found too large only while
    // the plugin reads it: note it, and answer 413 whatever the plugin made
    // of the read error.
    let overrun = http_body::Body::size_hint(req.body())
        .upper()
        .is_none()
        .then(|| Arc::new(AtomicBool::new(false)));
    let overran = overrun.clone();
    let req = req.map(move |body| {
        Limited::new(body, max as usize).map_err(move |e| match e.downcast::<hyper::Error>() {
            Ok(h) => wasmtime_wasi_http::Error::Hyper(*h),
            Err(_) => {
                if let Some(flag) = &overran {
                    flag.store(true, Ordering::Relaxed);
                }
                wasmtime_wasi_http::Error::HttpRequestBodySize(Some(max))
            }
        })
    });
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let result = rt.handle_http(&plugin, tenant.clone(), req).await;
    if overrun.is_some_and(|flag| flag.load(Ordering::Relaxed)) {
        tracing::debug!(plugin = %plugin.name(), %tenant, %method, path, "request body too large");
        return error_response(&body_too_large(max));
    }
    if result.is_ok() {
        tracing::debug!(plugin = %plugin.name(), %tenant, %method, path,
            ms = started.elapsed().as_secs_f64() * 1000.0, "api request");
    }
    plugin_answer(&plugin, &tenant, &method, &path, result)
}

/// An API plugin's answer, or its failure as JSON.
fn plugin_answer(
    plugin: &LoadedPlugin,
    tenant: &Tenant,
    method: &Method,
    path: &str,
    result: Result<Response<ApiBody>, crate::error::CallError>,
) -> Response<ApiBody> {
    match result {
        Ok(resp) => resp.map(|body| Coalesced::new(body).boxed_unsync()),
        Err(e) => {
            tracing::warn!(plugin = %plugin.name(), %tenant, %method, path, error = %e, "api plugin failed");
            error_response(&e.into())
        }
    }
}

/// The host's own endpoints.
async fn host_route(
    rt: Arc<Runtime>,
    catalog: &Catalog,
    parts: http::request::Parts,
    body: Body,
    principal: Principal,
) -> Response<ApiBody> {
    let path = parts.uri.path();
    let host_endpoint = |allowed: &Method| {
        if parts.method == allowed {
            Ok(())
        } else {
            Err(ApiError::method_not_allowed(&parts.method, path))
        }
    };
    match path {
        "/v2/ws" => {
            let req = Request::from_parts(parts, ());
            match crate::ws::accept(&req, &rt.config.ws) {
                Ok(reply) => {
                    let tenant = principal.tenant;
                    let rt = rt.clone();
                    tokio::spawn(async move {
                        match hyper::upgrade::on(req).await {
                            Ok(upgraded) => crate::ws::serve(rt, tenant, upgraded).await,
                            Err(e) => tracing::debug!(error = %e, "websocket upgrade failed"),
                        }
                    });
                    reply.map(|()| full(Bytes::new()))
                }
                Err((status, code, message)) => {
                    error_response(&ApiError::new(status, code, message))
                }
            }
        }
        "/v2/health" => match host_endpoint(&Method::GET) {
            Ok(()) => json_response(StatusCode::OK, &health(&rt, catalog)),
            Err(e) => error_response(&e),
        },
        "/v2/plugins" => match host_endpoint(&Method::GET) {
            Ok(()) => json_response(
                StatusCode::OK,
                &json!({ "plugins": catalog.slots.values().map(slot_json).collect::<Vec<_>>() }),
            ),
            Err(e) => error_response(&e),
        },
        "/v2/usage" => match host_endpoint(&Method::GET) {
            // Usage across tenants is the operator's; a tenant sees its own.
            Ok(()) if principal.level >= Level::Admin => {
                json_response(StatusCode::OK, &rt.router.usage.snapshot())
            }
            Ok(()) => {
                let mine = rt.router.usage.tenant(&principal.tenant);
                json_response(
                    StatusCode::OK,
                    &json!({ "tenants": { principal.tenant.as_str(): mine } }),
                )
            }
            Err(e) => error_response(&e),
        },
        "/v2/deployments" => match host_endpoint(&Method::GET) {
            Ok(()) => json_response(
                StatusCode::OK,
                &json!({ "deployments": rt.router.status() }),
            ),
            Err(e) => error_response(&e),
        },
        "/v2/attestation" | "/v2/attestation/verify" => {
            if let Err(e) = host_endpoint(&Method::POST) {
                let mut r = error_response(&e);
                r.headers_mut()
                    .insert(header::ALLOW, header::HeaderValue::from_static("POST"));
                return r;
            }
            let rt = rt.clone();
            let verify = path == "/v2/attestation/verify";
            admin_blocking(body, "attestation", move |bytes| {
                if verify {
                    crate::tee::http::verify(bytes)
                } else {
                    crate::tee::http::attest(&rt.tee, rt.auth.identity.public_key_hex(), bytes)
                }
            })
            .await
        }
        p if p == "/v2/keys" || p.starts_with("/v2/keys/") => {
            let rt = rt.clone();
            let (method, path) = (parts.method.clone(), p.to_string());
            admin_blocking(body, "the key store", move |bytes| {
                crate::tee::http::keys(&rt.keys, &method, &path, bytes)
            })
            .await
        }
        p if p == "/v2/tenants" || p.starts_with("/v2/tenants/") => {
            let auth = rt.auth.clone();
            let (method, path) = (parts.method.clone(), p.to_string());
            admin_blocking(body, "tenant management", move |bytes| {
                crate::auth::admin::handle(&auth, &method, &path, bytes)
            })
            .await
        }
        p if p == "/v2/tool-settings" || p.starts_with("/v2/tool-settings/") => {
            // Every scope's: a setting holds for a tool of that name wherever it is served.
            let loaded = catalog
                .loaded()
                .flat_map(|p| p.tools.iter().map(|(spec, _)| spec.name.clone()))
                .collect();
            let rt = rt.clone();
            let (method, path) = (parts.method.clone(), p.to_string());
            admin_blocking(body, "tool settings", move |bytes| {
                rt.tool_settings.handle(&method, &path, bytes, &loaded)
            })
            .await
        }
        p if p.starts_with("/v2/plugins/") => {
            if let Err(e) = host_endpoint(&Method::GET) {
                return error_response(&e);
            }
            let name = &p["/v2/plugins/".len()..];
            // By folder key (`tenants/acme/crm`), else by name, the node's first.
            let named = |s: &&Slot| s.current.as_ref().is_some_and(|c| c.manifest.name == name);
            let slot = catalog.slots.get(name).or_else(|| {
                let mut found = catalog.slots.values().filter(named);
                let node = found
                    .clone()
                    .find(|s| crate::plugins::folder::owner(&s.folder).is_none());
                node.or_else(|| found.next())
            });
            match slot {
                Some(s) => json_response(StatusCode::OK, &slot_json(s)),
                None => error_response(&ApiError::new(
                    StatusCode::NOT_FOUND,
                    "plugin_not_found",
                    format!("no plugin named `{name}`"),
                )),
            }
        }
        _ => error_response(&ApiError::not_found(format!("no route for {path}"))),
    }
}

/// Answers an admin route whose `handle` writes to a redb file (an fsync):
/// its body read (at most 64 KiB), then `handle` off the serving thread.
async fn admin_blocking(
    body: Body,
    what: &'static str,
    handle: impl FnOnce(&[u8]) -> Result<(StatusCode, Value), ApiError> + Send + 'static,
) -> Response<ApiBody> {
    let bytes = match body {
        Body::Read(b) => b,
        Body::Stream(b) => match read_body(b, 64 << 10).await {
            Ok(b) => b,
            Err(e) => return error_response(&e),
        },
    };
    match tokio::task::spawn_blocking(move || handle(&bytes)).await {
        Ok(Ok((status, body))) => json_response(status, &body),
        Ok(Err(e)) => error_response(&e),
        Err(e) => error_response(&ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{what} failed: {e}"),
        )),
    }
}

/// Serves until `shutdown` resolves, then lets requests in flight finish for up
/// to the configured grace period.
///
/// Connections are accepted here and each is handed, whole, to one of
/// `http_threads` serving threads (the one with the fewest open connections),
/// each a single-threaded runtime. Everything a request sets in motion — the
/// API plugin's task, the provider call, the upstream connection — then runs
/// on that one thread: a request is not passed between threads (each hand-off
/// is a futex wake-up and a context switch; on a work-stealing runtime there
/// were about seven per request). A busy connection cannot move to an idle
/// thread; a plugin call whose guest code runs longer than a slice moves, with
/// its task, to the background pool (`crate::sched`), so one slow call
/// delays the others on its thread once, by at most a slice and a tick.
pub async fn serve(
    rt: Arc<Runtime>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    if let Some(problem) = rt.auth.bind_problem(local) {
        return Err(std::io::Error::other(problem));
    }
    rt.auth.set_loopback(local.ip().is_loopback());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let threads = match rt.config.http_threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Each connection is a file descriptor; plugins, the store and upstream
    // connections need some more.
    crate::conns::raise_open_files_limit(rt.config.server.max_connections + 1024);
    let gauge = crate::conns::Gauge::new(rt.config.server.max_connections);
    let workers = (0..threads)
        .map(|i| ServingThread::start(i, rt.clone(), gauge.clone()))
        .collect::<std::io::Result<Vec<_>>>()?;
    // Parked instances idle past their time go even when no call comes.
    let housekeeping = {
        let rt = Arc::downgrade(&rt);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            loop {
                tick.tick().await;
                match rt.upgrade() {
                    Some(rt) => rt.prune_warm(),
                    None => break,
                }
            }
        })
    };
    // Keys added or revoked by `hanzo-node tenant` from another process.
    let key_reload = {
        let auth = rt.auth.clone();
        let every = Duration::from_millis(rt.config.auth.reload_interval_ms);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let auth = auth.clone();
                let _ = tokio::task::spawn_blocking(move || auth.reload_if_changed()).await;
            }
        })
    };
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let least_busy = workers
                    .iter()
                    .min_by_key(|w| w.open.load(Ordering::Relaxed))
                    .expect("at least one serving thread");
                match stream.into_std() {
                    Ok(stream) => least_busy.hand_over(stream, graceful.watcher()),
                    Err(e) => tracing::debug!(error = %e, "cannot hand over a connection"),
                }
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let grace = Duration::from_secs(rt.config.shutdown_grace_s);
    tracing::info!(
        grace_s = grace.as_secs(),
        "shutting down: finishing requests in flight"
    );
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after the grace period were cut");
    }
    for w in workers {
        w.stop().await;
    }
    housekeeping.abort();
    key_reload.abort();
    Ok(())
}

/// The most an HTTP/1 connection buffers either way, and so the largest
/// request head (a larger one gets 431): hyper's default is about 400 KiB, a
/// lot to allow each of `server.max_connections` clients.
const MAX_CONN_BUFFER: usize = 64 * 1024;

/// One serving thread: a single-threaded tokio runtime that runs the
/// connections handed to it.
struct ServingThread {
    conns: tokio::sync::mpsc::UnboundedSender<(std::net::TcpStream, Watcher)>,
    /// Connections open on this thread (WebSockets included).
    open: Arc<AtomicUsize>,
    stop: tokio::sync::oneshot::Sender<()>,
    thread: std::thread::JoinHandle<()>,
}

impl ServingThread {
    fn start(
        index: usize,
        rt: Arc<Runtime>,
        gauge: Arc<crate::conns::Gauge>,
    ) -> std::io::Result<ServingThread> {
        let (conns, mut incoming) =
            tokio::sync::mpsc::unbounded_channel::<(std::net::TcpStream, Watcher)>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let open = Arc::new(AtomicUsize::new(0));
        let thread_open = open.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name(format!("http-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let limits = rt.config.server.clone();
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    // The header-read and idle timeouts are `Activity`'s
                    // (below), not hyper's: hyper's header timer, on a
                    // `TokioTimer`, boxes and registers a timer for every
                    // request, and counts a keep-alive connection's idle time
                    // as time spent on the next head.
                    builder.http1().max_buf_size(MAX_CONN_BUFFER);
                    // Housekeeping once a second. It also keeps the timer
                    // wheel's next wake-up at most a second away, so arming a
                    // request's timeouts (minutes) does not wake the thread's
                    // driver (an eventfd write and an extra epoll round each).
                    let housekeeping = (index == 0).then(|| gauge.clone());
                    tokio::spawn(async move {
                        let mut tick = tokio::time::interval(Duration::from_secs(1));
                        loop {
                            tick.tick().await;
                            crate::outbound::sweep_idle_connections();
                            if let Some(g) = &housekeeping {
                                g.housekeeping();
                            }
                        }
                    });
                    while let Some((stream, watcher)) = incoming.recv().await {
                        let stream = match tokio::net::TcpStream::from_std(stream) {
                            Ok(s) => s,
                            Err(e) => {
                                thread_open.fetch_sub(1, Ordering::Relaxed);
                                tracing::debug!(error = %e, "cannot register a connection");
                                continue;
                            }
                        };
                        let slot = match gauge.admit(thread_open.clone()) {
                            Ok(slot) => slot,
                            Err(refused) => {
                                tracing::debug!("too many connections: refusing one");
                                tokio::spawn(refused.answer(stream));
                                continue;
                            }
                        };
                        let activity = crate::conns::Activity::new();
                        let io = crate::conns::Watched::new(stream, activity.clone(), slot);
                        let rt = rt.clone();
                        let requests = activity.clone();
                        let service = hyper::service::service_fn(move |req| {
                            let rt = rt.clone();
                            let busy = requests.begin();
                            async move {
                                Ok::<_, Infallible>(handle(rt, req).await.map(|b| busy.hold(b)))
                            }
                        });
                        let conn = builder
                            .serve_connection_with_upgrades(TokioIo::new(io), service)
                            .into_owned();
                        let conn = watcher.watch(conn);
                        let limits = limits.clone();
                        tokio::spawn(async move {
                            tokio::select! {
                                ended = conn => if let Err(e) = ended {
                                    tracing::debug!(error = %e, "connection ended with an error");
                                },
                                () = activity.expired(&limits) => {
                                    tracing::debug!("connection closed: idle, or its request head too slow");
                                }
                            }
                        });
                    }
                    // No more connections come; those open run until the
                    // shutdown's grace period has passed.
                    let _ = stopped.await;
                });
            })?;
        Ok(ServingThread {
            conns,
            open,
            stop,
            thread,
        })
    }

    fn hand_over(&self, stream: std::net::TcpStream, watcher: Watcher) {
        self.open.fetch_add(1, Ordering::Relaxed);
        if self.conns.send((stream, watcher)).is_err() {
            self.open.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Ends the thread: connections still open are cut.
    async fn stop(self) {
        drop(self.conns);
        let _ = self.stop.send(());
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

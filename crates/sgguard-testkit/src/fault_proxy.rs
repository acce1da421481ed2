//! A fault-injecting HTTP proxy between the SDK (or the real Lambda binary) and the local
//! emulator: it forwards every request, except those it is told to fail. It produces what
//! no emulator does on its own: throttling, 5xx answers, dropped connections, and chosen
//! error codes for chosen operations (an EC2 call that answers `InvalidGroup.NotFound`).
//!
//! A request's operation is read the way the AWS protocols carry it: `Action=…` in the form
//! body (EC2, STS, SQS query protocol) or the `X-Amz-Target` header (DynamoDB).
//!
//! Every request is also kept in a log, in arrival order, with its query parameters and what
//! the proxy did with it, so a test can tell which rules were revoked how many times.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// What the proxy does instead of forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// An AWS error answer: the service's throttling code with HTTP 400.
    Throttle,
    /// HTTP 500 with an internal-error body.
    ServerError,
    /// The connection is closed without an answer.
    Drop,
    /// A query-protocol error with this code and HTTP 400: in EC2's form, or in STS's for
    /// an STS operation (`AssumeRole`: `AccessDenied`).
    Ec2Error { code: String },
    /// Forwarded (the emulator applies the request), but the answer is held back for
    /// `delay`: past the SDK's attempt timeout, a request applied whose answer is lost, and
    /// the SDK sends it again.
    Late { delay: std::time::Duration },
}

/// Fail `times` requests of one operation (`ModifySecurityGroupRules`,
/// `TransactWriteItems`, …) with `fault`.
#[derive(Debug, Clone)]
struct Targeted {
    operation: String,
    fault: Fault,
    remaining: usize,
}

/// Fail a share of every request, drawn from `faults` in turn.
#[derive(Debug, Clone)]
struct Random {
    per_million: u64,
    faults: Vec<Fault>,
}

#[derive(Debug, Default)]
struct Plan {
    targeted: Vec<Targeted>,
    random: Option<Random>,
}

/// Counts of what went through.
#[derive(Debug, Default)]
pub struct Counts {
    pub forwarded: AtomicUsize,
    pub faulted: AtomicUsize,
    /// Requests seen per operation, faulted or not.
    per_operation: Mutex<std::collections::HashMap<String, usize>>,
}

impl Counts {
    /// How many requests of `operation` the proxy saw.
    pub fn of(&self, operation: &str) -> usize {
        self.per_operation
            .lock()
            .ok()
            .and_then(|m| m.get(operation).copied())
            .unwrap_or(0)
    }

    /// Every operation seen with its count, most frequent first.
    pub fn by_operation(&self) -> Vec<(String, usize)> {
        let mut all: Vec<(String, usize)> = self
            .per_operation
            .lock()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all
    }

    /// Every request seen, faulted or forwarded.
    pub fn total(&self) -> usize {
        self.forwarded.load(Ordering::Relaxed) + self.faulted.load(Ordering::Relaxed)
    }
}

/// What the proxy did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Forwarded to the emulator, which answered with this HTTP status.
    Forwarded { status: u16 },
    /// Forwarded and answered with this status, but the answer was held back
    /// ([`Fault::Late`]); the caller may have given up on it.
    Late { status: u16 },
    /// Not forwarded: this fault was returned instead.
    Faulted(Fault),
    /// Sent to the emulator, but its answer never went back: the caller gave up waiting (an
    /// SDK attempt timeout drops the connection) or the emulator did not answer. The
    /// emulator may have applied it.
    Sent,
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub operation: String,
    /// The decoded form parameters of a query-protocol request (EC2, STS, SQS), in order;
    /// empty for JSON protocols (DynamoDB), whose bodies are not kept.
    pub params: Vec<(String, String)>,
    /// The SDK's id of the call (`amz-sdk-invocation-id`): the same on each of its retries.
    pub invocation: Option<String>,
    /// Which attempt at the call this was (`amz-sdk-request: attempt=N`), 1 when not said.
    pub attempt: u32,
    pub handled: Handled,
    /// From the request's arrival to the proxy's answer (the emulator's time, when forwarded).
    pub took: std::time::Duration,
}

impl Logged {
    /// Whether the request reached the emulator (whatever it answered).
    pub fn reached(&self) -> bool {
        matches!(
            self.handled,
            Handled::Forwarded { .. } | Handled::Late { .. } | Handled::Sent
        )
    }

    /// Whether the emulator received the request and accepted it (a 2xx answer).
    pub fn succeeded(&self) -> bool {
        matches!(self.handled, Handled::Forwarded { status } | Handled::Late { status } if (200..300).contains(&status))
    }

    /// The values of the parameters whose name starts with `prefix`, in order: with
    /// `SecurityGroupRuleId.` the rule ids a Revoke names.
    pub fn values(&self, prefix: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(_, value)| value.as_str())
            .collect()
    }
}

/// The proxy; dropped, it stops.
pub struct FaultProxy {
    addr: SocketAddr,
    plan: Arc<Mutex<Plan>>,
    counts: Arc<Counts>,
    log: Arc<Mutex<Vec<Logged>>>,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards to `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let plan = Arc::new(Mutex::new(Plan::default()));
        let counts = Arc::new(Counts::default());
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build(connector);
        let upstream: Arc<str> = upstream.trim_end_matches('/').into();
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = Arc::new(State {
            plan: plan.clone(),
            counts: counts.clone(),
            log: log.clone(),
            client,
            upstream,
            sequence: AtomicU64::new(0),
        });
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| handle(req, state.clone()));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            plan,
            counts,
            log,
            server,
        })
    }

    /// The endpoint to give the SDK (`AWS_ENDPOINT_URL`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Fails the next `times` requests of `operation` with `fault`.
    pub fn fail(&self, operation: &str, fault: Fault, times: usize) {
        if let Ok(mut plan) = self.plan.lock() {
            plan.targeted.push(Targeted {
                operation: operation.to_owned(),
                fault,
                remaining: times,
            });
        }
    }

    /// Fails `share` (0.0 to 1.0) of all requests, spread evenly over the run, with the
    /// faults in turn.
    pub fn fail_share(&self, share: f64, faults: Vec<Fault>) {
        let per_million = (share.clamp(0.0, 1.0) * 1_000_000.0) as u64;
        if let Ok(mut plan) = self.plan.lock() {
            plan.random = Some(Random {
                per_million,
                faults,
            });
        }
    }

    /// Stops failing anything.
    pub fn heal(&self) {
        if let Ok(mut plan) = self.plan.lock() {
            *plan = Plan::default();
        }
    }

    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<Logged> {
        self.log.lock().map(|log| log.clone()).unwrap_or_default()
    }
}

/// What every connection's handler shares.
struct State {
    plan: Arc<Mutex<Plan>>,
    counts: Arc<Counts>,
    log: Arc<Mutex<Vec<Logged>>>,
    client: Client<HttpConnector, Full<Bytes>>,
    upstream: Arc<str>,
    sequence: AtomicU64,
}

impl State {
    /// Logs a request; returns its place in the log.
    fn log(&self, request: &Seen, handled: Handled) -> usize {
        let Ok(mut log) = self.log.lock() else {
            return usize::MAX;
        };
        log.push(Logged {
            operation: request.operation.clone(),
            params: request.params.clone(),
            invocation: request.invocation.clone(),
            attempt: request.attempt,
            handled,
            took: request.arrived.elapsed(),
        });
        log.len() - 1
    }

    /// What became of a request logged at `entry`.
    fn update(&self, entry: usize, request: &Seen, handled: Handled) {
        if let Ok(mut log) = self.log.lock()
            && let Some(logged) = log.get_mut(entry)
        {
            logged.handled = handled;
            logged.took = request.arrived.elapsed();
        }
    }
}

/// What the log keeps of a request, read before it is forwarded.
struct Seen {
    operation: String,
    params: Vec<(String, String)>,
    invocation: Option<String>,
    attempt: u32,
    arrived: std::time::Instant,
}

impl Seen {
    fn of(headers: &hyper::HeaderMap, operation: String, params: Vec<(String, String)>) -> Self {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let attempt = header("amz-sdk-request")
            .and_then(|v| {
                v.split(';')
                    .find_map(|part| part.trim().strip_prefix("attempt="))
                    .and_then(|n| n.parse().ok())
            })
            .unwrap_or(1);
        Self {
            operation,
            params,
            invocation: header("amz-sdk-invocation-id").map(str::to_owned),
            attempt,
            arrived: std::time::Instant::now(),
        }
    }
}

/// The decoded pairs of an `application/x-www-form-urlencoded` body.
fn form_params(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'+', _) => out.push(b' '),
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 2;
            }
            (byte, _) => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The AWS operation a request calls.
fn operation(headers: &hyper::HeaderMap, body: &[u8]) -> String {
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return target.rsplit('.').next().unwrap_or(target).to_owned();
    }
    String::from_utf8_lossy(body)
        .split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .unwrap_or_default()
        .to_owned()
}

/// The fault for this request, if any: a targeted one first, else the random share (a
/// deterministic spread: request n fails when its share of a million crosses a boundary).
fn choose(plan: &Mutex<Plan>, operation: &str, n: u64) -> Option<Fault> {
    let mut plan = plan.lock().ok()?;
    if let Some(target) = plan
        .targeted
        .iter_mut()
        .find(|t| t.operation == operation && t.remaining > 0)
    {
        target.remaining -= 1;
        return Some(target.fault.clone());
    }
    let random = plan.random.as_ref()?;
    if random.faults.is_empty() {
        return None;
    }
    let before = (n * random.per_million) / 1_000_000;
    let after = ((n + 1) * random.per_million) / 1_000_000;
    (after > before).then(|| {
        let index = usize::try_from(after % random.faults.len() as u64).unwrap_or(0);
        random.faults[index].clone()
    })
}

fn answer(fault: &Fault, operation: &str, dynamodb: bool) -> Response<Full<Bytes>> {
    let (status, body, content_type) = match fault {
        Fault::Throttle if dynamodb => (
            StatusCode::BAD_REQUEST,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput (injected)"}"#.to_owned(),
            "application/x-amz-json-1.0",
        ),
        Fault::Throttle => (
            StatusCode::SERVICE_UNAVAILABLE,
            ec2_error("RequestLimitExceeded", "Request limit exceeded (injected)"),
            "text/xml",
        ),
        Fault::ServerError if dynamodb => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"Internal server error (injected)"}"#.to_owned(),
            "application/x-amz-json-1.0",
        ),
        Fault::ServerError => (
            StatusCode::INTERNAL_SERVER_ERROR,
            ec2_error("InternalError", "An internal error has occurred (injected)"),
            "text/xml",
        ),
        Fault::Ec2Error { code } if is_sts(operation) => (
            StatusCode::BAD_REQUEST,
            sts_error(code, &format!("{operation} failed (injected)")),
            "text/xml",
        ),
        Fault::Ec2Error { code } => (
            StatusCode::BAD_REQUEST,
            ec2_error(code, &format!("{operation} failed (injected)")),
            "text/xml",
        ),
        Fault::Drop | Fault::Late { .. } => {
            (StatusCode::INTERNAL_SERVER_ERROR, String::new(), "text/plain")
        }
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert("content-type", value);
    }
    response
}

fn is_sts(operation: &str) -> bool {
    matches!(
        operation,
        "AssumeRole" | "GetCallerIdentity" | "AssumeRoleWithWebIdentity"
    )
}

fn sts_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected-fault</RequestId></ErrorResponse>"
    )
}

fn ec2_error(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors><RequestID>injected-fault</RequestID></Response>"
    )
}

/// The proxy's error for a request it could not forward.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    req: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, Box<dyn std::error::Error + Send + Sync>> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let dynamodb = parts.headers.contains_key("x-amz-target");
    let name = operation(&parts.headers, &body);
    let params = if dynamodb {
        Vec::new()
    } else {
        form_params(&body)
    };
    let seen = Seen::of(&parts.headers, name.clone(), params);
    if let Ok(mut seen) = state.counts.per_operation.lock() {
        *seen.entry(name.clone()).or_default() += 1;
    }
    let n = state.sequence.fetch_add(1, Ordering::Relaxed);
    let fault = choose(&state.plan, &name, n);
    let late = match fault {
        Some(Fault::Late { delay }) => {
            state.counts.faulted.fetch_add(1, Ordering::Relaxed);
            Some(delay)
        }
        Some(fault) => {
            state.counts.faulted.fetch_add(1, Ordering::Relaxed);
            state.log(&seen, Handled::Faulted(fault.clone()));
            if fault == Fault::Drop {
                return Err(Box::new(Dropped));
            }
            return Ok(answer(&fault, &name, dynamodb));
        }
        None => None,
    };
    let uri = format!(
        "{}{}",
        state.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = Request::from_parts(parts, Full::new(body));
    *forward.uri_mut() = uri.parse()?;
    // Logged before it is sent: a caller that gives up drops this future mid-way, and the
    // emulator may still apply the request.
    let entry = state.log(&seen, Handled::Sent);
    let response = state.client.request(forward).await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    state.counts.forwarded.fetch_add(1, Ordering::Relaxed);
    let status = parts.status.as_u16();
    match late {
        Some(delay) => {
            state.update(entry, &seen, Handled::Late { status });
            tokio::time::sleep(delay).await;
        }
        None => state.update(entry, &seen, Handled::Forwarded { status }),
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}

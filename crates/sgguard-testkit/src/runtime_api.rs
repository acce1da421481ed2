//! A local implementation of the Lambda Runtime API (`/2018-06-01/runtime/...`), enough to
//! run the real `sgguard-lambda` binary as Lambda would: it polls `invocation/next`, and
//! answers on `invocation/{id}/response` or `/error`. Tests drive invocations and measure
//! how long the binary takes to reach its first poll.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{Mutex as AsyncMutex, mpsc, oneshot};

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    Response(Value),
    Error {
        error_type: String,
        error_message: String,
    },
}

struct Pending {
    request_id: String,
    payload: Value,
    /// The time the function is given, from when it receives the event.
    budget: Duration,
    reply: oneshot::Sender<Invocation>,
}

struct Shared {
    queue: AsyncMutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, oneshot::Sender<Invocation>>>,
    first_poll: Mutex<Option<Instant>>,
    polls: AtomicUsize,
    init_error: Mutex<Option<String>>,
}

/// The server; dropped, it stops accepting.
pub struct RuntimeApi {
    addr: SocketAddr,
    sender: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    next_id: AtomicUsize,
    server: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RuntimeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimeApi")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Binds 127.0.0.1 on a free port and serves until dropped.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (sender, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: AsyncMutex::new(receiver),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: Mutex::new(None),
            polls: AtomicUsize::new(0),
            init_error: Mutex::new(None),
        });
        let server_shared = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                // Nagle off, as Lambda's own Runtime API: small answers go out at once.
                let _ = stream.set_nodelay(true);
                let shared = server_shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| route(shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            sender,
            shared,
            next_id: AtomicUsize::new(0),
            server,
        })
    }

    /// The value for `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Delivers one event and waits for the function's answer. The function is given 60 s
    /// (the template's timeout) as its deadline.
    pub async fn invoke(&self, payload: Value, timeout: Duration) -> Result<Invocation, String> {
        self.invoke_with_budget(payload, timeout, Duration::from_secs(60))
            .await
    }

    /// [`RuntimeApi::invoke`] with the deadline the function is told: `budget` from when it
    /// receives the event.
    pub async fn invoke_with_budget(
        &self,
        payload: Value,
        timeout: Duration,
        budget: Duration,
    ) -> Result<Invocation, String> {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("00000000-0000-4000-8000-{n:012}");
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Pending {
                request_id,
                payload,
                budget,
                reply,
            })
            .map_err(|_| "the runtime API server has stopped".to_owned())?;
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(invocation)) => Ok(invocation),
            Ok(Err(_)) => Err("the function never answered".into()),
            Err(_) => Err(format!("no answer within {timeout:?}")),
        }
    }

    /// Waits until the function has polled `invocation/next` at least once; returns when.
    pub async fn wait_for_first_poll(&self, timeout: Duration) -> Option<Instant> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(at) = self.shared.first_poll.lock().ok().and_then(|g| *g) {
                return Some(at);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    }

    /// How many times the function has polled for work.
    pub fn polls(&self) -> usize {
        self.shared.polls.load(Ordering::Relaxed)
    }

    /// The error the function reported at init, if any.
    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().ok().and_then(|g| g.clone())
    }
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn route(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let rest = path
        .strip_prefix("/2018-06-01/runtime/")
        .unwrap_or_default()
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let parts: Vec<&str> = rest.split('/').collect();
    Ok(match (method, parts.as_slice()) {
        (Method::GET, ["invocation", "next"]) => next(&shared).await,
        (Method::POST, ["invocation", id, "response"]) => {
            let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            answer(&shared, id, Invocation::Response(value))
        }
        (Method::POST, ["invocation", id, "error"]) => {
            let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let text = |key: &str| {
                value
                    .get(key)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            answer(
                &shared,
                id,
                Invocation::Error {
                    error_type: text("errorType"),
                    error_message: text("errorMessage"),
                },
            )
        }
        (Method::POST, ["init", "error"]) => {
            if let Ok(mut slot) = shared.init_error.lock() {
                *slot = Some(String::from_utf8_lossy(&body).into_owned());
            }
            reply(StatusCode::ACCEPTED, "{}")
        }
        _ => reply(StatusCode::NOT_FOUND, "{\"errorMessage\":\"unknown path\"}"),
    })
}

async fn next(shared: &Shared) -> Response<Full<Bytes>> {
    shared.polls.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut first) = shared.first_poll.lock() {
        first.get_or_insert_with(Instant::now);
    }
    let pending = shared.queue.lock().await.recv().await;
    let Some(pending) = pending else {
        return reply(StatusCode::GONE, "{}");
    };
    if let Ok(mut in_flight) = shared.in_flight.lock() {
        in_flight.insert(pending.request_id.clone(), pending.reply);
    }
    let budget = i64::try_from(pending.budget.as_millis()).unwrap_or(i64::MAX / 2);
    let deadline = chrono::Utc::now().timestamp_millis().saturating_add(budget);
    let mut response = reply(StatusCode::OK, pending.payload.to_string());
    let headers = response.headers_mut();
    let pairs = [
        ("lambda-runtime-aws-request-id", pending.request_id),
        ("lambda-runtime-deadline-ms", deadline.to_string()),
        (
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:sgguard".to_owned(),
        ),
        (
            "lambda-runtime-trace-id",
            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
        ),
        ("content-type", "application/json".to_owned()),
    ];
    for (name, value) in pairs {
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    response
}

fn answer(shared: &Shared, id: &str, invocation: Invocation) -> Response<Full<Bytes>> {
    let sender = shared.in_flight.lock().ok().and_then(|mut m| m.remove(id));
    match sender {
        Some(sender) => {
            let _ = sender.send(invocation);
            reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
        }
        None => reply(
            StatusCode::BAD_REQUEST,
            "{\"errorMessage\":\"unknown request id\"}",
        ),
    }
}

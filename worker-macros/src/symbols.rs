//! Every backend, option and value name the macros accept, in one place.

/// `#[route(amqp, ...)]`.
pub const AMQP: &str = "amqp";
/// `#[route(every, ...)]`.
pub const EVERY: &str = "every";
/// `#[route(http, ...)]`.
pub const HTTP: &str = "http";
/// `#[route(sse, ...)]`.
pub const SSE: &str = "sse";
/// The backends, in the order error messages list them.
pub const BACKENDS: &[&str] = &[AMQP, EVERY, HTTP, SSE];

// amqp
pub const QUEUES: &str = "queues";
pub const BULK_SIZE: &str = "bulk_size";
pub const BULK_FLUSH_INTERVAL: &str = "bulk_flush_interval";
pub const ON_SUCCESS: &str = "on_success";
pub const ON_EXCEPTION: &str = "on_exception";
pub const ON_DECODE_ERROR: &str = "on_decode_error";
pub const MAX_CONCURRENCY: &str = "max_concurrency";
pub const MAX_RETRIES: &str = "max_retries";
pub const RETRY_BACKOFF: &str = "retry_backoff";
pub const DEAD_LETTER: &str = "dead_letter";
pub const CONNECTION: &str = "connection";
pub const VHOST: &str = "vhost";
pub const PREFETCH: &str = "prefetch";
pub const DECLARE: &str = "declare";
pub const QUEUE_TYPE: &str = "queue_type";
/// Options of an `amqp` route.
pub const AMQP_KEYS: &[&str] = &[
    QUEUES,
    BULK_SIZE,
    BULK_FLUSH_INTERVAL,
    ON_SUCCESS,
    ON_EXCEPTION,
    ON_DECODE_ERROR,
    MAX_CONCURRENCY,
    MAX_RETRIES,
    RETRY_BACKOFF,
    DEAD_LETTER,
    CONNECTION,
    VHOST,
    PREFETCH,
    DECLARE,
    QUEUE_TYPE,
];

/// `on_success` / `on_exception` values.
pub const ACTIONS: &[&str] = &[ACK, REJECT, REQUEUE];
/// `on_decode_error` values (never `requeue`).
pub const DECODE_ERROR_ACTIONS: &[&str] = &[REJECT, ACK];
pub const ACK: &str = "ack";
pub const REJECT: &str = "reject";
pub const REQUEUE: &str = "requeue";
/// `queue_type` values.
pub const QUEUE_TYPES: &[&str] = &[CLASSIC, QUORUM];
pub const CLASSIC: &str = "classic";
pub const QUORUM: &str = "quorum";

// every
pub const INTERVAL: &str = "interval";
pub const RUN_ON_START: &str = "run_on_start";
/// Options of an `every` route.
pub const EVERY_KEYS: &[&str] = &[INTERVAL, MAX_CONCURRENCY, RUN_ON_START];

// http
pub const METHOD: &str = "method";
pub const METHODS: &str = "methods";
pub const PATH: &str = "path";
pub const PATHS: &str = "paths";
/// Options of an `http` route.
pub const HTTP_KEYS: &[&str] = &[METHOD, METHODS, PATH, PATHS];
/// Accepted HTTP methods.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

// sse
pub const URL: &str = "url";
pub const EVENTS: &str = "events";
/// Options of an `sse` route.
pub const SSE_KEYS: &[&str] = &[URL, BULK_SIZE, BULK_FLUSH_INTERVAL, EVENTS, CONNECTION];

// hooks
pub const ORDER: &str = "order";
/// Options of `#[on_startup]` and `#[on_shutdown]`.
pub const HOOK_KEYS: &[&str] = &[ORDER];

// main!
pub const MAIN_AMQP: &str = "amqp";
pub const FLUSH_TIMEOUT: &str = "flush_timeout";
pub const SHUTDOWN_TIMEOUT: &str = "shutdown_timeout";
pub const MAIN_HTTP: &str = "http";
/// Options of `worker::main!`.
pub const MAIN_KEYS: &[&str] = &[
    MAIN_AMQP,
    PREFETCH,
    FLUSH_TIMEOUT,
    SHUTDOWN_TIMEOUT,
    MAIN_HTTP,
];
/// URL schemes `main!(amqp = ...)` accepts.
pub const AMQP_SCHEMES: &[&str] = &["amqp://", "amqps://", "memory://"];
/// `main!(http = "off")` disables the HTTP server.
pub const HTTP_OFF: &str = "off";

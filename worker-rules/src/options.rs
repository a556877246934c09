//! Every backend, option and value name the attributes accept, and the
//! lists error messages offer.

/// `#[route(amqp, ...)]`: RabbitMQ (or embedded) queues, in batches.
pub const AMQP: &str = "amqp";
/// `#[route(every, ...)]`: a recurring task.
pub const EVERY: &str = "every";
/// `#[route(cron, ...)]`: a task on a cron schedule.
pub const CRON: &str = "cron";
/// `#[route(http, ...)]`: HTTP requests.
pub const HTTP: &str = "http";
/// `#[route(sse, ...)]`: a Server-Sent-Events stream, in batches.
pub const SSE: &str = "sse";
/// The backends, in the order error messages list them.
pub const BACKENDS: &[&str] = &[AMQP, CRON, EVERY, HTTP, SSE];

/// `crate = "path"`: where the generated code finds the framework (default
/// `worker`), for a renamed dependency or the framework's own crates.
/// Accepted by every attribute and by `main!`; not listed among the
/// suggestions of an unknown option.
pub const CRATE: &str = "crate";

/// `queues = ["a", "b"]`.
pub const QUEUES: &str = "queues";
/// `bulk_size = N`.
pub const BULK_SIZE: &str = "bulk_size";
/// `bulk_flush_interval = "5s"`.
pub const BULK_FLUSH_INTERVAL: &str = "bulk_flush_interval";
/// `on_success = ack`.
pub const ON_SUCCESS: &str = "on_success";
/// `on_exception = requeue`.
pub const ON_EXCEPTION: &str = "on_exception";
/// `on_decode_error = reject`.
pub const ON_DECODE_ERROR: &str = "on_decode_error";
/// `max_concurrency = N`.
pub const MAX_CONCURRENCY: &str = "max_concurrency";
/// `max_retries = N`.
pub const MAX_RETRIES: &str = "max_retries";
/// `retry_backoff = "1s"`.
pub const RETRY_BACKOFF: &str = "retry_backoff";
/// `dead_letter = "queue"`.
pub const DEAD_LETTER: &str = "dead_letter";
/// `connection = "name"`.
pub const CONNECTION: &str = "connection";
/// `vhost = "name"`.
pub const VHOST: &str = "vhost";
/// `prefetch = N`.
pub const PREFETCH: &str = "prefetch";
/// `declare = true`.
pub const DECLARE: &str = "declare";
/// `queue_type = quorum`.
pub const QUEUE_TYPE: &str = "queue_type";
/// `delivery_limit = N`: a quorum queue's `x-delivery-limit`.
pub const DELIVERY_LIMIT: &str = "delivery_limit";
/// `single_active = true`: the queues' `x-single-active-consumer`.
pub const SINGLE_ACTIVE: &str = "single_active";
/// `consumer_priority = N`: the consumer's `x-priority`.
pub const CONSUMER_PRIORITY: &str = "consumer_priority";
/// `max_priority = N`: a classic queue's `x-max-priority`.
pub const MAX_PRIORITY: &str = "max_priority";
/// `broadcast = true`: a queue per process, bound to the exchange.
pub const BROADCAST: &str = "broadcast";
/// `timeout = "30s"`: longest a handler run may take.
pub const TIMEOUT: &str = "timeout";
/// `bisect = true`: re-run failed batches in halves.
pub const BISECT: &str = "bisect";
/// `exchange = "events"`: the exchange the queues are bound to.
pub const EXCHANGE: &str = "exchange";
/// `exchange_type = topic`.
pub const EXCHANGE_TYPE: &str = "exchange_type";
/// `bindings = ["order.*"]`: the queues' bindings to the exchange.
pub const BINDINGS: &str = "bindings";
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
    DELIVERY_LIMIT,
    SINGLE_ACTIVE,
    CONSUMER_PRIORITY,
    MAX_PRIORITY,
    BROADCAST,
    TIMEOUT,
    BISECT,
    EXCHANGE,
    EXCHANGE_TYPE,
    BINDINGS,
];

/// The action `ack`: remove the message.
pub const ACK: &str = "ack";
/// The action `reject`: discard or dead-letter the message.
pub const REJECT: &str = "reject";
/// The action `requeue`: return the message (or retry it).
pub const REQUEUE: &str = "requeue";
/// `on_success` / `on_exception` values.
pub const ACTIONS: &[&str] = &[ACK, REJECT, REQUEUE];
/// `on_decode_error` values (never `requeue`: a body that cannot decode
/// would come back forever).
pub const DECODE_ERROR_ACTIONS: &[&str] = &[REJECT, ACK];
/// The queue type `classic`.
pub const CLASSIC: &str = "classic";
/// The queue type `quorum` (replicated, RabbitMQ clusters).
pub const QUORUM: &str = "quorum";
/// `queue_type` values.
pub const QUEUE_TYPES: &[&str] = &[CLASSIC, QUORUM];

/// The exchange type `topic`: routing-key patterns (the default).
pub const TOPIC: &str = "topic";
/// The exchange type `direct`: exact routing keys.
pub const DIRECT: &str = "direct";
/// The exchange type `fanout`: every bound queue.
pub const FANOUT: &str = "fanout";
/// The exchange type `headers`: header matches.
pub const HEADERS: &str = "headers";
/// `exchange_type` values.
pub const EXCHANGE_TYPES: &[&str] = &[TOPIC, DIRECT, FANOUT, HEADERS];

/// `interval = "30s"`.
pub const INTERVAL: &str = "interval";
/// `run_on_start = false`.
pub const RUN_ON_START: &str = "run_on_start";
/// Options of an `every` route.
pub const EVERY_KEYS: &[&str] = &[INTERVAL, MAX_CONCURRENCY, RUN_ON_START, TIMEOUT];

/// `schedule = "0 */5 * * * *"`.
pub const SCHEDULE: &str = "schedule";
/// `tz = "Europe/Madrid"`.
pub const TZ: &str = "tz";
/// `singleton = true`: one process of many fires each slot.
pub const SINGLETON: &str = "singleton";
/// `catch_up = true`: at startup, a slot missed while the route ran
/// nowhere fires once.
pub const CATCH_UP: &str = "catch_up";
/// Options of a `cron` route.
pub const CRON_KEYS: &[&str] = &[
    SCHEDULE,
    TZ,
    MAX_CONCURRENCY,
    SINGLETON,
    CATCH_UP,
    CONNECTION,
    TIMEOUT,
];

/// `method = GET`.
pub const METHOD: &str = "method";
/// `methods = [GET, POST]`.
pub const METHODS: &str = "methods";
/// `path = "/items/{id}"`.
pub const PATH: &str = "path";
/// `paths = ["/a", "/b"]`.
pub const PATHS: &str = "paths";
/// Options of an `http` route.
pub const HTTP_KEYS: &[&str] = &[METHOD, METHODS, PATH, PATHS];
/// Accepted HTTP methods.
pub const HTTP_METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// `url = "https://..."`.
pub const URL: &str = "url";
/// `events = ["name"]`.
pub const EVENTS: &str = "events";
/// `resume = true`: an `sse` route keeps its last settled event id on a
/// broker, and a restarted process resumes from it.
pub const RESUME: &str = "resume";
/// `broker = "name"`: the amqp connection that keeps an `sse` route's dead
/// letters and resume point (its `connection` names stream settings).
pub const BROKER: &str = "broker";
/// Options of an `sse` route.
pub const SSE_KEYS: &[&str] = &[
    URL,
    BULK_SIZE,
    BULK_FLUSH_INTERVAL,
    EVENTS,
    CONNECTION,
    TIMEOUT,
    BISECT,
    MAX_RETRIES,
    RETRY_BACKOFF,
    DEAD_LETTER,
    RESUME,
    BROKER,
];

/// Options of `declare_queue!("name", ...)`.
pub const DECLARE_QUEUE_KEYS: &[&str] = &[QUEUE_TYPE, DELIVERY_LIMIT, CONNECTION];

/// `order = N` of hooks.
pub const ORDER: &str = "order";
/// Options of `#[on_startup]` and `#[on_shutdown]`.
pub const HOOK_KEYS: &[&str] = &[ORDER];

/// `main!(amqp = "...")`.
pub const MAIN_AMQP: &str = "amqp";
/// `main!(shutdown_timeout = "30s")`.
pub const SHUTDOWN_TIMEOUT: &str = "shutdown_timeout";
/// `main!(http = "127.0.0.1:8080")`.
pub const MAIN_HTTP: &str = "http";
/// `main!(http_layers = path::to::layers)`: a `fn(Router) -> Router`
/// applied to the HTTP routes (tower layers: auth, CORS, tracing).
pub const MAIN_HTTP_LAYERS: &str = "http_layers";
/// Options of `worker::main!`.
pub const MAIN_KEYS: &[&str] = &[
    MAIN_AMQP,
    PREFETCH,
    BULK_FLUSH_INTERVAL,
    SHUTDOWN_TIMEOUT,
    MAIN_HTTP,
    MAIN_HTTP_LAYERS,
];
/// `main!(http = "off")` and `WORKER_HTTP_ADDR=off` disable the HTTP server.
pub const HTTP_OFF: &str = "off";

#!/usr/bin/env python3
"""Probe of quorum-queue delayed retries (RabbitMQ 4.3: x-delayed-retry-type,
x-delayed-retry-min, x-delayed-retry-max) against the project's delay-queue
retries (a classic queue with x-message-ttl that dead-letters back).

Needs pika (scripts/peers installs it in .venv-peers) and the local brokers of
scripts/rabbitmq (4.3 on 5672, 4.0 on 5640, 3.10 on 5610). Every queue it
creates is named `dr.*` and deleted before it exits.

    python scripts/probes/delayed_retries.py SECTION...

Sections: decl (4.3 argument validation and effective config), old (4.0.5
and 3.10.8), delays (redelivery gaps per type x reject/nack, with
x-delivery-limit 5 and dead-lettering), cap (min 500 / max 1200), hol
(does a delayed message hold back the one behind it), accuracy (fixed delays
100/500/2000 ms, broker vs delay queue), throughput[:N] (N messages, default
1000, retried once, broker vs delay queue), all.
"""

import decimal
import json
import os
import statistics
import subprocess
import sys
import time

import pika

HOST = "127.0.0.1"
PORTS = {"4.3": 5672, "4.0": 5640, "3.10": 5610}
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CREATED = {}  # queue name -> port


def log(*a):
    print(*a, flush=True)


def connect(port=5672):
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            HOST, port, credentials=pika.PlainCredentials("guest", "guest"),
            heartbeat=0,
        )
    )


def declare(ch, name, args, port=5672, durable=True):
    ch.queue_declare(name, durable=durable, arguments=args)
    CREATED[name] = port


def delete_all():
    by_port = {}
    for name, port in CREATED.items():
        by_port.setdefault(port, []).append(name)
    for port, names in by_port.items():
        c = connect(port)
        for n in names:
            ch = c.channel()
            try:
                ch.queue_delete(n)
            except Exception as e:  # noqa: BLE001
                log(f"  delete {n}: {e!r}")
        c.close()
    CREATED.clear()


def ctl(version, *args):
    r = subprocess.run(
        [os.path.join(REPO, "scripts/rabbitmq"), "--version", version, "ctl", *args],
        capture_output=True, text=True, timeout=120,
    )
    return (r.stdout + r.stderr).strip()


def overview(name):
    """rabbit_fifo's overview of a 4.3 quorum queue (config and counters)."""
    expr = (
        '{ok,Q}=rabbit_amqqueue:lookup(rabbit_misc:r(<<"/">>,queue,<<"%s">>)),'
        "{RaName,_}=amqqueue:get_pid(Q),"
        "{ok,{_,O},_}=ra:local_query({RaName,node()}, fun rabbit_fifo:overview/1),"
        "C=maps:get(config,O),"
        "{maps:get(delayed_retry,C,none),maps:get(delivery_limit,C,none),"
        "maps:with([num_messages,num_ready_messages,num_delayed_messages,"
        "num_checked_out,next_delayed_at],O)}." % name
    )
    return " ".join(ctl("4.3", "eval", expr).split())


def qq(**extra):
    return {"x-queue-type": "quorum", **extra}


def dr(t, mn, mx=None, **extra):
    a = qq(**extra)
    if t is not None:
        a["x-delayed-retry-type"] = t
    if mn is not None:
        a["x-delayed-retry-min"] = mn
    if mx is not None:
        a["x-delayed-retry-max"] = mx
    return a


def publish(ch, queue, body, headers=None):
    ch.basic_publish(
        "", queue, body,
        pika.BasicProperties(delivery_mode=2, headers=headers, message_id=body.decode()),
        mandatory=True,
    )


# ---------------------------------------------------------------- decl

DECL_CASES = [
    ("type all", dr("all", 100, 2000)),
    ("type failed", dr("failed", 100, 2000)),
    ("type returned", dr("returned", 100, 2000)),
    ("type disabled", dr("disabled", 100, 2000)),
    ("type disabled, no min", dr("disabled", None)),
    ("type exponential", dr("exponential", 100, 2000)),
    ("type linear", dr("linear", 100, 2000)),
    ("type ALL (upper case)", dr("ALL", 100, 2000)),
    ("type '' ", dr("", 100, 2000)),
    ("type as integer 1", dr(1, 100, 2000)),
    ("type all, no min, no max", dr("all", None)),
    ("type all, no min, max 2000", dr("all", None, 2000)),
    ("type all, min 100, no max", dr("all", 100)),
    ("min 100, max 2000, no type", dr(None, 100, 2000)),
    ("type all, min 0", dr("all", 0, 2000)),
    ("type all, min -1", dr("all", -1, 2000)),
    ("type all, min '100' (string)", dr("all", "100", 2000)),
    ("type all, min 100.5 (decimal)", dr("all", decimal.Decimal("100.5"), 2000)),
    ("type all, min 2^40", dr("all", 2 ** 40, 2 ** 41)),
    ("type all, max 50 < min 100", dr("all", 100, 50)),
    ("type all, max 0", dr("all", 100, 0)),
    ("type all, max -1", dr("all", 100, -1)),
]


def try_declare(port, name, args, durable=True):
    c = connect(port)
    ch = c.channel()
    try:
        ch.queue_declare(name, durable=durable, arguments=args)
        CREATED[name] = port
        res = "accepted"
    except pika.exceptions.ChannelClosedByBroker as e:
        res = f"refused {e.reply_code} {e.reply_text}"
    try:
        c.close()
    except Exception:  # noqa: BLE001
        pass
    return res


def section_decl():
    log("## decl (4.3.6): declaration -> result; effective (delayed_retry, delivery_limit)")
    for i, (label, args) in enumerate(DECL_CASES):
        name = f"dr.decl.{i}"
        res = try_declare(5672, name, args)
        eff = overview(name) if res == "accepted" else ""
        shown = {k: v for k, v in args.items() if k != "x-queue-type"}
        log(f"  {label:32s} {json.dumps(shown, default=str)} -> {res} {eff}")
        delete_all()
    # other queue types
    for label, args, durable in [
        ("classic + type all", dict(dr("all", 100, 2000), **{"x-queue-type": "classic"}), True),
        ("stream + type all", dict(dr("all", 100, 2000), **{"x-queue-type": "stream"}), True),
    ]:
        res = try_declare(5672, "dr.decl.other", args, durable)
        log(f"  {label:32s} -> {res}")
        delete_all()
    # redeclaring with another value
    c = connect()
    ch = c.channel()
    declare(ch, "dr.decl.re", dr("failed", 100, 2000))
    for label, args in [
        ("same args", dr("failed", 100, 2000)),
        ("min 200", dr("failed", 200, 2000)),
        ("type all", dr("all", 100, 2000)),
        ("no delayed-retry args", qq()),
    ]:
        try:
            ch.queue_declare("dr.decl.re", durable=True, arguments=args)
            res = "accepted"
        except pika.exceptions.ChannelClosedByBroker as e:
            res = f"refused {e.reply_code} {e.reply_text}"
            ch = c.channel()
        log(f"  redeclare dr.decl.re with {label:22s} -> {res}")
    c.close()
    delete_all()
    # policy keys
    log("  policy delayed-retry-type=all min 300 max 900 on ^dr\\.pol$:")
    log("   ", ctl("4.3", "set_policy", "dr-probe", "^dr\\.pol$",
                   '{"delayed-retry-type":"all","delayed-retry-min":300,"delayed-retry-max":900}',
                   "--apply-to", "quorum_queues").splitlines()[-1])
    c = connect()
    ch = c.channel()
    declare(ch, "dr.pol", qq())
    c.close()
    time.sleep(1)
    log("    effective:", overview("dr.pol"))
    log("   ", ctl("4.3", "clear_policy", "dr-probe").splitlines()[-1])
    time.sleep(1)
    log("    after clear_policy:", overview("dr.pol"))
    delete_all()


# ---------------------------------------------------------------- redelivery loop


def retry_loop(port, args, op, max_deliveries=7, idle=6.0, dead=None, label=""):
    """Publish one message to a fresh queue with `args`, requeue every delivery
    with `op` (reject|nack) until `max_deliveries`, then ack. Returns the
    deliveries and the dead-lettered copy (if any)."""
    c = connect(port)
    ch = c.channel()
    q = f"dr.loop.{label}"
    if dead:
        declare(ch, dead, qq(), port)
        args = dict(args, **{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead})
    declare(ch, q, args, port)
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=1)
    seen = []
    dead_seen = []
    state = {"sent": None, "last": time.monotonic()}

    def on_msg(chan, m, props, body):
        now = time.monotonic()
        h = props.headers or {}
        gap = None if state["sent"] is None else (now - state["sent"]) * 1000
        seen.append({
            "n": len(seen) + 1, "gap_ms": None if gap is None else round(gap, 1),
            "redelivered": m.redelivered,
            "x-delivery-count": h.get("x-delivery-count"),
            "x-acquired-count": h.get("x-acquired-count"),
        })
        state["last"] = now
        if len(seen) >= max_deliveries:
            chan.basic_ack(m.delivery_tag)
            state["sent"] = None
            return
        state["sent"] = time.monotonic()
        if op == "reject":
            chan.basic_reject(m.delivery_tag, requeue=True)
        else:
            chan.basic_nack(m.delivery_tag, requeue=True)

    def on_dead(chan, m, props, body):
        now = time.monotonic()
        h = props.headers or {}
        xd = h.get("x-death") or [{}]
        dead_seen.append({
            "after_last_op_ms": None if state["sent"] is None
            else round((now - state["sent"]) * 1000, 1),
            "x-first-death-reason": h.get("x-first-death-reason"),
            "x-death.reason": xd[0].get("reason"), "x-death.count": xd[0].get("count"),
            "x-delivery-count": h.get("x-delivery-count"),
        })
        state["sent"] = None
        state["last"] = now
        chan.basic_ack(m.delivery_tag)

    ch.basic_consume(q, on_msg)
    if dead:
        ch.basic_consume(dead, on_dead)
    publish(ch, q, b"m1")
    while len(seen) < max_deliveries and not dead_seen:
        c.process_data_events(time_limit=0.01)
        if time.monotonic() - state["last"] > idle:
            break
    # a dead-lettered copy arriving after the last delivery
    end = time.monotonic() + 0.5
    while time.monotonic() < end:
        c.process_data_events(time_limit=0.01)
    c.close()
    return seen, dead_seen


def show_loop(title, seen, dead_seen):
    gaps = [s["gap_ms"] for s in seen[1:]]
    log(f"  {title}: deliveries={len(seen)} gaps_ms={gaps}")
    for s in seen:
        log(f"      #{s['n']} gap={s['gap_ms']} redelivered={s['redelivered']} "
            f"x-delivery-count={s['x-delivery-count']} x-acquired-count={s['x-acquired-count']}")
    for d in dead_seen:
        log(f"      dead-lettered: {d}")


def section_delays():
    log("## delays (4.3.6): min 100, max 2000, x-delivery-limit 5, DLX '' -> dr.loop.dead")
    for t in ["all", "failed", "returned", "disabled"]:
        for op in ["reject", "nack"]:
            seen, dead = retry_loop(
                5672, dr(t, 100, 2000, **{"x-delivery-limit": 5}), op,
                max_deliveries=8, dead="dr.loop.dead", label=f"{t}.{op}")
            show_loop(f"type={t} {op}", seen, dead)
            delete_all()
    log("## delays (4.3.6): no delayed-retry arguments, x-delivery-limit 5 (baseline)")
    for op in ["reject", "nack"]:
        seen, dead = retry_loop(5672, qq(**{"x-delivery-limit": 5}), op, max_deliveries=8,
                                dead="dr.loop.dead", label=f"none.{op}")
        show_loop(f"no args {op}", seen, dead)
        delete_all()


def section_cap():
    log("## cap (4.3.6): min 500, max 1200, x-delivery-limit 10")
    for t, op in [("failed", "reject"), ("all", "reject"), ("all", "nack")]:
        seen, dead = retry_loop(5672, dr(t, 500, 1200, **{"x-delivery-limit": 10}), op,
                                max_deliveries=7, label=f"cap.{t}.{op}")
        show_loop(f"type={t} {op}", seen, dead)
        delete_all()
    log("## cap (4.3.6): min 100, max 50 (max below min, accepted as {all,100,50})")
    seen, dead = retry_loop(5672, dr("all", 100, 50, **{"x-delivery-limit": 10}), "reject",
                            max_deliveries=5, label="cap.inverted")
    show_loop("type=all reject", seen, dead)
    delete_all()
    log("## cap (4.3.6): min 100, no max (effective {all,100,100})")
    seen, dead = retry_loop(5672, dr("all", 100, None, **{"x-delivery-limit": 10}), "reject",
                            max_deliveries=5, label="cap.nomax")
    show_loop("type=all reject", seen, dead)
    delete_all()


def section_old():
    for v in ["4.0", "3.10"]:
        port = PORTS[v]
        log(f"## old ({v}, port {port})")
        for label, args in [("type all", dr("all", 100, 2000)),
                            ("type exponential", dr("exponential", 100, 2000)),
                            ("type all, min -1", dr("all", -1, 2000)),
                            ("type all, min '100'", dr("all", "100", 2000))]:
            log(f"  declare {label}: {try_declare(port, 'dr.old.decl', args)}")
            delete_all()
        for t, op in [("failed", "reject"), ("all", "nack")]:
            seen, dead = retry_loop(port, dr(t, 1000, 2000, **{"x-delivery-limit": 5}), op,
                                    max_deliveries=4, label=f"old.{t}.{op}")
            show_loop(f"type={t} min 1000 {op}", seen, dead)
            delete_all()


# ---------------------------------------------------------------- head of line


def section_hol():
    log("## hol (4.3.6): type failed, min=max=5000, prefetch 1; m1 rejected once, m2 acked")
    c = connect()
    ch = c.channel()
    q = "dr.hol"
    declare(ch, q, dr("failed", 5000, 5000))
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=1)
    t0 = time.monotonic()
    events = []

    def on_msg(chan, m, props, body):
        t = round((time.monotonic() - t0) * 1000, 1)
        first = not m.redelivered
        events.append((t, body.decode(), "redelivered" if m.redelivered else "first"))
        if body == b"m1" and first:
            chan.basic_reject(m.delivery_tag, requeue=True)
        else:
            chan.basic_ack(m.delivery_tag)

    publish(ch, q, b"m1")
    publish(ch, q, b"m2")
    t0 = time.monotonic()
    ch.basic_consume(q, on_msg)
    probed = False
    while len(events) < 3 and time.monotonic() - t0 < 15:
        c.process_data_events(time_limit=0.01)
        if len(events) == 2 and not probed:
            probed = True
            p = c.channel()
            ok = p.queue_declare(q, passive=True)
            log(f"  during the delay: passive declare message_count={ok.method.message_count}")
            rows = ctl("4.3", "list_queues", "-q", "name", "messages", "messages_ready",
                       "messages_unacknowledged").splitlines()
            log("  during the delay: list_queues name messages messages_ready "
                "messages_unacknowledged: " + " ".join(r for r in rows if r.startswith(q + "\t")))
            log(f"  during the delay: overview {overview(q)}")
            p.close()
    for e in events:
        log(f"  t={e[0]:8.1f} ms  {e[1]} ({e[2]})")
    # a message published while m1 is delayed
    log("  m1 rejected again, then m3 published during m1's delay:")
    events.clear()
    state = {"m1": 0}

    def on_msg2(chan, m, props, body):
        t = round((time.monotonic() - t0) * 1000, 1)
        events.append((t, body.decode()))
        if body == b"m1":
            state["m1"] += 1
        if body == b"m1" and state["m1"] == 1:
            chan.basic_reject(m.delivery_tag, requeue=True)
        else:
            chan.basic_ack(m.delivery_tag)

    c.close()
    c = connect()
    ch = c.channel()
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=1)
    publish(ch, q, b"m1")
    t0 = time.monotonic()
    ch.basic_consume(q, on_msg2)
    published = False
    while state["m1"] < 2 and time.monotonic() - t0 < 15:
        c.process_data_events(time_limit=0.01)
        if events and not published:
            published = True
            publish(ch, q, b"m3")
            events.append((round((time.monotonic() - t0) * 1000, 1), "m3 published"))
    for e in events:
        log(f"  t={e[0]:8.1f} ms  {e[1]}")
    c.close()
    # queue.purge while a message is delayed
    c = connect()
    ch = c.channel()
    ch.confirm_delivery()
    publish(ch, q, b"m4")
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=True)
    time.sleep(0.2)
    ok = ch.queue_purge(q)
    log(f"  m4 rejected (5 s delay), then queue.purge: purged message_count={ok.method.message_count}")
    log(f"  after purge: overview {overview(q)}")
    got = []
    end = time.monotonic() + 6
    while time.monotonic() < end and not got:
        m, _, body = ch.basic_get(q)
        if m:
            got.append(body)
            ch.basic_ack(m.delivery_tag)
        time.sleep(0.05)
    log(f"  within 6 s after the purge, basic.get returned: {got or 'nothing'}")
    # where a delayed message goes once its delay is over
    ch.queue_delete(q)
    declare(ch, q, dr("failed", 500, 500))
    publish(ch, q, b"m1")
    m, _, _ = ch.basic_get(q)
    ch.basic_reject(m.delivery_tag, requeue=True)
    for i in range(2, 7):
        publish(ch, q, f"m{i}".encode())
    time.sleep(1.0)
    order = []
    while True:
        m, _, body = ch.basic_get(q)
        if not m:
            break
        order.append(body.decode())
        ch.basic_ack(m.delivery_tag)
    log(f"  m1 rejected (500 ms), m2..m6 published during the delay, basic.get after 1 s: {order}")
    c.close()
    delete_all()


# ---------------------------------------------------------------- accuracy


def broker_gaps(delay, attempts):
    c = connect()
    ch = c.channel()
    q = f"dr.acc.broker.{delay}"
    declare(ch, q, dr("failed", delay, delay, **{"x-delivery-limit": 100}))
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=1)
    gaps = []
    st = {"sent": None, "n": 0}

    def on_msg(chan, m, props, body):
        now = time.monotonic()
        if st["sent"] is not None:
            gaps.append((now - st["sent"]) * 1000)
        st["n"] += 1
        if st["n"] > attempts:
            chan.basic_ack(m.delivery_tag)
            st["sent"] = None
            return
        st["sent"] = time.monotonic()
        chan.basic_reject(m.delivery_tag, requeue=True)

    ch.basic_consume(q, on_msg)
    publish(ch, q, b"acc")
    end = time.monotonic() + attempts * delay / 1000 * 3 + 5
    while st["n"] <= attempts and time.monotonic() < end:
        c.process_data_events(time_limit=0.005)
    c.close()
    delete_all()
    return gaps


def delayq_gaps(delay, attempts):
    c = connect()
    ch = c.channel()
    q = f"dr.acc.work.{delay}"
    dq = f"{q}.retry.{delay}ms"
    declare(ch, q, qq())
    declare(ch, dq, {"x-message-ttl": delay, "x-dead-letter-exchange": "",
                     "x-dead-letter-routing-key": q})
    ch.confirm_delivery()
    ch.basic_qos(prefetch_count=1)
    gaps = []
    st = {"sent": None, "n": 0}

    def on_msg(chan, m, props, body):
        now = time.monotonic()
        if st["sent"] is not None:
            gaps.append((now - st["sent"]) * 1000)
        st["n"] += 1
        if st["n"] > attempts:
            chan.basic_ack(m.delivery_tag)
            st["sent"] = None
            return
        st["sent"] = time.monotonic()
        publish(chan, dq, body, {"x-retry-count": st["n"]})  # waits for the confirm
        chan.basic_ack(m.delivery_tag)

    ch.basic_consume(q, on_msg)
    publish(ch, q, b"acc")
    end = time.monotonic() + attempts * delay / 1000 * 3 + 5
    while st["n"] <= attempts and time.monotonic() < end:
        c.process_data_events(time_limit=0.005)
    c.close()
    delete_all()
    return gaps


def fmt(xs):
    xs = sorted(xs)
    return (f"n={len(xs)} median={statistics.median(xs):.1f} min={xs[0]:.1f} "
            f"max={xs[-1]:.1f} mean={statistics.mean(xs):.1f}")


def section_accuracy(rounds=3, attempts=5):
    log(f"## accuracy (4.3.6): fixed delay, {attempts} retries of one message per run, "
        f"{rounds} interleaved runs; gap = requeue/republish sent -> redelivered (ms)")
    log("   broker: QQ x-delayed-retry-type failed, min=max=delay, basic.reject(requeue)")
    log("   delayq: QQ work queue + classic delay queue (x-message-ttl=delay, DLX '' -> work), "
        "republish with confirm then ack")
    for delay in [100, 500, 2000]:
        res = {"broker": [], "delayq": []}
        for r in range(rounds):
            for mech in (["broker", "delayq"] if r % 2 == 0 else ["delayq", "broker"]):
                g = broker_gaps(delay, attempts) if mech == "broker" else delayq_gaps(delay, attempts)
                log(f"  delay={delay} run={r + 1} {mech}: {[round(x, 1) for x in g]}")
                res[mech] += g
        for mech, g in res.items():
            log(f"  delay={delay} {mech}: {fmt(g)}  median error={statistics.median(g) - delay:+.1f} ms")


# ---------------------------------------------------------------- throughput


def throughput_run(mech, n=1000, delay=100, prefetch=100):
    c = connect()
    ch = c.channel()
    tag = f"{mech}.{int(time.time() * 1000) % 100000}"
    q = f"dr.tp.{tag}"
    if mech == "broker":
        declare(ch, q, dr("failed", delay, delay, **{"x-delivery-limit": 20}))
    else:
        declare(ch, q, qq())
        dq = f"{q}.retry.{delay}ms"
        declare(ch, dq, {"x-message-ttl": delay, "x-dead-letter-exchange": "",
                         "x-dead-letter-routing-key": q})
    ch.confirm_delivery()
    for i in range(n):
        publish(ch, q, str(i).encode())
    pc = None
    if mech == "delayq-noconfirm":
        pc = c.channel()  # publishes without confirms on its own channel
    ch.basic_qos(prefetch_count=prefetch)
    retried = set()
    done = set()
    t = {}

    def on_msg(chan, m, props, body):
        if body in retried:
            done.add(body)
            chan.basic_ack(m.delivery_tag)
            if len(done) == n:
                t["end"] = time.monotonic()
            return
        retried.add(body)
        if mech == "broker":
            chan.basic_reject(m.delivery_tag, requeue=True)
        elif mech == "delayq-confirm":
            publish(chan, dq, body, {"x-retry-count": 1})
            chan.basic_ack(m.delivery_tag)
        else:
            publish(pc, dq, body, {"x-retry-count": 1})
            chan.basic_ack(m.delivery_tag)

    t["start"] = time.monotonic()
    ch.basic_consume(q, on_msg)
    while "end" not in t and time.monotonic() - t["start"] < 120:
        c.process_data_events(time_limit=0.01)
    c.close()
    delete_all()
    if "end" not in t:
        return None, len(done)
    el = t["end"] - t["start"]
    return n / el, el


def section_throughput(n=1000, rounds=3):
    mechs = ["broker", "delayq-confirm", "delayq-noconfirm"]
    log(f"## throughput (4.3.6): {n} persistent messages pre-published to a QQ, consumed with "
        "prefetch 100, each retried once with a 100 ms delay, clock from basic.consume to the "
        "last redelivery")
    res = {m: [] for m in mechs}
    for r in range(rounds):
        order = mechs[r % 3:] + mechs[:r % 3]
        for m in order:
            rate, el = throughput_run(m, n=n)
            log(f"  run={r + 1} {m}: {rate:.0f} msg/s ({el:.2f} s)" if rate
                else f"  run={r + 1} {m}: incomplete ({el} done)")
            if rate:
                res[m].append(rate)
    for m, rates in res.items():
        if rates:
            log(f"  {m}: runs={[round(x) for x in rates]} median={statistics.median(rates):.0f} msg/s")


SECTIONS = {
    "decl": section_decl, "old": section_old, "delays": section_delays, "cap": section_cap,
    "hol": section_hol, "accuracy": section_accuracy, "throughput": section_throughput,
}


def main():
    names = []
    for n in sys.argv[1:] or ["all"]:
        names += list(SECTIONS) if n == "all" else [n]
    log(f"# pika {pika.__version__}, {time.strftime('%Y-%m-%dT%H:%M:%S')}")
    try:
        for n in names:
            name, _, arg = n.partition(":")
            SECTIONS[name](*([int(arg)] if arg else []))
    finally:
        delete_all()


if __name__ == "__main__":
    main()

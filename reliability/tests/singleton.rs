//! A `singleton = true` cron route (`tick`, every second) in 3 worker
//! processes against the real RabbitMQ: each slot fires in one process
//! only, and when that process is SIGKILLed another fires the next slots.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;

fn total(workers: &[WorkerProc]) -> usize {
    workers.iter().map(|w| ticks(w).len()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_of_three_fires_each_slot_and_another_takes_over() {
    let _serial = SERIAL.lock().await;
    let vh = Vhost::fresh("singleton");
    let mut workers: Vec<WorkerProc> = (1..=3)
        .map(|i| WorkerProc::spawn(&format!("w{i}"), &vh, &[("FAULT_TICKS", "1")]))
        .collect();
    {
        let ws = &workers;
        wait_until(
            "8 ticks",
            Duration::from_secs(60),
            || ws[0].tail(),
            async || total(ws) >= 8,
        )
        .await;
    }
    let firing: Vec<usize> = (0..3).filter(|&i| !ticks(&workers[i]).is_empty()).collect();
    assert_eq!(
        firing.len(),
        1,
        "one process fires: {:?}",
        (0..3).map(|i| ticks(&workers[i])).collect::<Vec<_>>()
    );
    let holder = firing[0];
    workers[holder].signal("KILL");
    let _ = workers[holder].wait_exit(Duration::from_secs(10)).await;
    let last_of_holder = *ticks(&workers[holder]).last().unwrap();
    {
        let ws = &workers;
        wait_until(
            "5 ticks elsewhere",
            Duration::from_secs(60),
            String::new,
            async || {
                (0..3)
                    .filter(|&i| i != holder)
                    .map(|i| ticks(&ws[i]).len())
                    .sum::<usize>()
                    >= 5
            },
        )
        .await;
    }
    for (i, w) in workers.iter_mut().enumerate() {
        if i != holder {
            w.stop(Duration::from_secs(30)).await;
        }
    }
    let per_worker: Vec<Vec<u64>> = workers.iter().map(ticks).collect();
    let mut by_second: BTreeMap<u64, usize> = BTreeMap::new();
    for t in per_worker.iter().flatten() {
        *by_second.entry(*t).or_insert(0) += 1;
    }
    let duplicates: Vec<u64> = by_second
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    let successors: Vec<usize> = (0..3)
        .filter(|&i| i != holder && !per_worker[i].is_empty())
        .collect();
    let first_after = per_worker[successors[0]][0];
    let (first, last) = (
        *by_second.keys().next().unwrap(),
        *by_second.keys().last().unwrap(),
    );
    let missed = (last - first + 1) as usize - by_second.len();
    println!(
        "[singleton] 3 processes, a cron route every second: {} slots fired by worker {} until SIGKILL, then worker {} from {} s later; {} slots fired in all, {missed} not fired (the hand-over), {} fired twice",
        per_worker[holder].len(),
        holder + 1,
        successors[0] + 1,
        first_after - last_of_holder,
        by_second.len(),
        duplicates.len()
    );
    assert!(duplicates.is_empty(), "slots fired twice: {duplicates:?}");
    assert_eq!(successors.len(), 1, "one process took over: {per_worker:?}");
    assert!(
        first_after - last_of_holder <= 5,
        "taken over within 5 slots"
    );
    assert!(missed <= 5, "{missed} slots lost around the hand-over");
    vh.delete();
}

use worker::__private_0_1_0::HookKind;
use worker::{on_shutdown, on_startup, App, State};

struct Db;

#[on_startup(order = 10)]
async fn late(_db: State<Db>) {}

#[on_startup(order = -10)]
async fn early(app: App) -> Result<(), worker::Error> {
    app.insert(Db);
    Ok(())
}

#[on_startup]
async fn middle() {}

#[on_shutdown(order = 1)]
async fn bye() {}

fn main() {
    let hooks = worker::__private_0_1_0::registry::hooks();
    let of = |kind: HookKind| -> Vec<(i32, &str)> {
        hooks
            .iter()
            .filter(|h| h.kind == kind)
            .map(|h| (h.order, h.name))
            .collect()
    };
    assert_eq!(
        of(HookKind::Startup),
        [(-10, "early"), (0, "middle"), (10, "late")]
    );
    assert_eq!(of(HookKind::Shutdown), [(1, "bye")]);
}

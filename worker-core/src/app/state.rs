//! [`State`]: typed application state as a handler argument.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// Extractor for typed application state, as axum's `State`.
///
/// `State(db): State<Db>` reads the value inserted with `app.insert(db)`; if
/// none was inserted the handler fails with an error naming the type.
pub struct State<T>(pub Arc<T>);

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> Self {
        State(self.0.clone())
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&self.0).finish()
    }
}

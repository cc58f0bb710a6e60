//! [`wait`]: a submitted run followed from any process until it is over
//! or waits on a person.

use klieo_types::{Error, MemoryError, RunId, RunQueue, RunState};
use std::time::Duration;
use tokio::time::Instant;

/// The first pause between two looks at the run's state; each pause
/// doubles, up to [`LONGEST_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(10);

/// The longest pause between two looks.
const LONGEST_PAUSE: Duration = Duration::from_secs(1);

/// The least a look at the run's state is given, however close the
/// wait's bound.
const READ_GRACE: Duration = Duration::from_secs(5);

/// Waits until the run `run` is over (completed, failed, cancelled) or
/// suspended for approval, or until `within` has passed (`Duration::MAX`
/// waits as long as it takes), and returns its state then: a state that
/// is neither tells the caller the wait ran out.
/// Dropping the future stops waiting. The store is asked again after
/// pauses that grow from 10 ms to 1 s; a store that does not answer is
/// waited for no longer than the bound either (each look at least 5 s,
/// so a look at the bound may end that much past it; the last answer is
/// the state then).
///
/// `Error::Memory(MemoryError::NotFound)` for a run the store does not
/// know; the store's own failures as they come; `Error::Memory` when the
/// store answered nothing within the bound.
pub async fn wait(queue: &dyn RunQueue, run: RunId, within: Duration) -> Result<RunState, Error> {
    // A bound past what the clock holds (`Duration::MAX`) is no bound.
    let deadline = Instant::now().checked_add(within);
    let mut pause = FIRST_PAUSE;
    let mut last = None;
    loop {
        let read = queue.state(run);
        let read = match deadline {
            // A read has its moment even at the bound (a store answers
            // none at once): the last one may end a little past it.
            Some(deadline) => {
                match tokio::time::timeout_at(deadline.max(Instant::now() + READ_GRACE), read).await
                {
                    Ok(read) => read,
                    Err(_) => return last.ok_or_else(|| silent(run, within)),
                }
            }
            None => read.await,
        };
        let Some(state) = read? else {
            return Err(Error::Memory(MemoryError::NotFound(format!(
                "run {run}: no run of that id was submitted to or written in this store"
            ))));
        };
        let now = Instant::now();
        let over = deadline.is_some_and(|deadline| now >= deadline);
        if state.is_finished() || state == RunState::Suspended || over {
            return Ok(state);
        }
        last = Some(state);
        let next = now + pause;
        tokio::time::sleep_until(deadline.map_or(next, |deadline| next.min(deadline))).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

/// The store answered nothing of `run` within `within`.
fn silent(run: RunId, within: Duration) -> Error {
    Error::Memory(MemoryError::backend(format!(
        "the store did not say within {within:?} where run {run} is: check that it is \
         reachable, and ask again"
    )))
}

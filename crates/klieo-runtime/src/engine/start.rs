//! Starting a run on the engine: its lease taken, what comes before the
//! loop written, its first cycle opened.

use super::{failing, open_cycle, Engine, Mode, State};
use crate::fact::Fact;
use crate::lease::{self, give_up};
use crate::run::{OpenFailure, Run};
use klieo_types::{Error, Message};
use std::future::Future;
use std::sync::Arc;
use tracing::Instrument;

/// Takes the run's lease, records `Started` (with `prompt`, appended to
/// the thread in the same commit) and opens the first cycle; see
/// [`start_with`].
pub(crate) async fn start(
    run: Arc<Run>,
    prompt: Option<Message>,
    mode: Mode,
) -> Result<Engine, Error> {
    start_with(run, mode, |run| async move {
        let started = run.emit(Fact::Started {
            agent: &run.ctx.agent_name,
        });
        let child_of = run.parent().map(|parent| {
            run.emit(Fact::ChildOf {
                parent: parent.run,
                step: parent.step,
                call_id: &parent.call_id,
            })
        });
        let shaped = run.output().map(|spec| {
            let (name, schema) = spec.shape();
            run.emit(Fact::Shaped { name, schema })
        });
        let episodes = started
            .episode
            .into_iter()
            .chain(child_of.and_then(|c| c.episode))
            .chain(shaped.and_then(|s| s.episode))
            .collect();
        run.fence_new();
        run.write(
            &mut run
                .commit()
                .with_messages(prompt.into_iter().collect())
                .with_episodes(episodes),
        )
        .await?;
        Ok(0)
    })
    .await
}

/// Takes the run's lease, runs `prelude` (which writes what comes before
/// the loop and returns the number of steps done), opens the next cycle
/// and returns the engine, which holds the lease until it ends. An error
/// before the first cycle is open is returned here, recorded as `Failed`
/// (unless the run is left to be resumed), with the lease given up.
pub(crate) async fn start_with<F, Fut>(
    run: Arc<Run>,
    mode: Mode,
    prelude: F,
) -> Result<Engine, Error>
where
    F: FnOnce(Arc<Run>) -> Fut,
    Fut: Future<Output = Result<u32, Error>>,
{
    let span = run.span.clone();
    let lease = match lease::hold(&run).instrument(span.clone()).await {
        Ok(lease) => lease,
        Err(e) => {
            let _ = run.emit(Fact::NotStarted { error: &e });
            return Err(e);
        }
    };
    let first = async {
        let done = prelude(Arc::clone(&run)).await?;
        run.check_next_step(done)?;
        Ok::<_, Error>(open_cycle(&run, done + 1, mode, None).await)
    }
    .instrument(span)
    .await;
    let mut lease = lease;
    let state = match first {
        Ok(Ok(cycle)) => State::Relaying(cycle),
        Ok(Err(OpenFailure::InBand(e))) => failing(&run, e, lease.take()),
        Err(e) | Ok(Err(OpenFailure::Init(e))) => {
            let ended = run.ended_by(e).await;
            give_up(lease, Some(&ended.error)).await;
            return Err(ended.error);
        }
    };
    let events = run.progress.queues_events();
    Ok(Engine {
        run,
        mode,
        state,
        events,
        lease,
        answer: None,
    })
}

//! [`TypedEvents`]: a typed run's events, ending with its value.

use crate::events::RunEvents;
use crate::output::typed;
use crate::summary::{RunEvent, Typed};
use klieo_types::{Error, RunId};
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;

/// One thing a typed run did: an event as [`RunEvents`] hands it out, or,
/// last, its answer with the value read from it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TypedEvent<T> {
    /// Text, a tool call, its result, a finished step.
    Event(RunEvent),
    /// The run answered: the same value `run_typed` returns. It is the
    /// last event.
    Finished(Typed<T>),
}

/// The events of a typed run ([`Session::stream_typed`](crate::Session::stream_typed)):
/// those of a [`RunEvents`], the last one [`TypedEvent::Finished`] with
/// the value, or one `Err` (the same error `run_typed` returns).
#[must_use = "a run's stream does nothing unless polled"]
pub struct TypedEvents<T> {
    events: RunEvents,
    value: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> TypedEvents<T> {
    pub(crate) fn new(events: RunEvents) -> Self {
        Self {
            events,
            value: PhantomData,
        }
    }

    /// The run these are the events of, known before its first event.
    pub fn run_id(&self) -> RunId {
        self.events.run_id()
    }

    /// The next event; `None` after the last.
    pub async fn next(&mut self) -> Option<Result<TypedEvent<T>, Error>> {
        Some(match self.events.next().await? {
            Ok(RunEvent::Finished(answer)) => typed(answer).map(TypedEvent::Finished),
            Ok(event) => Ok(TypedEvent::Event(event)),
            Err(e) => Err(e),
        })
    }
}

/// The events of a run that asks for a `T`, read as such: the streamed
/// continuation of a typed run (`Agent::approve_stream`, `deny_stream`,
/// `resume_stream` ask for the shape its journal recorded), whose last
/// event becomes [`TypedEvent::Finished`] with the value. The run checks
/// its answer against the recorded shape only (that it holds JSON), so an
/// answer that is not a `T` ends as `Error::InvalidOutput`, unrepaired;
/// `Agent::approve_stream_typed`, `deny_stream_typed` and
/// `resume_stream_typed` check and repair it as a `T`.
///
/// ```
/// use klieo_runtime::{Agent, RunEvents, TypedEvents};
/// # fn show(agent: &Agent, ticket: &klieo_types::Ticket) {
/// #[derive(serde::Deserialize, schemars::JsonSchema)]
/// struct Decision {
///     refunded_cents: u32,
/// }
/// let events: TypedEvents<Decision> = agent.approve_stream(ticket).into();
/// # drop(events);
/// # }
/// ```
impl<T: DeserializeOwned> From<RunEvents> for TypedEvents<T> {
    fn from(events: RunEvents) -> Self {
        Self::new(events)
    }
}

impl<T> fmt::Debug for TypedEvents<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedEvents")
            .field("events", &self.events)
            .finish()
    }
}

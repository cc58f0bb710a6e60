//! A capturing `tracing` subscriber: every span's name, parent and field
//! values, and every event's field values.

use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};

#[derive(Debug, Clone)]
pub(crate) struct SpanRec {
    pub(crate) id: u64,
    pub(crate) name: &'static str,
    pub(crate) parent: Option<u64>,
    pub(crate) fields: Vec<(String, String)>,
    /// The fields recorded as signed integers (OpenTelemetry's integers;
    /// an unsigned one is exported as text).
    pub(crate) signed: Vec<String>,
}

impl SpanRec {
    pub(crate) fn get(&self, field: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(name, _)| name == field)
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Captured {
    pub(crate) spans: Vec<SpanRec>,
    pub(crate) events: Vec<Vec<(String, String)>>,
    /// The spans closed (their last handle dropped), in order.
    pub(crate) closed: Vec<u64>,
    /// Each (span, the span it follows from).
    pub(crate) follows: Vec<(u64, u64)>,
    stack: Vec<u64>,
    /// Each open span's handles.
    handles: std::collections::HashMap<u64, usize>,
}

impl Captured {
    pub(crate) fn named(&self, name: &str) -> Vec<&SpanRec> {
        self.spans.iter().filter(|s| s.name == name).collect()
    }

    pub(crate) fn all_values(&self) -> impl Iterator<Item = &str> {
        let spans = self.spans.iter().flat_map(|s| s.fields.iter());
        spans
            .chain(self.events.iter().flatten())
            .map(|(_, value)| value.as_str())
    }
}

/// Records every span's name, parent and field values, and every event's
/// field values.
#[derive(Clone, Default)]
struct Capture {
    next_id: Arc<AtomicU64>,
    state: Arc<Mutex<Captured>>,
}

impl Capture {
    fn with<T>(&self, f: impl FnOnce(&mut Captured) -> T) -> T {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

struct Fields<'a>(&'a mut Vec<(String, String)>, &'a mut Vec<String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.1.push(field.name().to_owned());
        self.record_debug(field, &value);
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        let (mut fields, mut signed) = (Vec::new(), Vec::new());
        attrs.record(&mut Fields(&mut fields, &mut signed));
        self.with(|state| {
            let parent = match attrs.parent() {
                Some(parent) => Some(parent.into_u64()),
                None if attrs.is_contextual() => state.stack.last().copied(),
                None => None,
            };
            state.handles.insert(id, 1);
            state.spans.push(SpanRec {
                id,
                name: attrs.metadata().name(),
                parent,
                fields,
                signed,
            });
        });
        Id::from_u64(id)
    }
    fn record(&self, span: &Id, values: &Record<'_>) {
        self.with(|state| {
            if let Some(rec) = state.spans.iter_mut().find(|s| s.id == span.into_u64()) {
                values.record(&mut Fields(&mut rec.fields, &mut rec.signed));
            }
        });
    }
    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.with(|state| state.follows.push((span.into_u64(), follows.into_u64())));
    }
    fn clone_span(&self, span: &Id) -> Id {
        self.with(|state| {
            if let Some(handles) = state.handles.get_mut(&span.into_u64()) {
                *handles += 1;
            }
        });
        span.clone()
    }
    fn try_close(&self, span: Id) -> bool {
        self.with(|state| {
            let id = span.into_u64();
            let Some(handles) = state.handles.get_mut(&id) else {
                return false;
            };
            *handles -= 1;
            let closed = *handles == 0;
            if closed {
                state.handles.remove(&id);
                state.closed.push(id);
            }
            closed
        })
    }
    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields, &mut Vec::new()));
        self.with(|state| state.events.push(fields));
    }
    fn enter(&self, span: &Id) {
        self.with(|state| state.stack.push(span.into_u64()));
    }
    fn exit(&self, span: &Id) {
        self.with(|state| {
            if let Some(at) = state.stack.iter().rposition(|&s| s == span.into_u64()) {
                state.stack.remove(at);
            }
        });
    }
}

/// A subscriber that wants nothing, kept registered for the whole test
/// binary. With only one registered dispatcher, `tracing` asks the
/// *registering thread's* default about a new callsite, so a span first
/// hit by another test's thread would be cached as never wanted, here too.
/// Two live dispatchers make it ask every registered one; this one's `OFF`
/// level hint keeps spans off until a capture is installed.
struct Off;

impl Subscriber for Off {
    fn register_callsite(&self, _metadata: &'static Metadata<'static>) -> Interest {
        Interest::never()
    }
    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::OFF)
    }
    fn enabled(&self, _metadata: &Metadata<'_>) -> bool {
        false
    }
    fn new_span(&self, _attrs: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _span: &Id, _values: &Record<'_>) {}
    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}
    fn event(&self, _event: &Event<'_>) {}
    fn enter(&self, _span: &Id) {}
    fn exit(&self, _span: &Id) {}
}

/// Runs `scenario` on a current-thread runtime with a capturing subscriber
/// as this thread's default; returns its output and what was captured.
pub(crate) fn captured<T, F: Future<Output = T>>(scenario: impl FnOnce() -> F) -> (T, Captured) {
    static OFF: OnceLock<Dispatch> = OnceLock::new();
    OFF.get_or_init(|| Dispatch::new(Off));
    let capture = Capture::default();
    let guard = tracing::subscriber::set_default(capture.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let output = runtime.block_on(scenario());
    drop(runtime);
    drop(guard);
    let state = std::mem::take(&mut *capture.state.lock().unwrap());
    (output, state)
}

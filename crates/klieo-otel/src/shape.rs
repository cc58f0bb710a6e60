//! [`Shaped`]: klieo's spans as the GenAI conventions and docs/TELEMETRY.md
//! describe them, where the `tracing` bridge cannot make them so: the
//! conventions' attribute types, one value per attribute, and events
//! without the bridge's `tracing` metadata.

use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use std::collections::HashSet;
use std::time::Duration;

/// The attributes the conventions declare as string arrays, which a
/// `tracing` field records as one string.
const STRING_ARRAYS: &[&str] = &["gen_ai.response.finish_reasons"];

/// The attributes `tracing-opentelemetry` puts first on every event,
/// whatever its `with_level` and `with_target` say.
const BRIDGE_EVENT_METADATA: [&str; 2] = ["level", "target"];

/// A [`SpanProcessor`] that hands `inner` each ended span shaped as the
/// conventions and docs/TELEMETRY.md say:
///
/// - `gen_ai.response.finish_reasons` becomes the string array `["stop"]`
///   a backend expects, not `"stop"`;
/// - an attribute recorded twice keeps its last value only (the bridge
///   would send both);
/// - an event loses the `level` and `target` attributes the bridge adds to
///   every event.
///
/// [`init`](crate::init) puts it before the exporter; put it before your
/// own when building a provider yourself.
#[derive(Debug)]
pub struct Shaped<P> {
    inner: P,
}

impl<P: SpanProcessor> Shaped<P> {
    /// Shapes the spans `inner` gets.
    pub fn new(inner: P) -> Self {
        Self { inner }
    }
}

/// `span` shaped as [`Shaped`] says.
pub(crate) fn shape(span: &mut SpanData) {
    last_values_only(&mut span.attributes);
    for KeyValue { key, value, .. } in &mut span.attributes {
        if STRING_ARRAYS.contains(&key.as_str()) {
            if let Value::String(text) = value {
                let one = StringValue::from(text.as_str().to_owned());
                *value = Value::Array(Array::String(vec![one]));
            }
        }
    }
    for event in &mut span.events.events {
        let keys = event.attributes.iter().take(2).map(|kv| kv.key.as_str());
        if keys.eq(BRIDGE_EVENT_METADATA) {
            event.attributes.drain(..2);
        }
    }
}

/// Keeps the last value of each key, in the order the keys were last set.
fn last_values_only(attributes: &mut Vec<KeyValue>) {
    let mut seen = HashSet::with_capacity(attributes.len());
    let mut kept: Vec<KeyValue> = attributes
        .drain(..)
        .rev()
        .filter(|kv| seen.insert(kv.key.clone()))
        .collect();
    kept.reverse();
    *attributes = kept;
}

impl<P: SpanProcessor> SpanProcessor for Shaped<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        shape(&mut span);
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attribute_recorded_twice_keeps_its_last_value() {
        let mut attributes = vec![
            KeyValue::new("a", 1),
            KeyValue::new("b", "x"),
            KeyValue::new("a", 2),
        ];
        last_values_only(&mut attributes);
        assert_eq!(attributes, [KeyValue::new("b", "x"), KeyValue::new("a", 2)]);
    }
}

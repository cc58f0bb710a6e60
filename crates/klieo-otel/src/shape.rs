//! [`Shaped`]: klieo's span attributes given the types the GenAI
//! conventions declare, where `tracing` fields cannot carry them.

use opentelemetry::{Array, Context, KeyValue, StringValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};
use opentelemetry_sdk::Resource;
use std::time::Duration;

/// The attributes the conventions declare as string arrays, which a
/// `tracing` field records as one string.
const STRING_ARRAYS: &[&str] = &["gen_ai.response.finish_reasons"];

/// A [`SpanProcessor`] that hands `inner` each ended span with its GenAI
/// attributes of the conventions' types: `gen_ai.response.finish_reasons`
/// becomes the string array `["stop"]` a backend expects, not `"stop"`.
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

/// `span`'s attributes with the conventions' types.
pub(crate) fn shape(span: &mut SpanData) {
    for KeyValue { key, value, .. } in &mut span.attributes {
        if STRING_ARRAYS.contains(&key.as_str()) {
            if let Value::String(text) = value {
                let one = StringValue::from(text.as_str().to_owned());
                *value = Value::Array(Array::String(vec![one]));
            }
        }
    }
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

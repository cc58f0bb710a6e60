//! A run's spans sent over OTLP/HTTP to a receiver on loopback, decoded,
//! and checked against the same golden file as the in-memory capture.

use crate::golden;
use crate::support::{golden_json, run, Mode, Shown};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message as _;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::Registry;

/// One request the receiver got: its request line and body.
struct Received {
    line: String,
    content_type: String,
    body: Vec<u8>,
}

/// An OTLP/HTTP receiver on loopback, answering 200 to each request and
/// handing it on; returns its `/v1/traces` URL.
fn receiver() -> (String, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let (mut length, mut content_type) = (0, String::new());
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                let header = header.trim_end();
                if header.is_empty() {
                    break;
                }
                let (name, value) = header.split_once(':').unwrap_or((header, ""));
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap(),
                    "content-type" => content_type = value.trim().to_owned(),
                    _ => {}
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
                .unwrap();
            let got = Received {
                line: line.trim_end().to_owned(),
                content_type,
                body,
            };
            if tx.send(got).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[tokio::test(start_paused = true)]
async fn an_otlp_http_export_decodes_to_the_golden_spans() {
    let (url, requests) = receiver();
    let provider = klieo_otel::provider(klieo_otel::otlp_exporter(Some(&url)).unwrap());
    let subscriber = Registry::default().with(klieo_otel::layer(&provider));
    {
        let _default = tracing::subscriber::set_default(subscriber);
        run(Mode::Blocking, false).await;
    }
    provider.force_flush().unwrap();

    let mut spans = Vec::new();
    while spans.len() < 4 {
        let got = requests
            .recv_timeout(Duration::from_secs(30))
            .expect("the spans reach the receiver within 30 s");
        assert_eq!(got.line, "POST /v1/traces HTTP/1.1");
        assert_eq!(got.content_type, "application/x-protobuf");
        let request = ExportTraceServiceRequest::decode(got.body.as_slice()).unwrap();
        for resource in request.resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    golden::check("blocking", &as_json(&spans));
}

/// Decoded spans as JSON (`support::golden_json`).
fn as_json(spans: &[Span]) -> Value {
    let shown = spans.iter().map(|s| Shown {
        id: s.span_id.clone(),
        parent: s.parent_span_id.clone(),
        start: s.start_time_unix_nano,
        name: s.name.clone(),
        kind: match s.kind {
            1 => "internal",
            2 => "server",
            3 => "client",
            4 => "producer",
            5 => "consumer",
            _ => "unspecified",
        },
        status: match &s.status {
            Some(st) if st.code == 2 => json!({"error": st.message}),
            Some(st) if st.code == 1 => json!("ok"),
            _ => json!("unset"),
        },
        attributes: pairs(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| (e.name.clone(), pairs(&e.attributes)))
            .collect(),
    });
    golden_json(shown.collect())
}

fn pairs(list: &[KeyValue]) -> Vec<(String, Value)> {
    list.iter()
        .map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, value)))
        .collect()
}

fn value(v: &AnyValue) -> Value {
    match &v.value {
        Some(any_value::Value::StringValue(s)) => json!(s),
        Some(any_value::Value::BoolValue(b)) => json!(b),
        Some(any_value::Value::IntValue(i)) => json!(i),
        Some(any_value::Value::DoubleValue(f)) => json!(f),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(value).collect()),
        other => json!(format!("{other:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn spans_the_collector_never_got_are_reported_by_the_shutdown() {
    use opentelemetry::trace::{Tracer as _, TracerProvider as _};
    // A port nothing listens on: each export fails.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/v1/traces?key=sk-url-SECRET");
    let exporter = klieo_otel::otlp_exporter(Some(&url)).unwrap();
    let failures = exporter.failures();
    let provider = klieo_otel::provider(exporter);
    let telemetry = klieo_otel::Telemetry::new(provider.clone()).with_failures(failures);
    drop(provider.tracer("t").start("lost"));
    let error = telemetry.shutdown().await.expect_err("the span was lost");
    let chain = klieo_types::ErrorChain(&error).to_string();
    assert!(chain.contains("could not be sent"), "{chain}");
    assert!(!chain.contains("SECRET"), "{chain}");
}

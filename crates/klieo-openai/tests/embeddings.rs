//! Embeddings: batching, order by index, per-token pooling, bad shapes.

use crate::support::KEY;
use klieo_openai::OpenAiClient;
use klieo_provider::builder::ClientBuilder;
use klieo_types::{LlmClient, LlmError};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn client(uri: &str, batch: usize) -> OpenAiClient {
    OpenAiClient::builder()
        .with_base_url(format!("{uri}/v1"))
        .with_api_key(KEY)
        .with_embedding_model("embed-model")
        .with_embedding_batch_size(batch)
        .build()
        .unwrap()
}

/// Answers each request with one vector per input, `[len(text), i]`, listed
/// in reverse order to check that `index` decides.
struct Echo;

impl Respond for Echo {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = request.body_json().unwrap();
        let inputs = body["input"].as_array().unwrap();
        let mut data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": [t.as_str().unwrap().len() as f32, i as f32]}))
            .collect();
        data.reverse();
        ResponseTemplate::new(200)
            .set_body_json(json!({"object": "list", "data": data, "model": "embed-model"}))
    }
}

async fn mount(server: &MockServer, responder: impl Respond + 'static) {
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(responder)
        .mount(server)
        .await;
}

#[tokio::test]
async fn batches_in_input_order() {
    let server = MockServer::start().await;
    mount(&server, Echo).await;
    let texts: Vec<String> = (0..5).map(|i| "a".repeat(i + 1)).collect();
    let out = client(&server.uri(), 2).embed(&texts).await.unwrap();
    assert_eq!(
        out,
        vec![
            vec![1.0, 0.0],
            vec![2.0, 1.0],
            vec![3.0, 0.0],
            vec![4.0, 1.0],
            vec![5.0, 0.0]
        ]
    );
    let requests = server.received_requests().await.unwrap();
    let sizes: Vec<usize> = requests
        .iter()
        .map(|r| {
            r.body_json::<Value>().unwrap()["input"]
                .as_array()
                .unwrap()
                .len()
        })
        .collect();
    assert_eq!(sizes, [2, 2, 1]);
    let first: Value = requests[0].body_json().unwrap();
    assert_eq!(first, json!({"model": "embed-model", "input": ["a", "aa"]}));
}

#[tokio::test]
async fn dimensions_are_sent_when_set() {
    let server = MockServer::start().await;
    mount(&server, Echo).await;
    let c = OpenAiClient::builder()
        .with_base_url(format!("{}/v1", server.uri()))
        .with_embedding_dimensions(256)
        .build()
        .unwrap();
    c.embed(&["x".into()]).await.unwrap();
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests[0].body_json::<Value>().unwrap()["dimensions"], 256);
}

#[tokio::test]
async fn empty_input_sends_nothing() {
    let server = MockServer::start().await;
    mount(&server, Echo).await;
    let out = client(&server.uri(), 4).embed(&[]).await.unwrap();
    assert!(out.is_empty());
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn per_token_vectors_are_mean_pooled() {
    let server = MockServer::start().await;
    let body = json!({"object": "list", "data": [
        {"object": "embedding", "index": 0, "embedding": [[1.0, 2.0, 3.0, 4.0], [3.0, 4.0, 5.0, 6.0]]},
        {"object": "embedding", "index": 1, "embedding": [[0.5, 0.5, 0.5, 0.5]]}
    ]});
    mount(&server, ResponseTemplate::new(200).set_body_json(body)).await;
    let out = client(&server.uri(), 8)
        .embed(&["ab".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(
        out,
        vec![vec![2.0, 3.0, 4.0, 5.0], vec![0.5, 0.5, 0.5, 0.5]]
    );
}

#[tokio::test]
async fn bad_shapes_are_decoding_errors() {
    let bodies = [
        json!({"data": [{"index": 0, "embedding": "AAAAAA=="}]}),
        json!({"data": [{"index": 0, "embedding": [[[1.0]]]}]}),
        json!({"data": [{"index": 0, "embedding": [[1.0, 2.0], [1.0]]}]}),
        json!({"data": [{"index": 0, "embedding": {"values": [1.0]}}]}),
        json!({"data": [{"index": 5, "embedding": [1.0]}]}),
        json!({"data": []}),
        json!({"embeddings": [[1.0]]}),
    ];
    for body in bodies {
        let server = MockServer::start().await;
        mount(
            &server,
            ResponseTemplate::new(200).set_body_json(body.clone()),
        )
        .await;
        let e = client(&server.uri(), 8)
            .embed(&["x".into()])
            .await
            .unwrap_err();
        match e {
            LlmError::Decoding { excerpt, .. } => assert!(excerpt.chars().count() <= 200),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn errors_map_like_chat() {
    let server = MockServer::start().await;
    mount(
        &server,
        ResponseTemplate::new(404).set_body_json(json!({"error": {"message": "no such model"}})),
    )
    .await;
    let e = client(&server.uri(), 8)
        .embed(&["x".into()])
        .await
        .unwrap_err();
    assert_eq!(
        e,
        LlmError::BadRequest {
            status: Some(404),
            message: "no such model".into(),
            hint: klieo_types::RetryHint::new(),
        }
    );
}

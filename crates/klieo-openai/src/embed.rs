//! Embeddings: batched `POST /embeddings` requests, results put back in
//! input order, and per-token vectors mean-pooled into one per input.

use crate::client::OpenAiClient;
use crate::request::EmbeddingsBody;
use klieo_http::secret::Hidden;
use klieo_provider::body::read_reply;
use klieo_provider::options::within;
use klieo_provider::status::{decoding, decoding_from};
use klieo_types::{Embedding, LlmError, TimeLimit};
use serde::de::value::SeqAccessDeserializer;
use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use tracing::debug;

/// Embeds `texts` in batches of the client's batch size, one request after
/// another; an empty input needs no request.
pub(crate) async fn embed(
    client: &OpenAiClient,
    texts: &[String],
) -> Result<Vec<Embedding>, LlmError> {
    let inner = client.inner();
    let mut out = Vec::with_capacity(texts.len());
    for batch in texts.chunks(inner.embedding_batch_size) {
        let body = EmbeddingsBody {
            model: &inner.embedding_model,
            input: batch,
            dimensions: inner.embedding_dimensions,
        };
        let body = serde_json::to_vec(&body)
            .map_err(|e| LlmError::bad_request(format!("the request cannot be encoded: {e}")))?;
        debug!(texts = batch.len(), "embeddings request");
        let call = async {
            let resp = client.post(&inner.embeddings_url, body, false).await?;
            read_reply(resp, inner.reply_limit, client.hidden()).await
        };
        let bytes = within(TimeLimit::Call, inner.request_timeout, call).await?;
        out.extend(parse_embeddings(&bytes, batch.len(), client.hidden())?);
    }
    Ok(out)
}

#[derive(Deserialize)]
struct Reply {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Shape,
}

/// An `embedding` field: one vector, or one vector per token.
enum Shape {
    Pooled(Vec<f32>),
    PerToken(Vec<Vec<f32>>),
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ShapeVisitor)
    }
}

struct ShapeVisitor;

/// One element of the outer list: a number or a list of numbers.
enum Element {
    Number(f32),
    Vector(Vec<f32>),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number or a list of numbers")
    }
    fn visit_f64<E>(self, v: f64) -> Result<Element, E> {
        Ok(Element::Number(v as f32))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Element, E> {
        Ok(Element::Number(v as f32))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Element, E> {
        Ok(Element::Number(v as f32))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
        Vec::<f32>::deserialize(SeqAccessDeserializer::new(seq)).map(Element::Vector)
    }
}

impl<'de> Visitor<'de> for ShapeVisitor {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of numbers or a list of lists of numbers")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
        use serde::de::Error;
        let Some(first) = seq.next_element::<Element>()? else {
            return Err(A::Error::custom("an embedding is an empty list"));
        };
        match first {
            Element::Number(n) => {
                let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0) + 1);
                v.push(n);
                while let Some(n) = seq.next_element::<f32>()? {
                    v.push(n);
                }
                Ok(Shape::Pooled(v))
            }
            Element::Vector(first) => {
                let mut tokens = vec![first];
                while let Some(t) = seq.next_element::<Vec<f32>>()? {
                    tokens.push(t);
                }
                Ok(Shape::PerToken(tokens))
            }
        }
    }
}

impl Shape {
    /// One vector: the vector itself, or the mean of the per-token vectors
    /// (which must all have the same, non-zero length).
    fn pooled(self) -> Result<Embedding, String> {
        let tokens = match self {
            Shape::Pooled(v) => return Ok(v),
            Shape::PerToken(tokens) => tokens,
        };
        let dim = tokens.first().map_or(0, Vec::len);
        if dim == 0 || tokens.iter().any(|t| t.len() != dim) {
            return Err("per-token vectors are empty or of different lengths".to_owned());
        }
        let mut sum = vec![0f64; dim];
        for token in &tokens {
            for (s, x) in sum.iter_mut().zip(token) {
                *s += f64::from(*x);
            }
        }
        let count = tokens.len() as f64;
        Ok(sum.into_iter().map(|s| (s / count) as f32).collect())
    }
}

/// Decodes an embeddings reply for `expected` inputs, in input order by
/// `index` (position when absent). Per-token vectors are mean-pooled.
fn parse_embeddings(
    body: &[u8],
    expected: usize,
    hidden: &Hidden,
) -> Result<Vec<Embedding>, LlmError> {
    let reply: Reply = serde_json::from_slice(body)
        .map_err(|e| decoding_from("not an embeddings reply", &e, body, hidden))?;
    let mut slots: Vec<Option<Embedding>> = vec![None; expected];
    for (position, item) in reply.data.into_iter().enumerate() {
        let index = item.index.unwrap_or(position);
        let vector = item
            .embedding
            .pooled()
            .map_err(|reason| decoding(reason, body, hidden))?;
        match slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(vector),
            Some(Some(_)) => {
                return Err(decoding(
                    format!("embedding index {index} repeated"),
                    body,
                    hidden,
                ))
            }
            None => {
                return Err(decoding(
                    format!("embedding index {index} out of range for {expected} inputs"),
                    body,
                    hidden,
                ))
            }
        }
    }
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| {
            slot.ok_or_else(|| decoding(format!("no embedding for input {i}"), body, hidden))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_index_and_pools_tokens() {
        let body = br#"{"data":[
            {"index":1,"embedding":[[1.0,2.0],[3.0,4.0]]},
            {"index":0,"embedding":[0.5,0.25]}
        ]}"#;
        let got = parse_embeddings(body, 2, &Hidden::default()).ok();
        assert_eq!(got, Some(vec![vec![0.5, 0.25], vec![2.0, 3.0]]));
    }

    #[test]
    fn bad_shapes_are_decoding_errors() {
        for body in [
            &br#"{"data":[{"index":0,"embedding":"AAAA"}]}"#[..],
            br#"{"data":[{"index":0,"embedding":[[[1.0]]]}]}"#,
            br#"{"data":[{"index":0,"embedding":[[1.0],[1.0,2.0]]}]}"#,
            br#"{"data":[{"index":0,"embedding":[1.0,[2.0]]}]}"#,
            br#"{"data":[{"index":0,"embedding":[]}]}"#,
            br#"{"data":[{"index":3,"embedding":[1.0]}]}"#,
            br#"{"data":[]}"#,
            br#"{"data":[{"index":0,"embedding":[1.0]},{"index":0,"embedding":[1.0]}]}"#,
        ] {
            let got = parse_embeddings(body, 1, &Hidden::default());
            assert!(matches!(got, Err(LlmError::Decoding { .. })), "{got:?}");
        }
    }
}

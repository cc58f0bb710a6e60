//! What an OpenAI-compatible server says it can do. llama.cpp's own
//! server (`llama-server`) answers `GET /props` with its context window
//! and what its chat template supports; it also follows a JSON schema
//! (its grammars) and reports usage in streams. The client asks once,
//! lazily (the first time a typed run needs to know), keeps the answer,
//! and never asks when the user declared the capabilities or the server
//! is OpenAI's own. A server that does not answer (llama-cpp-python's, a
//! proxy) keeps the defaults.

use klieo_provider::body::read_bounded;
use klieo_types::Capabilities;
use reqwest::Url;
use serde::Deserialize;
use std::time::Duration;

/// The most of a `/props` answer read: it holds the chat template,
/// typically a few KiB.
const PROPS_LIMIT: usize = 1024 * 1024;

/// What llama.cpp's server said of itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Learned {
    max_context_tokens: Option<u32>,
    /// Whether its chat template can call tools (`None`: not said).
    tool_calls: Option<bool>,
}

impl Learned {
    /// `caps` with what was learned: llama.cpp's server follows JSON
    /// schemas, reports usage in streams, and takes a tool forced by name
    /// for `auto`.
    pub(crate) fn apply(self, caps: Capabilities) -> Capabilities {
        let mut caps = caps
            .with_json_schema(true)
            .with_usage_in_streams(true)
            .with_named_tool_choice(false);
        if let Some(tokens) = self.max_context_tokens {
            caps = caps.with_max_context_tokens(tokens);
        }
        if let Some(tools) = self.tool_calls {
            caps = caps.with_tool_calling(tools);
        }
        caps
    }
}

#[derive(Deserialize)]
struct Props {
    default_generation_settings: GenerationSettings,
    #[serde(default)]
    chat_template_caps: Option<TemplateCaps>,
}

#[derive(Deserialize)]
struct GenerationSettings {
    #[serde(default)]
    n_ctx: Option<u32>,
}

#[derive(Deserialize)]
struct TemplateCaps {
    #[serde(default)]
    supports_tool_calls: Option<bool>,
}

/// Where a server whose API is at `base_url` (`…/v1`) says what it can
/// do: `/props` beside the API's version, with the base URL's query.
pub(crate) fn props_url(base_url: &Url) -> Url {
    let path = base_url.path().trim_end_matches('/');
    let mut root = base_url.clone();
    root.set_path(path.strip_suffix("/v1").unwrap_or(path));
    klieo_http::url::joined(&root, "props")
}

/// The server could not be reached (a connection error, or no answer in
/// time): nothing is learned, and it is asked again next time.
#[derive(Debug)]
pub(crate) struct Unreached;

/// What the server at `url` says, within `timeout`: `Ok(None)` when it
/// answers something klieo cannot read (no such endpoint, another
/// server), [`Unreached`] when it does not answer.
pub(crate) async fn ask(
    http: &reqwest::Client,
    url: Url,
    timeout: Duration,
) -> Result<Option<Learned>, Unreached> {
    let asked = async {
        let resp = http.get(url).send().await.map_err(|_| Unreached)?;
        if !resp.status().is_success() {
            return Ok(None);
        }
        Ok(Some(read_bounded(resp, PROPS_LIMIT).await))
    };
    let body = tokio::time::timeout(timeout, asked)
        .await
        .map_err(|_| Unreached)??;
    Ok(body.as_deref().and_then(parse))
}

/// What a `/props` answer says; `None` unless it is llama.cpp's.
fn parse(body: &[u8]) -> Option<Learned> {
    let props: Props = serde_json::from_slice(body).ok()?;
    Some(Learned {
        max_context_tokens: props.default_generation_settings.n_ctx,
        tool_calls: props.chat_template_caps.and_then(|c| c.supports_tool_calls),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_cpp_props_give_the_window_and_template_support() {
        let body = br#"{"default_generation_settings":{"n_ctx":4096,"params":{}},
            "chat_template_caps":{"supports_tool_calls":false},"build_info":"b1"}"#;
        let learned = parse(body).expect("llama.cpp's answer");
        let caps = learned.apply(Capabilities::default());
        assert!(caps.json_schema() && caps.usage_in_streams());
        assert!(
            !caps.named_tool_choice(),
            "a named choice is sent as required"
        );
        assert_eq!(caps.max_context_tokens(), Some(4096));
        assert!(!caps.tool_calling(), "the template cannot call tools");
    }

    #[test]
    fn other_answers_say_nothing() {
        assert_eq!(parse(b"{\"detail\":\"Not Found\"}"), None);
        assert_eq!(parse(b"<html>"), None);
        let no_caps = parse(br#"{"default_generation_settings":{}}"#).expect("llama.cpp's");
        let caps = no_caps.apply(Capabilities::default().with_tool_calling(true));
        assert!(caps.tool_calling(), "unsaid stays as it was");
        assert_eq!(caps.max_context_tokens(), None);
    }

    #[test]
    fn props_sit_beside_the_apis_version() {
        let props = |base: &str| Url::parse(base).map(|base| props_url(&base).to_string());
        assert_eq!(
            props("http://127.0.0.1:8080/v1").as_deref(),
            Ok("http://127.0.0.1:8080/props")
        );
        assert_eq!(
            props("http://127.0.0.1:8080").as_deref(),
            Ok("http://127.0.0.1:8080/props")
        );
        assert_eq!(
            props("http://127.0.0.1:8080/v1?key=k").as_deref(),
            Ok("http://127.0.0.1:8080/props?key=k")
        );
    }
}

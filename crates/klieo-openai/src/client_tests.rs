//! The reply bound, with a small limit so the bodies stay small.
use super::*;
use klieo_provider::builder::ClientBuilder;
use klieo_types::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const LIMIT: usize = 64;

fn limited(uri: &str) -> Result<OpenAiClient, ConfigError> {
    let mut client = OpenAiClient::builder()
        .with_base_url(format!("{uri}/v1"))
        .build()?;
    if let Some(inner) = Arc::get_mut(&mut client.inner) {
        inner.reply_limit = LIMIT;
    }
    Ok(client)
}

fn too_long(e: &LlmError) -> bool {
    matches!(e, LlmError::ReplyTooLarge { limit, excerpt }
        if *limit == LIMIT && excerpt.chars().count() <= 200)
}

fn req() -> ChatRequest {
    ChatRequest::new(vec![Message::user("x")])
}

/// A reply one byte over the limit, whatever the endpoint.
async fn over_limit_server(content_type: &str) -> MockServer {
    let server = MockServer::start().await;
    let body = format!(r#"{{"choices":[],"pad":"{}"}}"#, "p".repeat(LIMIT));
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(body, content_type))
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn replies_past_the_limit_by_content_length_are_decoding_errors() -> TestResult {
    let server = over_limit_server("application/json").await;
    let client = limited(&server.uri())?;
    let complete = client.complete(req()).await.err();
    assert!(complete.as_ref().is_some_and(too_long), "{complete:?}");
    let stream = client.stream(req()).await.err();
    assert!(stream.as_ref().is_some_and(too_long), "{stream:?}");
    let embed = client.embed(&["x".to_owned()]).await.err();
    assert!(embed.as_ref().is_some_and(too_long), "{embed:?}");
    Ok(())
}

#[tokio::test]
async fn chunked_replies_past_the_limit_are_decoding_errors() -> TestResult {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let Ok((mut sock, _)) = listener.accept().await else {
            return;
        };
        // Read the request (head, then content-length bytes) first.
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let head = seen.windows(4).position(|w| w == b"\r\n\r\n");
            let wanted = head.map(|end| {
                let head = String::from_utf8_lossy(&seen[..end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok());
                end + 4 + len.unwrap_or(0)
            });
            if wanted.is_some_and(|n| seen.len() >= n) {
                break;
            }
            match sock.read(&mut buf).await {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        let piece = "q".repeat(LIMIT / 2);
        let mut out = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
            transfer-encoding: chunked\r\n\r\n"
            .to_vec();
        for _ in 0..3 {
            out.extend_from_slice(format!("{:x}\r\n{piece}\r\n", piece.len()).as_bytes());
        }
        out.extend_from_slice(b"0\r\n\r\n");
        let _ = sock.write_all(&out).await;
        // Stay open until the client hangs up.
        while matches!(sock.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let e = limited(&format!("http://{addr}"))?
        .complete(req())
        .await
        .err();
    assert!(
        matches!(&e, Some(LlmError::ReplyTooLarge { excerpt, .. }) if excerpt.starts_with("qqq")),
        "{e:?}"
    );
    assert!(e.as_ref().is_some_and(too_long), "{e:?}");
    Ok(())
}

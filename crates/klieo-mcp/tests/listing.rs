//! Tool listings, bounded: pages that never end, a cursor given twice, a
//! tool that cannot be used, a relisting that fails, a burst of changes.

use crate::support::{ctx, raw_stdio};
use klieo_mcp::{ListFault, McpError, McpServer, MAX_LIST_PAGES};
use klieo_types::ToolInvoker;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_listing_whose_pages_never_end_stops_at_its_page_bound() {
    let error = McpServer::connect(raw_stdio("endless-pages"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            McpError::Listing {
                fault: ListFault::Pages {
                    limit: MAX_LIST_PAGES
                },
                ..
            }
        ),
        "{error:?}"
    );
    assert!(!error.retryable());
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_listing_that_repeats_its_cursor_stops_at_once() {
    let error = McpServer::connect(raw_stdio("same-cursor"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &error,
            McpError::Listing {
                fault: ListFault::CursorRepeated,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn an_empty_next_cursor_ends_the_listing() {
    let server = McpServer::connect(raw_stdio("empty-cursor")).await.unwrap();
    let names: Vec<String> = server.catalogue().iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, ["echo"]);
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_tool_whose_schema_is_not_an_object_is_skipped_and_the_rest_kept() {
    let server = McpServer::connect(raw_stdio("bad-schema")).await.unwrap();
    let names: Vec<String> = server.catalogue().iter().map(|d| d.name.clone()).collect();
    assert_eq!(names, ["echo", "add"]);
    let echoed = server.invoke("echo", json!({"text": "kept"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("kept")));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_relisting_that_fails_keeps_the_last_good_list() {
    let server = McpServer::connect(raw_stdio("relist-fails")).await.unwrap();
    let before: Vec<String> = server.catalogue().iter().map(|d| d.name.clone()).collect();
    // The server answers once klieo has read the listing's repeated cursor
    // and given it up.
    let changed = server.invoke("change", json!({}), ctx()).await;
    assert_eq!(changed, Ok(json!("changed")));
    let after: Vec<String> = server.catalogue().iter().map(|d| d.name.clone()).collect();
    assert_eq!(after, before);
    let echoed = server.invoke("echo", json!({"text": "still"}), ctx()).await;
    assert_eq!(echoed, Ok(json!("still")));
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_burst_of_list_changes_makes_a_few_listings_not_one_each() {
    let server = McpServer::connect(raw_stdio("burst")).await.unwrap();
    let changed = server.tools_changed();
    let sent = server.invoke("burst", json!({}), ctx()).await;
    assert_eq!(sent, Ok(json!("sent")));
    tokio::time::timeout(Duration::from_secs(30), changed)
        .await
        .expect("listed again");
    let lists = server.invoke("lists", json!({}), ctx()).await.unwrap();
    let lists: u32 = lists.as_str().unwrap().parse().unwrap();
    // One at connect, one for the first change, one for those that came
    // while it ran; a few more only if changes are still being read.
    assert!(lists < 100, "{lists} listings for 10,000 changes");
}

#[tokio::test]
#[ignore = "needs the MCP servers `cargo xtask ci` installs (its `mcp` step)"]
async fn a_server_dying_while_it_lists_its_tools_says_why_on_stderr() {
    let error = McpServer::connect(raw_stdio("dies-listing"))
        .await
        .expect_err("no tools listed");
    assert!(matches!(error, McpError::Tools { .. }), "{error:?}");
    assert!(
        error.to_string().contains("cannot build the schema"),
        "{error}"
    );
}

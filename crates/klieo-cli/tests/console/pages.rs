//! What the console shows, and to whom: nothing without the token; the
//! runs, filtered; a run with its tool call, timeline and log, every
//! text from a model or tool escaped.

use crate::support::{get, opened, request, Console, Opened, Working, HOSTILE, LONG, TOKEN};
use klieo::runtime::wait;
use klieo::sqlite::SqliteStore;
use klieo::types::{EpisodicMemory, RunQueue, RunState, Submission};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_the_token_is_refused_and_shows_nothing() {
    let Opened {
        runs,
        console,
        _dir,
        ..
    } = opened().await;

    for (path, headers) in [
        ("/", vec![]),
        ("/approvals", vec![]),
        ("/static/console.js", vec![]),
        (
            "/",
            vec![("Authorization", "Bearer wrong-token-0123456789")],
        ),
        ("/?token=wrong-token-0123456789", vec![]),
        ("/", vec![("Cookie", "klieo_console=wrong")]),
    ] {
        let reply = request(console.addr(), "GET", path, &headers, "").await;
        assert_eq!(reply.status, 401, "{path} {headers:?}");
        assert!(!reply.body.contains(&runs.looked_up.to_string()));
        assert!(reply.body.contains("needs its token"), "{}", reply.body);
    }
    let post = request(
        console.addr(),
        "POST",
        &format!("/runs/{}/cancel", runs.to_deny),
        &[],
        "by=x",
    )
    .await;
    assert_eq!(post.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_printed_url_trades_its_token_for_a_cookie() {
    let Opened {
        runs,
        console,
        _dir,
        ..
    } = opened().await;

    let opened = request(
        console.addr(),
        "GET",
        &format!("/?status=suspended&token={TOKEN}"),
        &[],
        "",
    )
    .await;
    assert_eq!(opened.status, 303);
    assert_eq!(
        opened.header("location"),
        Some("/?status=suspended"),
        "the token leaves the URL"
    );
    let cookie = opened.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap();
    let listed = request(
        console.addr(),
        "GET",
        "/?status=suspended",
        &[("Cookie", pair)],
        "",
    )
    .await;
    assert_eq!(listed.status, 200);
    assert!(listed.body.contains(&runs.to_approve.to_string()));
    assert!(
        !listed.body.contains(&runs.looked_up.to_string()),
        "filtered by status"
    );
    assert!(!listed.body.contains(TOKEN), "the token is never in a page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_with_their_agent_and_tally_and_filtered() {
    let Opened {
        runs,
        console,
        _dir,
        ..
    } = opened().await;

    let all = get(&console, "/").await;
    assert_eq!(all.status, 200);
    for run in [runs.looked_up, runs.to_approve, runs.to_deny] {
        assert!(
            all.body.contains(&format!("href=\"/runs/{run}\"")),
            "{run} listed"
        );
    }
    assert!(all.body.contains("status-completed") && all.body.contains("status-suspended"));
    let lookups = get(&console, "/?agent=lookup").await;
    assert!(lookups.body.contains(&runs.looked_up.to_string()));
    assert!(!lookups.body.contains(&runs.to_deny.to_string()));
    let bad = get(&console, "/?status=sleeping").await;
    assert_eq!(bad.status, 400);
    assert!(
        bad.body.contains("`sleeping` is not a run status"),
        "{}",
        bad.body
    );
    let waiting = get(&console, "/approvals").await;
    assert!(waiting.body.contains(&runs.to_approve.to_string()));
    assert!(waiting.body.contains("send_mail"));
    assert!(!waiting.body.contains(&runs.looked_up.to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_shows_its_tool_call_and_timeline_and_runs_nothing_it_holds() {
    let Opened {
        runs,
        console,
        _dir,
        ..
    } = opened().await;

    let page = get(&console, &format!("/runs/{}", runs.looked_up)).await;
    assert_eq!(page.status, 200);
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.body.contains("<svg"), "the timeline");
    assert!(page.body.contains("class=\"tool\""), "a tool call on it");
    assert!(page.body.contains("lookup"));
    assert!(!page.body.contains(HOSTILE), "never as markup");
    assert!(
        !page.body.contains("<script>window"),
        "no script from a tool"
    );
    assert!(
        !page.body.contains("href=\"javascript:"),
        "no link from a tool"
    );
    assert!(
        page.body
            .contains("&lt;script&gt;window.__xss = 1&lt;/script&gt;"),
        "as text"
    );
    assert!(page.body.contains("status-completed"));
    let thread = page
        .body
        .split("<h2>Thread</h2>")
        .nth(1)
        .expect("the thread's section");
    assert!(thread.contains("find the page"), "the user's message");
    assert!(
        thread.contains("calls <strong class=\"mono\">lookup</strong>"),
        "the model's call"
    );
    assert!(
        thread.contains("The tool said: &lt;script&gt;window.__xss = 1&lt;/script&gt;"),
        "the model's answer, as text"
    );

    let unknown = get(&console, &format!("/runs/{}", klieo::types::RunId::new())).await;
    assert_eq!(unknown.status, 404);
    let bad = get(&console, "/runs/%3Cscript%3E").await;
    assert_eq!(bad.status, 400);
    assert!(!bad.body.contains("<script>"), "{}", bad.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_behind_its_run_is_told_at_once_and_a_finished_runs_stream_ends() {
    let Opened {
        runs,
        console,
        _dir,
        ..
    } = opened().await;
    let run = runs.looked_up;

    let behind = get(&console, &format!("/runs/{run}/live?seen=running.1.1.0")).await;
    assert_eq!(behind.status, 200);
    assert_eq!(behind.header("content-type"), Some("text/event-stream"));
    let changed = behind.body.find("event: changed").expect("told it changed");
    let ended = behind
        .body
        .find("event: ended")
        .expect("then that it ended");
    assert!(changed < ended, "{}", behind.body);

    let page = get(&console, &format!("/runs/{}", runs.to_approve)).await;
    let live = page.body.split("data-live=\"").nth(1).unwrap();
    let url = &live[..live.find('"').unwrap()];
    assert!(
        url.starts_with(&format!("/runs/{}/live?seen=suspended.", runs.to_approve)),
        "{url}"
    );
    let finished = get(&console, &format!("/runs/{run}")).await;
    assert!(
        finished.body.contains("data-live=\"\""),
        "a finished run is not followed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_to_decide_shows_its_arguments_whole_with_nothing_reordered() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.db");
    let store = SqliteStore::open(&path).await.unwrap();
    // The mail model calls its tool with what the user said: a
    // right-to-left override would show `pay 4321` for `pay 1234`, and a
    // long tail would be cut where the page shows a log's values.
    let tail = "x".repeat(5_000);
    let prompt = format!("pay \u{202E}1234 {tail}");
    let run = store
        .submit(&Submission::new("mail", prompt))
        .await
        .unwrap();
    let working = Working::start(&store, None);
    assert_eq!(wait(&store, run, LONG).await.unwrap(), RunState::Suspended);
    working.stop().await;
    store.close().await;

    let console = Console::start(&format!("sqlite://{}", path.display()));
    for page in [format!("/runs/{run}"), "/approvals".to_owned()] {
        let reply = get(&console, &page).await;
        assert_eq!(reply.status, 200, "{page}");
        assert!(
            !reply.body.contains('\u{202E}'),
            "{page} shows the override as it is"
        );
        assert!(
            reply.body.contains("pay \\u{202e}1234"),
            "{page} shows it escaped"
        );
        assert!(
            reply.body.contains(&tail),
            "{page} shows the call to decide on whole"
        );
    }
}

/// A run whose log another program wrote a row of that cannot be read
/// is said so on the approvals page; every other run can still be decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_log_cannot_be_read_leaves_the_approvals_page_to_the_others() {
    let Opened {
        runs,
        console,
        path,
        _dir,
    } = opened().await;
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.execute(
        "INSERT INTO episodes (run, seq, kind, episode) \
         SELECT run, MAX(seq) + 1, 'from_the_future', '{\"type\":\"from_the_future\"}' \
         FROM episodes WHERE run = ?1 GROUP BY run",
        [runs.to_deny.to_string()],
    )
    .unwrap();
    drop(raw);

    let waiting = get(&console, "/approvals").await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    assert!(waiting.body.contains(&runs.to_approve.to_string()));
    assert!(waiting.body.contains("name=\"ticket\""), "its form");
    assert!(waiting.body.contains(&runs.to_deny.to_string()));
    assert!(waiting.body.contains("its log could not be read"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thread_ending_in_large_tool_results_still_shows_its_newest_turn() {
    use klieo::types::{Commit, Episode, Journal, Message, RunId, ThreadId, ToolCall};
    let Opened {
        path,
        console,
        _dir,
        ..
    } = opened().await;
    // Three results of 16 KiB of digits (a token a digit): the newest
    // turn is past a page's 20,000 tokens, and a window never starts on a
    // tool result.
    let run = RunId::new();
    let calls: Vec<ToolCall> = (0..3)
        .map(|i| ToolCall::new(format!("c{i}"), "count_digits", serde_json::json!({"i": i})))
        .collect();
    let mut messages = vec![
        Message::user("count"),
        Message::assistant_tool_calls("", calls),
    ];
    for i in 0..3 {
        messages.push(Message::tool_result(format!("c{i}"), "7".repeat(16 * 1024)));
    }
    let store = SqliteStore::open(&path).await.unwrap();
    let commit = Commit::new(run, ThreadId::new("digits"))
        .with_messages(messages)
        .with_episodes(vec![Episode::Started {
            agent: "counter".into(),
        }]);
    store.commit(commit).await.unwrap();
    store.close().await;

    let page = get(&console, &format!("/runs/{run}")).await;
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("No messages"), "{}", page.body);
    assert!(page.body.contains("count_digits"), "the call is shown");
}

/// A tool `send` that needs a person's approval.
fn approved_send() -> impl klieo::types::Tool + 'static {
    klieo::runtime::TypedTool::new("send", "Sends.", |_: serde_json::Value| async {
        Ok::<_, klieo::types::ToolError>("sent")
    })
    .with_approval(true)
}

/// A run that waits with its child run (an agent used as a tool, whose
/// call waits for a person) says so on its page and links the child,
/// where the call is decided; the approvals page lists the call once,
/// under the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_waiting_with_its_child_links_the_child_where_the_call_is_decided() {
    use klieo::runtime::Agent;
    use klieo::types::testing::ScriptedLlm;
    use klieo::types::{Error, ToolCall};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let send = approved_send();
    let child_llm =
        ScriptedLlm::new().then_tool_calls(vec![ToolCall::new("s1", "send", json!({}))]);
    let lookup = Agent::builder(child_llm)
        .with_name("lookup")
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let ask = ToolCall::new("c1", "ask_lookup", json!({"input": "mail Ada"}));
    let desk = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![ask]))
        .with_name("desk")
        .add_agent_tool("ask_lookup", "Finds orders.", lookup)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let Err(Error::Suspended { ticket, .. }) = desk.run("mail Ada").await else {
        panic!("the tree waits for a person");
    };
    let child = ticket.run;
    let root = store
        .list_runs()
        .await
        .unwrap()
        .into_iter()
        .find(|&r| r != child)
        .unwrap();
    store.close().await;
    let console = Console::start(&format!("sqlite://{}", path.display()));

    let page = get(&console, &format!("/runs/{root}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!("href=\"/runs/{child}\"")),
        "{}",
        page.body
    );
    assert!(page.body.contains("decide it there"), "{}", page.body);
    assert!(
        !page.body.contains("name=\"ticket\""),
        "no form that would be refused"
    );
    let theirs = get(&console, &format!("/runs/{child}")).await;
    assert!(
        theirs.body.contains("name=\"ticket\""),
        "decided on the child's page"
    );
    let waiting = get(&console, "/approvals").await;
    let listed = waiting.body.matches("<section class=\"waiting\">").count();
    assert_eq!(listed, 1, "{}", waiting.body);
}

/// The approvals page lists up to 100 calls: one whose arguments are long
/// is shown cut, without forms, linking its run's page, where it is shown
/// whole and decided.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_with_long_arguments_is_decided_on_its_runs_page() {
    use klieo::runtime::Agent;
    use klieo::types::testing::ScriptedLlm;
    use klieo::types::{Error, ToolCall};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agents.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let send = approved_send();
    let body = "x".repeat(200_000);
    let call = ToolCall::new("s1", "send", json!({ "body": body }));
    let agent = Agent::builder(ScriptedLlm::new().then_tool_calls(vec![call]))
        .add_tool(send)
        .with_memory(store.clone())
        .build()
        .unwrap();
    let Err(Error::Suspended { ticket, .. }) = agent.run("send it").await else {
        panic!("the call waits for a person");
    };
    store.close().await;
    let console = Console::start(&format!("sqlite://{}", path.display()));

    let waiting = get(&console, "/approvals").await;
    assert_eq!(waiting.status, 200);
    assert!(waiting.body.len() < 50_000, "{} bytes", waiting.body.len());
    assert!(waiting.body.contains("decide on the run's page"));
    assert!(waiting
        .body
        .contains(&format!("href=\"/runs/{}\"", ticket.run)));
    assert!(
        !waiting.body.contains("name=\"ticket\""),
        "no form for it here"
    );
    let its = get(&console, &format!("/runs/{}", ticket.run)).await;
    assert!(its.body.contains(&body), "shown whole where it is decided");
    assert!(its.body.contains("name=\"ticket\""));
}

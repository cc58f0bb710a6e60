// A person's path through `klieo console`, in Chromium driven by
// Playwright. Started by the console test's `browser` module (which
// fills the store, runs a worker, and starts the console) with:
//   KLIEO_PLAYWRIGHT   the playwright-core package's directory
//   KLIEO_CHROMIUM     the Chromium to drive (Debian's /usr/bin/chromium)
//   KLIEO_CONSOLE      the console's base URL, http://127.0.0.1:PORT
//   KLIEO_TOKEN        its token
//   KLIEO_RUNS         the runs, as JSON: looked_up, to_approve, to_deny,
//                      in_doubt, twice (a mail run that asks for a second
//                      mail once the first is approved)
//   KLIEO_SCREENSHOTS  where each page's screenshot is saved
// Each check prints "ok - …"; the first that fails throws, and the
// process exits 1 with what it saw.
"use strict";

import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { mkdirSync } from "node:fs";

const need = (name) => {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run this through cargo xtask ci's console step`);
  }
  return value;
};

const { chromium } = await import(pathToFileURL(join(need("KLIEO_PLAYWRIGHT"), "index.mjs")).href);
const base = need("KLIEO_CONSOLE");
const token = need("KLIEO_TOKEN");
const runs = JSON.parse(need("KLIEO_RUNS"));
const shots = need("KLIEO_SCREENSHOTS");
mkdirSync(shots, { recursive: true });

// Every wait is bounded: a page that never shows what it should fails.
const WAIT = 30_000;

function check(what, ok, saw) {
  if (!ok) {
    throw new Error(`${what}: saw ${JSON.stringify(saw).slice(0, 2000)}`);
  }
  console.log(`ok - ${what}`);
}

const browser = await chromium.launch({
  executablePath: need("KLIEO_CHROMIUM"),
  headless: true,
  timeout: WAIT,
  args: [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-sync",
    "--no-first-run",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
  ],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  context.setDefaultTimeout(WAIT);
  const page = await context.newPage();
  const alerts = [];
  page.on("dialog", async (dialog) => {
    alerts.push(dialog.message());
    await dialog.dismiss();
  });
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  // Without the token: refused, nothing of the store shown.
  let response = await page.goto(`${base}/`);
  let text = await page.textContent("body");
  check("a request without the token is refused", response.status() === 401, text);
  check("the refusal shows no run", !text.includes(runs.looked_up), text);
  await shot("refused");

  // The printed URL: the runs, newest first.
  await page.goto(`${base}/?token=${token}`);
  check("the token leaves the address bar", !page.url().includes("token"), page.url());
  const listed = await page.locator("table.runs tbody tr").count();
  check("the runs are listed", listed === 5, listed);
  text = await page.textContent("table.runs");
  check("each run with its agent", ["lookup", "mail", "pay"].every((agent) => text.includes(agent)), text);
  await shot("runs");

  // Filtered by status.
  await page.selectOption("select[name=status]", "suspended");
  await page.click("form.filters button");
  await page.waitForURL(/status=suspended/);
  const waiting = await page.locator("table.runs tbody tr").count();
  check("the filter lists the four runs that wait for a person", waiting === 4, waiting);

  // A run: its tool call, its timeline; the tool's markup shown as text.
  await page.goto(`${base}/`);
  await page.click(`a[href="/runs/${runs.looked_up}"]`);
  await page.waitForURL(new RegExp(runs.looked_up));
  const bars = await page.locator("svg.timeline rect.model, svg.timeline rect.tool").count();
  check("the timeline draws the model and tool calls", bars >= 3, bars);
  await page.click("table.log details summary");
  const result = await page.textContent("table.log pre.result");
  check("the tool's result shows as text", result.includes("<script>window.__xss = 1</script>"), result);
  const ran = await page.evaluate(() => window.__xss);
  check("nothing the tool returned ran", ran === undefined && alerts.length === 0, { ran, alerts });
  const links = await page.locator('a[href^="javascript:"]').count();
  check("no link the tool returned is a link", links === 0, links);
  await shot("run");

  // Approvals: both waiting calls, with their tool and arguments.
  await page.click("nav a[href='/approvals']");
  await page.waitForURL(/\/approvals$/);
  text = await page.textContent("main");
  check("the approvals page lists both calls", text.includes(runs.to_approve) && text.includes(runs.to_deny), text);
  check("with their tool and arguments", text.includes("send_mail") && text.includes("to Ada"), text);
  check("and the call in doubt", text.includes(runs.in_doubt) && text.includes("in doubt"), text);
  await shot("approvals");

  // Approve one: the worker runs the call and the run completes; the
  // page follows it without a reload.
  await page.goto(`${base}/runs/${runs.to_approve}`);
  await page.fill("form[action$='/approve'] input[name=by]", "ada");
  await page.click("button.approve");
  await page.waitForSelector("p.said");
  text = await page.textContent("p.said");
  check("the approval is acknowledged", text.includes("Approved"), text);
  await page.waitForSelector("[data-live] .status-completed");
  text = await page.textContent("[data-live]");
  check("the approved run completes and the page follows it", text.includes("The tool said: sent: to Ada"), text);
  const stale = await page.locator("button.cancel, button.approve").count();
  check("a finished run offers no decision or cancel", stale === 0, stale);
  await shot("approved");

  // A call decided from another page while this one shows it: the run
  // goes on to its second call, and this page does not swap that call's
  // forms in under the person's pointer. Its buttons go dead, and it
  // says to load the new call; loaded, it can be approved.
  await page.goto(`${base}/runs/${runs.twice}`);
  text = await page.textContent("[data-live]");
  check("the first mail waits", text.includes("twice: to Bob"), text);
  const other = await context.newPage();
  await other.goto(`${base}/runs/${runs.twice}`);
  await other.fill("form[action$='/approve'] input[name=by]", "ada");
  await other.click("button.approve");
  await other.waitForSelector("p.said");
  await page.waitForSelector("p.moved");
  text = await page.textContent("p.moved");
  check("the page says another call waits", text.includes("another call now waits"), text);
  const live = await page.locator("[data-live] button.approve:not([disabled]), [data-live] button.deny:not([disabled])").count();
  check("and no form on it decides the new call", live === 0, live);
  await shot("moved");
  await page.click("p.moved a");
  await page.waitForSelector("[data-live] button.approve:not([disabled])");
  text = await page.textContent("[data-live]");
  check("loaded again, it shows the second mail", text.includes("then to Carol"), text);
  await page.fill("form[action$='/approve'] input[name=by]", "ada");
  await page.click("button.approve");
  await page.waitForSelector("[data-live] .status-completed");
  await other.close();

  // Deny the other, with a reason: the model is told it.
  await page.goto(`${base}/runs/${runs.to_deny}`);
  await page.fill("form[action$='/deny'] input[name=by]", "grace");
  await page.fill("form[action$='/deny'] input[name=reason]", "not to Eve");
  await page.click("button.deny");
  await page.waitForSelector("[data-live] .status-completed");
  text = await page.textContent("[data-live]");
  check("the denial reaches the model", text.includes("The tool said:") && text.includes("not to Eve"), text);
  await shot("denied");

  // Settle the payment its worker's stop left in doubt: it happened, and
  // the model reads the receipt the person found; the call is not run
  // again.
  await page.goto(`${base}/runs/${runs.in_doubt}`);
  text = await page.textContent("section.in-doubt");
  check("the call in doubt is shown with its tool", text.includes("pay") && text.includes("12 euros to Ada"), text);
  await shot("in-doubt");
  await page.fill("form:has(button.happened) input[name=by]", "ada");
  await page.fill("form:has(button.happened) input[name=result]", "receipt 42");
  await page.click("button.happened");
  await page.waitForSelector("p.said");
  text = await page.textContent("p.said");
  check("the settlement is acknowledged", text.includes("Settled"), text);
  await page.waitForSelector("[data-live] .status-completed");
  text = await page.textContent("[data-live]");
  check("the model reads what the person found", text.includes("The tool said: receipt 42"), text);
  await shot("settled");

  // Back on the list: nothing waits any more.
  await page.goto(`${base}/approvals`);
  text = await page.textContent("main");
  check("no call waits any more", text.includes("No run waits for a person"), text);
} catch (error) {
  // What the page showed when a check failed, for whoever reads the log.
  const pages = browser.contexts().flatMap((context) => context.pages());
  for (const page of pages) {
    await page.screenshot({ path: join(shots, "failed.png"), fullPage: true }).catch(() => {});
    const body = await page.textContent("body").catch(() => "");
    console.log(`failed on ${page.url()}:\n${body.slice(0, 3000)}`);
  }
  throw error;
} finally {
  await browser.close();
}

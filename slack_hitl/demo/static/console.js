// The console: polls what the emulated Slack shows and draws it as a Slack channel; every click
// and modal submission goes to the console backend, which sends Slack's signed request to the
// real slack_hitl service. Nothing here decides anything: the page only shows and forwards.

import { renderBlocks } from "./blocks.js";
import { formatTime, renderMarkdown, renderMrkdwn } from "./text.js";

const POLL_MS = 300;
const APP_NAME = "slack_hitl";

const ui = {
  me: new URLSearchParams(location.search).get("as") || "U0ALICE",
  state: null,
  openThread: null,
  shownView: null, // "id:hash" of the modal on screen, so typing is not wiped by a re-render
  shownErrors: "",
  knownStatuses: new Set(),
  channelFresh: true,
  threadFresh: false,
  submitting: false,
};

const $ = (selector) => document.querySelector(selector);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- talking to the backend -----------------------------------------------------------------------

async function call(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(describe(answer.detail) || `${response.status} ${response.statusText}`);
  return answer;
}

function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) return detail.map((problem) => `${problem.loc?.join(".")}: ${problem.msg}`).join("; ");
  return "";
}

async function refresh() {
  const me = ui.me;
  const since = ui.state ? `&since=${ui.state.revision}` : "";
  const response = await fetch(`/console/state?user=${encodeURIComponent(me)}${since}`);
  if (response.status === 204) return;
  if (!response.ok) throw new Error(`state: ${response.status}`);
  const state = await response.json();
  if (me !== ui.me) return; // asked for someone the reader is no longer viewing as
  ui.state = state;
  draw();
}

async function poll() {
  try {
    await refresh();
    document.body.classList.remove("offline");
  } catch (error) {
    console.error("the console could not show the state:", error);
    document.body.classList.add("offline");
  }
  setTimeout(poll, POLL_MS);
}

function toast(text) {
  const node = $("#toast");
  node.textContent = text;
  node.classList.add("visible");
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => node.classList.remove("visible"), 6000);
}

async function act(path, body) {
  try {
    const answer = await call(path, body);
    if (answer.status && answer.status >= 400) toast(`The service answered ${answer.status}: ${JSON.stringify(answer.ack)}`);
    return answer;
  } catch (error) {
    toast(error.message);
    return null;
  } finally {
    await refresh().catch((error) => console.error("the console could not show the state:", error));
  }
}

// -- drawing ----------------------------------------------------------------------------------------

function textContext() {
  return { people: ui.state.people, me: ui.me, botUserId: ui.state.bot_user_id };
}

function author(message) {
  if (message.bot) return { name: APP_NAME, app: true };
  const person = ui.state.people[message.user];
  return { name: person ? person.real_name : message.user, app: false };
}

function avatar(who, userId) {
  const node = element("div", `avatar${who.app ? " avatar-app" : ""}`);
  if (who.app) {
    node.appendChild(element("span", "avatar-mark", "✓"));
  } else {
    node.textContent = who.name.slice(0, 1).toUpperCase();
    node.dataset.user = userId;
  }
  return node;
}

function timeLabel(seconds) {
  return seconds ? formatTime(new Date(seconds * 1000)) : "";
}

function messageNode(message, { inThread = false, ephemeral = false } = {}) {
  const who = ephemeral ? { name: APP_NAME, app: true } : author(message);
  const node = element("div", `message${ephemeral ? " ephemeral" : ""}${message.streaming ? " streaming" : ""}`);
  node.dataset.ts = message.ts;
  node.appendChild(avatar(who, message.user));
  const content = element("div", "message-content");
  const meta = element("div", "message-meta");
  meta.appendChild(element("span", "message-author", who.name));
  if (who.app) meta.appendChild(element("span", "app-badge", "APP"));
  meta.appendChild(element("time", "message-time", timeLabel(message.posted_at)));
  if (ephemeral) meta.appendChild(element("span", "ephemeral-note", "Only visible to you"));
  content.appendChild(meta);
  content.appendChild(messageBody(message));
  if (message.edited) content.querySelector(".message-body").appendChild(element("span", "edited", "(edited)"));
  if (!inThread && message.reply_count) content.appendChild(repliesBar(message));
  node.appendChild(content);
  return node;
}

function messageBody(message) {
  const body = element("div", "message-body");
  if (message.blocks?.length) {
    body.appendChild(
      renderBlocks(message.blocks, { ...textContext(), onButton: (button) => press(message, button) }),
    );
  } else if (message.format === "markdown") {
    body.appendChild(renderMarkdown(message.text));
  } else {
    body.appendChild(renderMrkdwn(message.text, textContext()));
  }
  return body;
}

function repliesBar(message) {
  const bar = element("button", "replies-bar");
  bar.type = "button";
  for (const user of message.reply_users.slice(0, 3)) {
    const who = user === ui.state.bot_user_id ? { name: APP_NAME, app: true } : author({ user, bot: false });
    bar.appendChild(avatar(who, user)).classList.add("avatar-small");
  }
  const count = message.reply_count === 1 ? "1 reply" : `${message.reply_count} replies`;
  bar.appendChild(element("span", "reply-count", count));
  if (message.latest_reply_at) {
    bar.appendChild(element("span", "reply-last", `Last reply today at ${timeLabel(message.latest_reply_at)}`));
  }
  bar.addEventListener("click", () => openThread(message.ts));
  return bar;
}

function byTs(a, b) {
  const [as, am] = a.ts.split(".").map(Number);
  const [bs, bm] = b.ts.split(".").map(Number);
  return as - bs || am - bm;
}

// One item of a message list: built only when what it shows changed since the last draw.
function item(key, shown, build) {
  return { key, signature: JSON.stringify([ui.me, shown]), build };
}

// Redraw a message list, keeping the DOM node of every item that did not change: a click on
// a button is never lost to a redraw of some other message. Follows new messages when the
// reader was at the end, as Slack does.
function drawList(container, items, { toEnd = false } = {}) {
  const nearBottom = container.scrollHeight - container.scrollTop - container.clientHeight < 80;
  const previous = container.drawn || new Map();
  const drawn = new Map();
  const nodes = items.map((wanted) => {
    const kept = previous.get(wanted.key);
    const node = kept && kept.signature === wanted.signature ? kept.node : wanted.build();
    drawn.set(wanted.key, { signature: wanted.signature, node });
    return node;
  });
  container.drawn = drawn;
  nodes.forEach((node, index) => {
    const current = container.children[index];
    if (current !== node) container.insertBefore(node, current || null);
  });
  while (container.children.length > nodes.length) container.lastElementChild.remove();
  if (toEnd || nearBottom) container.scrollTop = container.scrollHeight;
}

function drawChannel() {
  const state = ui.state;
  $("#channel-name").textContent = state.channel.name;
  const entries = [
    ...state.messages.map((message) => ({ ts: message.ts, ...item(`m${message.ts}`, message, () => messageNode(message)) })),
    ...state.ephemerals
      .filter((ephemeral) => !ephemeral.thread_ts)
      .map((ephemeral) => ({
        ts: ephemeral.ts,
        ...item(`e${ephemeral.ts}`, ephemeral, () => messageNode(ephemeral, { ephemeral: true })),
      })),
  ].sort(byTs);
  if (!entries.length) {
    entries.push(item("empty", null, () => element("div", "channel-empty", "No messages yet. Open a sample from the header.")));
  }
  drawList($("#messages"), entries, { toEnd: ui.channelFresh });
  ui.channelFresh = false;
}

function openThread(ts) {
  ui.openThread = ts;
  ui.threadFresh = true;
  document.body.classList.add("thread-open");
  drawThread();
}

function closeThread() {
  ui.openThread = null;
  document.body.classList.remove("thread-open");
}

function drawThread() {
  const state = ui.state;
  const ts = ui.openThread;
  const parent = state.messages.find((message) => message.ts === ts);
  if (!ts || !parent) {
    closeThread();
    return;
  }
  $("#thread-channel").textContent = `# ${state.channel.name}`;
  const replies = state.threads[ts] || [];
  const count = replies.length === 1 ? "1 reply" : `${replies.length} replies`;
  const entries = [
    ...replies.map((reply) => ({ ts: reply.ts, ...item(`r${reply.ts}`, reply, () => messageNode(reply, { inThread: true })) })),
    ...state.ephemerals
      .filter((ephemeral) => ephemeral.thread_ts === ts)
      .map((ephemeral) => ({
        ts: ephemeral.ts,
        ...item(`e${ephemeral.ts}`, ephemeral, () => messageNode(ephemeral, { inThread: true, ephemeral: true })),
      })),
  ].sort(byTs);
  const head = [
    item(`p${ts}`, parent, () => messageNode(parent, { inThread: true })),
    item("divider", count, () => element("div", "thread-divider", count)),
  ];
  drawList($("#thread-messages"), [...head, ...entries], { toEnd: ui.threadFresh });
  ui.threadFresh = false;
  const status = state.statuses[ts];
  const line = $("#thread-status");
  line.replaceChildren();
  if (status) {
    line.append(element("span", "typing-dots"), element("span", "", `${APP_NAME} ${status}`));
  }
  line.hidden = !status;
}

// A run that starts resuming opens its thread, so the continuation is seen as it streams.
function followNewStatuses() {
  const statuses = Object.keys(ui.state.statuses);
  const fresh = statuses.filter((ts) => !ui.knownStatuses.has(ts));
  ui.knownStatuses = new Set(statuses);
  if (fresh.length && ui.openThread === null) openThread(fresh[fresh.length - 1]);
}

function drawPeople() {
  const me = $("#me");
  if (!me.options.length) {
    for (const [id, person] of Object.entries(ui.state.people)) {
      const option = element("option", "", `${person.real_name} (@${person.name})`);
      option.value = id;
      me.appendChild(option);
    }
  }
  me.value = ui.me;
}

function draw() {
  document.body.dataset.viewing = ui.state.me;
  drawPeople();
  drawChannel();
  followNewStatuses();
  if (ui.openThread !== null) drawThread();
  drawModal();
}

// -- clicks ----------------------------------------------------------------------------------------

async function press(message, button) {
  return act("/console/click", {
    user: ui.me,
    channel: ui.state.channel.id,
    ts: message.ts,
    action_id: button.action_id,
    value: button.value ?? null,
  });
}

// -- the modal ---------------------------------------------------------------------------------------

function drawModal() {
  const view = ui.state.view;
  const root = $("#modal-root");
  if (!view) {
    root.replaceChildren();
    ui.shownView = null;
    return;
  }
  const key = `${view.id}:${view.hash}`;
  if (ui.shownView !== key) {
    ui.shownView = key;
    ui.shownErrors = "";
    root.replaceChildren(modalNode(view));
  }
  const errors = JSON.stringify(view.errors);
  if (errors !== ui.shownErrors) {
    ui.shownErrors = errors;
    showErrors(view.errors);
  }
}

function modalNode(view) {
  const inputs = new Map();
  ui.inputs = inputs;
  const backdrop = element("div", "modal-backdrop");
  const dialog = element("div", "modal");
  dialog.setAttribute("role", "dialog");
  dialog.setAttribute("aria-modal", "true");
  dialog.setAttribute("aria-label", view.title?.text || "Modal");
  dialog.dataset.viewId = view.id;
  const header = element("div", "modal-header");
  header.appendChild(element("div", "modal-app-icon", "✓"));
  header.appendChild(element("h2", "modal-title", view.title?.text || ""));
  const x = element("button", "modal-x", "×");
  x.type = "button";
  x.setAttribute("aria-label", "Close");
  x.addEventListener("click", () => closeModal(view));
  header.appendChild(x);
  const body = element("div", "modal-body");
  body.appendChild(renderBlocks(view.blocks, { ...textContext(), inputs }));
  const footer = element("div", "modal-footer");
  const close = element("button", "bk-button", view.close?.text || "Cancel");
  close.type = "button";
  close.addEventListener("click", () => closeModal(view));
  footer.appendChild(close);
  if (view.submit) {
    const submit = element("button", "bk-button primary modal-submit", view.submit.text);
    submit.type = "button";
    submit.addEventListener("click", () => submitModal(view, submit));
    footer.appendChild(submit);
  }
  dialog.append(header, body, footer);
  backdrop.appendChild(dialog);
  return backdrop;
}

function showErrors(errors) {
  for (const [blockId, input] of ui.inputs || []) {
    const message = errors[blockId] || "";
    input.error.textContent = message;
    input.node.classList.toggle("has-error", Boolean(message));
  }
}

// What Slack's own client checks before it sends a submission: required inputs and number bounds.
function clientProblems() {
  const problems = {};
  for (const [blockId, input] of ui.inputs) {
    const read = input.read();
    if (read.empty && !input.block.optional) problems[blockId] = "Please complete this required field.";
    else if (read.problem) problems[blockId] = read.problem;
  }
  return problems;
}

function filledValues() {
  const values = {};
  for (const [blockId, input] of ui.inputs) {
    const read = input.read();
    const kind = input.block.element?.type;
    // Text is sent even when emptied; a choice or date left empty is sent as not touched.
    if (read.empty && !["plain_text_input", "multi_static_select", "checkboxes"].includes(kind)) continue;
    values[blockId] = read.value;
  }
  return values;
}

async function submitModal(view, button) {
  if (ui.submitting) return;
  const problems = clientProblems();
  ui.shownErrors = JSON.stringify(problems);
  showErrors(problems);
  if (Object.keys(problems).length) return;
  ui.submitting = true;
  button.disabled = true;
  button.classList.add("busy");
  try {
    await act("/console/submit", { user: ui.me, view_id: view.id, values: filledValues() });
  } finally {
    ui.submitting = false;
    button.disabled = false;
    button.classList.remove("busy");
  }
}

async function closeModal(view) {
  await act("/console/close", { user: ui.me, view_id: view.id });
}

// -- samples and the composer -----------------------------------------------------------------------

async function openSample(kind) {
  const answer = await act("/console/samples", { kind });
  const opened = { large: `Opened a pause with ${answer?.rows} rows.`, purchase: "Opened a two-step purchase." };
  if (answer) toast(opened[kind] || "Opened another sample pause.");
}

const COMMANDS = {
  "/demo sample": () => openSample("release"),
  "/demo large": () => openSample("large"),
  "/demo purchase": () => openSample("purchase"),
};

function runCommand(text) {
  const command = text.trim().replace(/\s+/g, " ");
  const run = COMMANDS[command];
  if (run) {
    run();
    return true;
  }
  toast(`Try ${Object.keys(COMMANDS).join(" or ")}: this console only posts what the agent would.`);
  return false;
}

function setUp() {
  const me = $("#me");
  me.addEventListener("change", () => {
    ui.me = me.value;
    ui.state = null;
    ui.shownView = null;
    ui.channelFresh = true;
    const url = new URL(location.href);
    url.searchParams.set("as", ui.me);
    history.replaceState(null, "", url);
    refresh();
  });
  $("#new-sample").addEventListener("click", () => openSample("release"));
  $("#large-sample").addEventListener("click", () => openSample("large"));
  $("#purchase-sample").addEventListener("click", () => openSample("purchase"));
  $("#thread-close").addEventListener("click", closeThread);
  $("#composer").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = $("#composer-input");
    if (runCommand(input.value)) input.value = "";
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && ui.state?.view) closeModal(ui.state.view);
  });
  poll();
}

setUp();

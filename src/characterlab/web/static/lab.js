// characterlab's web lab. Plain JavaScript, no build step. Every piece of model or user text is put on the page
// with textContent (never innerHTML); the only HTML inserted is what the server rendered with escaping.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function post(url, body) {
  const headers = { "X-CSRF-Token": csrf(), "Accept": "application/json" };
  let payload;
  if (body instanceof FormData) {
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const response = await fetch(url, { method: "POST", headers, body: payload, credentials: "same-origin" });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}

// Read a text/event-stream body: call onEvent(name, data) for each event as it arrives.
async function readEvents(response, onEvent) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      let name = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) name = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      onEvent(name, data ? JSON.parse(data) : {});
    }
  }
}

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();  // server-rendered and escaped
  return template.content.firstElementChild;
}

function showError(box, message) {
  if (!box) { alert(message); return; }
  box.textContent = message;
  box.hidden = false;
}

// A placeholder turn that fills with drafts while a reply streams in.
function draftBubble(container, speaker) {
  const article = document.createElement("article");
  article.className = "msg assistant streaming";
  const head = document.createElement("header");
  head.className = "msg-head";
  const name = document.createElement("span");
  name.className = "speaker";
  name.textContent = speaker || "…";
  head.appendChild(name);
  const body = document.createElement("div");
  body.className = "msg-body";
  article.append(head, body);
  container.appendChild(article);
  return { article, body };
}

// Stream a reply into `container`; resolves when it is done or failed.
async function streamReply(url, payload, { container, speaker, errorBox, replace, onError, onDone, column }) {
  const bubble = draftBubble(container, speaker);
  if (replace) replace.hidden = true;
  if (errorBox) errorBox.hidden = true;
  try {
    const response = await post(url, payload);
    await readEvents(response, (name, data) => {
      if (column !== undefined && data.column !== undefined && data.column !== column) return;
      if (name === "draft") {
        bubble.body.textContent = data.text;
        bubble.article.scrollIntoView({ block: "end" });
      } else if (name === "done") {
        const done = fragment(data.html);
        bubble.article.replaceWith(done);
        if (replace) replace.remove();
        if (onDone) onDone(data);
        applyPromptToggle();
      } else if (name === "error") {
        bubble.article.remove();
        if (replace) replace.hidden = false;
        showError(errorBox, data.error);
        if (onError) onError(data);
      }
    });
  } catch (error) {
    bubble.article.remove();
    if (replace) replace.hidden = false;
    showError(errorBox, error.message);
    if (onError) onError({ error: error.message });
  }
}

function applyPromptToggle() {
  const toggle = document.getElementById("show-prompts");
  if (!toggle) return;
  for (const details of document.querySelectorAll("details.prompt")) details.hidden = !toggle.checked;
}

function setBusy(form, busy) {
  for (const button of form.querySelectorAll("button")) button.disabled = busy;
}

function setupChat(root) {
  const chatId = root.dataset.chat;
  const messages = document.getElementById("messages");
  const composer = document.getElementById("composer");
  const textarea = composer.querySelector("textarea");
  const errorBox = document.getElementById("chat-error");
  const lastSpeaker = () => {
    const replies = messages.querySelectorAll('.msg.assistant .speaker');
    return replies.length ? replies[replies.length - 1].textContent : "";
  };
  const refreshActions = () => {
    // Only the last reply may be regenerated: hide the regenerate buttons of turns that are no longer last.
    const all = messages.querySelectorAll(".msg");
    all.forEach((message, index) => {
      const button = message.querySelector('[data-action="regenerate"]');
      if (button) button.hidden = index !== all.length - 1;
    });
  };

  async function send(text) {
    setBusy(composer, true);
    const user = userBubble(text);
    messages.appendChild(user);
    await streamReply(`/chats/${chatId}/send`, { text }, {
      container: messages, speaker: lastSpeaker(), errorBox,
      onError: (data) => { user.remove(); textarea.value = data.text || text; },
      onDone: (data) => { if (data.user_html) user.replaceWith(fragment(data.user_html)); },
    });
    setBusy(composer, false);
    refreshActions();
    textarea.focus();
  }

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text) return;
    textarea.value = "";
    send(text);
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  document.getElementById("continue").addEventListener("click", async () => {
    setBusy(composer, true);
    await streamReply(`/chats/${chatId}/reply`, undefined, { container: messages, speaker: lastSpeaker(), errorBox });
    setBusy(composer, false);
    refreshActions();
  });

  messages.addEventListener("click", async (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button) return;
    const message = button.closest(".msg");
    const position = Number(message.dataset.position);
    const action = button.dataset.action;
    try {
      if (action === "swipe") {
        const response = await post(`/chats/${chatId}/messages/${position}/swipe`, { index: Number(button.dataset.index) });
        message.replaceWith(fragment(await response.text()));
        applyPromptToggle();
      } else if (action === "regenerate") {
        await streamReply(`/chats/${chatId}/regenerate`, { position }, {
          container: messages, speaker: message.querySelector(".speaker").textContent, errorBox, replace: message,
        });
      } else if (action === "delete") {
        if (!confirm("Delete this turn and every turn after it?")) return;
        await post(`/chats/${chatId}/messages/${position}/delete`);
        let next = message;
        while (next) { const after = next.nextElementSibling; next.remove(); next = after; }
        refreshActions();
      } else if (action === "edit") {
        editInPlace(message, async (content) => {
          const response = await post(`/chats/${chatId}/messages/${position}/edit`, { content });
          message.replaceWith(fragment(await response.text()));
          applyPromptToggle();
        });
      } else if (action === "prompt") {
        const details = message.querySelector("details.prompt");
        if (details) { details.hidden = !details.hidden; details.open = !details.hidden; }
      }
    } catch (error) {
      showError(errorBox, error.message);
    }
  });

  const settings = document.getElementById("settings");
  settings.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(settings);
    const body = {
      temperature: Number(data.get("temperature")),
      max_tokens: Number(data.get("max_tokens")),
      user_name: String(data.get("user_name")),
    };
    if (data.has("steering_file")) {
      body.steering_file = String(data.get("steering_file"));
      body.steering_alpha = Number(data.get("steering_alpha"));
      body.steering_positions = String(data.get("steering_positions"));
      body.watch_file = String(data.get("watch_file"));
    }
    try {
      await post(`/chats/${chatId}/settings`, body);
      const saved = settings.querySelector(".saved");
      saved.hidden = false;
      setTimeout(() => { saved.hidden = true; }, 1500);
    } catch (error) {
      showError(errorBox, error.message);
    }
  });
  refreshActions();
  messages.lastElementChild && messages.lastElementChild.scrollIntoView({ block: "end" });
}

// The user's turn as a stand-in bubble, shown until the stored turn replaces it (text only, never HTML).
function userBubble(text) {
  const user = document.createElement("article");
  user.className = "msg user";
  const body = document.createElement("div");
  body.className = "msg-body";
  body.textContent = text;
  user.appendChild(body);
  return user;
}

// Side by side: one composer, one request, a reply streaming into each column.
function setupComparison(root) {
  const group = root.dataset.group;
  const composer = document.getElementById("compare-composer");
  const textarea = composer.querySelector("textarea");
  const errorBox = document.getElementById("chat-error");
  const columns = [...root.querySelectorAll("section.column")];
  composer.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = textarea.value.trim();
    if (!text) return;
    textarea.value = "";
    setBusy(composer, true);
    errorBox.hidden = true;
    const users = [], bubbles = [];
    for (const column of columns) {
      const list = column.querySelector(".messages");
      const user = userBubble(text);
      list.appendChild(user);
      users.push(user);
      bubbles.push(draftBubble(list, column.querySelector(".column-head").firstChild.textContent.trim()));
    }
    try {
      const response = await post(`/compare/${group}/send`, { text });
      await readEvents(response, (name, data) => {
        const index = data.column;
        const bubble = bubbles[index];
        if (name === "draft") {
          bubble.body.textContent = data.text;
        } else if (name === "done") {
          bubble.article.replaceWith(fragment(data.html));
          if (data.user_html) users[index].replaceWith(fragment(data.user_html));
          applyPromptToggle();
        } else if (name === "error") {
          bubble.article.remove();
          users[index].remove();
          showError(errorBox, `${columns[index].querySelector(".column-head").textContent.trim()}: ${data.error}`);
        }
      });
    } catch (error) {
      for (const bubble of bubbles) bubble.article.remove();
      showError(errorBox, error.message);
    }
    setBusy(composer, false);
  });
  textarea.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); composer.requestSubmit(); }
  });
}

// Dialogues: run (or go on with) a model–model conversation and watch each turn arrive.
function setupDialogue(root) {
  const button = document.getElementById("run-dialogue");
  const messages = document.getElementById("messages");
  const speaking = document.getElementById("speaking");
  const status = document.getElementById("dialogue-status");
  const errorBox = document.getElementById("chat-error");
  button.addEventListener("click", async () => {
    button.disabled = true;
    errorBox.hidden = true;
    status.textContent = "Running…";
    let finished = false;
    try {
      const response = await post(`/dialogues/${root.dataset.dialogue}/run`);
      await readEvents(response, (name, data) => {
        if (name === "speaking") {
          speaking.querySelector(".speaker").textContent = data.speaker;
          speaking.hidden = false;
          speaking.scrollIntoView({ block: "end" });
        } else if (name === "turn") {
          speaking.hidden = true;
          messages.appendChild(fragment(data.html));
        } else if (name === "finished") {
          finished = true;
          status.textContent = `Finished: ${data.reason}.`;
          document.getElementById("metrics").innerHTML = data.metrics_html;  // server-rendered and escaped
        } else if (name === "error") {
          showError(errorBox, data.error);
        }
      });
    } catch (error) {
      showError(errorBox, error.message);
    }
    speaking.hidden = true;
    if (!finished) {
      status.textContent = "Stopped; the turns so far are kept.";
      button.textContent = "Go on";
      button.disabled = false;
    }
  });
}

function editInPlace(message, save) {
  const body = message.querySelector(".msg-body");
  if (message.querySelector("textarea.editor")) return;
  const editor = document.createElement("textarea");
  editor.className = "editor";
  editor.value = body.textContent;
  const bar = document.createElement("div");
  bar.className = "row";
  const ok = document.createElement("button");
  ok.className = "button small primary";
  ok.textContent = "Save";
  const cancel = document.createElement("button");
  cancel.className = "button small";
  cancel.textContent = "Cancel";
  bar.append(ok, cancel);
  body.hidden = true;
  body.after(editor, bar);
  editor.focus();
  cancel.addEventListener("click", () => { editor.remove(); bar.remove(); body.hidden = false; });
  ok.addEventListener("click", () => save(editor.value));
}

// "Share…" buttons: publish the chat or dialogue, then show where the page and its JSON are.
function setupShare() {
  const button = document.getElementById("share");
  if (!button) return;
  const result = document.getElementById("share-result");
  button.addEventListener("click", async () => {
    const root = document.querySelector("[data-chat], [data-group], [data-dialogue]");
    const kind = button.dataset.kind;
    const id = root.dataset.chat || root.dataset.group || root.dataset.dialogue;
    try {
      const response = await post(`/share/${kind}/${id}`);
      const data = await response.json();
      result.replaceChildren();
      const page = document.createElement("a");
      page.href = data.page;
      page.textContent = "Open the shared page";
      page.id = "shared-link";
      const json = document.createElement("a");
      json.href = data.json;
      json.textContent = "JSON";
      result.append(page, document.createTextNode(" · "), json);
      result.hidden = false;
    } catch (error) {
      showError(result, error.message);
    }
  });
}

function setupConfirmForms() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!confirm(form.dataset.confirm)) event.preventDefault();
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const chat = document.getElementById("chat");
  if (chat) setupChat(chat);
  const comparison = document.getElementById("comparison");
  if (comparison) setupComparison(comparison);
  const dialogue = document.getElementById("dialogue");
  if (dialogue) setupDialogue(dialogue);
  const toggle = document.getElementById("show-prompts");
  if (toggle) toggle.addEventListener("change", applyPromptToggle);
  applyPromptToggle();
  setupShare();
  setupConfirmForms();
  window.characterlab = { post, readEvents, streamReply, fragment, showError, applyPromptToggle };
});

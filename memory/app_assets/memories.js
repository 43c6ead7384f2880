// MemoryGate's memory browser as an MCP App: the host shows it beside the
// conversation, and every change goes through the host to the server's own
// tools, so it can do exactly what the connection's credential may.
// Text is always set as text, never as markup.

const app = new McpApps.App({ name: "MemoryGate memory browser", version: "1" }, {}, { autoResize: true });
const list = document.getElementById("memories");
const filters = document.getElementById("filters");
const more = document.getElementById("more");
const status = document.getElementById("status");
const problem = document.getElementById("problem");
let shown = { query: "", type: "", archived: "exclude", page: 0 };

function say(words) { status.textContent = words; problem.textContent = ""; }
function complain(words) { problem.textContent = words; status.textContent = ""; }

// The one line a tool answered an error with.
function errorText(result) { return (result.content || []).map((part) => part.text || "").join(" "); }

// A tool's answer: its structured content, or the error it gave, thrown.
async function call(name, args) {
  const result = await app.callServerTool({ name, arguments: args });
  if (result.isError) throw new Error(errorText(result) || `${name} failed`);
  return result.structuredContent || {};
}

function element(tag, text, className) {
  const made = document.createElement(tag);
  if (text !== undefined) made.textContent = text;
  if (className) made.className = className;
  return made;
}

function button(words, onClick, className) {
  const made = element("button", words, className);
  made.type = "button";
  made.addEventListener("click", onClick);
  return made;
}

function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function render(answer, append) {
  if (!append) list.replaceChildren();
  for (const memory of answer.memories || []) list.append(row(memory));
  if (!list.children.length) list.append(element("li", "No memories here.", "empty"));
  more.hidden = !answer.more;
}

function row(memory) {
  const item = element("li");
  item.dataset.ref = memory.ref;
  const meta = element("div", undefined, "meta");
  meta.append(element("span", memory.type), element("span", when(memory.at)));
  if (memory.space) meta.append(element("span", `in ${memory.space}`));
  if (memory.domain) meta.append(element("span", memory.domain));
  if (memory.archived) meta.append(element("span", "archived"));
  if (memory.replaced) meta.append(element("span", "replaced by a newer version"));
  item.append(meta);
  if (memory.title) item.append(element("div", memory.title, "title"));
  item.append(element("div", memory.text, "text"));
  item.append(actions(memory, item));
  return item;
}

function actions(memory, item) {
  const bar = element("div", undefined, "actions");
  if (memory.type === "observation" && !memory.replaced && !memory.archived) {
    bar.append(button("Edit", () => edit(memory, item, bar)));
  }
  if (memory.archived) {
    bar.append(button("Bring back", () => act(() => call("memory_rehydrate", { refs: [memory.ref] }), "Brought back.")));
  } else {
    bar.append(button("Archive", () => act(() => call("memory_archive", { refs: [memory.ref] }), "Archived: left out of search and recall until brought back.")));
  }
  bar.append(button("Forget", () => confirmForget(memory, bar), "danger"));
  return bar;
}

function edit(memory, item, bar) {
  const box = element("textarea");
  box.value = memory.text;
  box.setAttribute("aria-label", "New text");
  const save = button("Save as a new version", () => act(
    () => call("memory_store", { observation: box.value, supersedes: memory.ref }),
    "Saved as a new version; the old one is kept in its history.",
  ), "primary");
  bar.replaceChildren(box, save, button("Cancel", () => item.replaceWith(row(memory))));
  box.focus();
}

function confirmForget(memory, bar) {
  const question = element("span", "Forget it for good? It cannot be brought back.");
  bar.replaceChildren(
    question,
    button("Yes, forget it", () => act(() => call("memory_delete", { ref: memory.ref }), "Forgotten."), "danger"),
    button("Keep it", () => bar.replaceWith(actions(memory, bar.parentElement))),
  );
}

// Run a change, say what it did, and show the list as it now is.
async function act(change, done) {
  try {
    await change();
    await load(0);
    say(done);
  } catch (error) {
    complain(error.message);
  }
}

async function load(page) {
  const args = { archived: shown.archived, page };
  if (shown.query) args.query = shown.query;
  if (shown.type) args.type = shown.type;
  const answer = await call("memory_browse", args);
  shown.page = page;
  render(answer, page > 0);
}

// No form is submitted: a host may sandbox the app without allow-forms.
async function show() {
  shown = { query: field("query").value.trim(), type: field("type").value, archived: field("archived").value, page: 0 };
  try {
    await load(0);
    say("");
  } catch (error) {
    complain(error.message);
  }
}

function field(name) { return filters.querySelector(`[name=${name}]`); }

document.getElementById("show").addEventListener("click", show);
field("query").addEventListener("keydown", (event) => { if (event.key === "Enter") show(); });

more.addEventListener("click", async () => {
  try {
    await load(shown.page + 1);
  } catch (error) {
    complain(error.message);
  }
});

function theme(context) {
  if (!context) return;
  if (context.theme) document.documentElement.classList.toggle("dark", context.theme === "dark");
  if (context.styles && context.styles.variables) McpApps.applyHostStyleVariables(context.styles.variables);
}

// The host sends the tool call that opened the app, then its answer: the first page.
app.ontoolinput = (params) => {
  const args = params.arguments || {};
  shown = { query: args.query || "", type: args.type || "", archived: args.archived || "exclude", page: args.page || 0 };
  field("query").value = shown.query;
  field("type").value = shown.type;
  field("archived").value = shown.archived;
};
app.ontoolresult = (result) => {
  if (result.isError) complain(errorText(result));
  else render(result.structuredContent || {}, false);
};
app.onhostcontextchanged = theme;

await app.connect();
theme(app.getHostContext());
document.body.dataset.ready = "true";

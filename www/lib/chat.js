// <webtune-chat>: a chatbot any page can embed. One module script and one tag:
//
//   <script type="module" src="…/webtune/chat.js"></script>   (or `import "webtune/chat";`)
//   <webtune-chat model="/models/SmolLM2-135M-Instruct.Q4_1.gguf" system-prompt="You are …"></webtune-chat>
//
// The model runs in webtune's one Worker (shared by every widget on the page; widgets asking for
// the same model and device share one loaded copy). Text is always rendered as text. Conversations
// longer than the model's context lose their oldest turns (the system prompt stays).
import { acquire, attachShared } from "./chat-models.js";
import { CHAT_CSS } from "./chat-style.js";
import { OptionsError } from "./errors.js";

/** Numeric attributes: their property, how a value is checked, and the default. */
const NUMBERS = {
  "max-new-tokens": { prop: "maxNewTokens", ok: (x) => Number.isInteger(x) && x > 0, what: "a whole number above 0", fallback: 256 },
  temperature: { prop: "temperature", ok: (x) => Number.isFinite(x) && x >= 0, what: "a number ≥ 0 (0 answers greedily)", fallback: 0 },
  "top-p": { prop: "topP", ok: (x) => x > 0 && x <= 1, what: "a number above 0 and at most 1", fallback: undefined },
  "adapter-scale": { prop: "adapterScale", ok: Number.isFinite, what: "a number (0: the base model, 1: the adapter as trained)", fallback: undefined },
};
const DEVICES = ["auto", "webgpu", "gpu", "cpu"];
const STRINGS = { "system-prompt": "systemPrompt", placeholder: "placeholder", greeting: "greeting", device: "device", adapter: "adapter" };

let sheet = null; // one constructed stylesheet for every widget
function styles() {
  if (!sheet) {
    sheet = new CSSStyleSheet();
    sheet.replaceSync(CHAT_CSS);
  }
  return sheet;
}

function element(tag, props = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") el.textContent = v;
    else if (k === "part" || k.startsWith("aria-") || k === "role" || k === "for") el.setAttribute(k, v);
    else el[k] = v;
  }
  el.append(...children);
  return el;
}

function bytes(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} kB`;
}

export class WebtuneChat extends HTMLElement {
  static observedAttributes = ["model", ...Object.keys(NUMBERS), ...Object.keys(STRINGS), "persist"];

  #ui = null;
  #model = null; // the `model` property when it is not a string (picked files, {config, …})
  #values = {}; // checked numeric settings
  #history = []; // [{ role: "user" | "assistant", content }], the system prompt is added when sending
  #pipeline = null;
  #given = null; // a pipeline the page handed in (the `pipeline` property): used, never disposed
  #lease = null; // this widget's hold on its shared pipeline
  #loading = null;
  #loadCount = 0;
  #controller = null; // aborts the reply being generated
  #pinned = true; // whether the log shows its end
  #errorFrom = null; // what the error on show is about: "load", or null for anything else

  constructor() {
    super();
    this.attachShadow({ mode: "open" }).adoptedStyleSheets = [styles()];
  }

  // ---- attributes and properties ----

  get model() { return this.#model ?? this.getAttribute("model"); }
  set model(value) {
    if (typeof value === "string" || value == null) {
      this.#model = null;
      if (value == null) this.removeAttribute("model"); else this.setAttribute("model", value);
    } else {
      this.#model = value;
      if (this.isConnected) this.#load();
    }
  }
  /**
   * The text-generation pipeline the widget talks to. A page that has loaded one already (to
   * fine-tune it, say) can hand it in instead of a `model`: the widget then uses it as it is
   * (trained in place, its answers change) and leaves disposing it to the page.
   */
  get pipeline() { return this.#pipeline; }
  set pipeline(p) {
    this.#letGo();
    this.#given = p ?? null;
    this.#pipeline = p ?? null;
    if (p) this.#announce(p);
  }

  get persist() { return this.hasAttribute("persist") && this.getAttribute("persist") !== "false"; }
  set persist(on) { this.toggleAttribute("persist", !!on); }

  attributeChangedCallback(name, before, after) {
    if (before === after) return;
    if (!this.#ui) return; // connectedCallback checks what the markup set
    if (name in NUMBERS) this.#checkNumber(name);
    if (name === "device") this.#checkDevice();
    if (name === "placeholder") this.#ui.input.placeholder = this.placeholder;
    if (name === "greeting") this.#render();
    if (name === "model" || name === "device") {
      this.#model = null;
      this.#given = null;
      this.#load();
    } else if (name === "adapter" && this.#pipeline) {
      this.#attach(this.#pipeline, this.#loadCount);
    }
  }

  #checkDevice() {
    const d = this.getAttribute("device");
    if (d != null && !DEVICES.includes(d)) this.#fail(new OptionsError(`<webtune-chat>: device="${d}" is not one of ${DEVICES.join(", ")}; using "auto"`));
  }

  #checkNumber(name) {
    const spec = NUMBERS[name];
    const raw = this.getAttribute(name);
    if (raw == null || raw.trim() === "") return void delete this.#values[spec.prop];
    const x = Number(raw);
    if (spec.ok(x)) return void (this.#values[spec.prop] = x);
    delete this.#values[spec.prop];
    const used = spec.fallback === undefined ? "leaving it off" : `using ${spec.fallback}`;
    this.#fail(new OptionsError(`<webtune-chat>: ${name}="${raw}" is not ${spec.what}; ${used}`));
  }

  /** The settings a reply is generated with (checked attribute values, else the defaults). */
  get options() {
    const o = {};
    for (const spec of Object.values(NUMBERS)) {
      const v = this.#values[spec.prop] ?? spec.fallback;
      if (v !== undefined) o[spec.prop] = v;
    }
    return o;
  }

  get systemPrompt() { return this.getAttribute("system-prompt") ?? ""; }
  set systemPrompt(v) { this.setAttribute("system-prompt", v); }
  /**
   * The LoRA adapter replies use, attached to the model the widget shares with others: "saved:NAME"
   * (saved with `save({ name, format: "peft" })` or "gguf-lora"), a .gguf adapter URL or a PEFT
   * adapter folder URL. Off: the model as it is.
   */
  get adapter() { return this.getAttribute("adapter") || null; }
  set adapter(v) { if (v == null) this.removeAttribute("adapter"); else this.setAttribute("adapter", v); }
  get adapterScale() { return this.options.adapterScale; }
  set adapterScale(v) { if (v == null) this.removeAttribute("adapter-scale"); else this.setAttribute("adapter-scale", String(v)); }
  get placeholder() { return this.getAttribute("placeholder") ?? "Type a message…"; }
  set placeholder(v) { this.setAttribute("placeholder", v); }
  get greeting() { return this.getAttribute("greeting") ?? ""; }
  set greeting(v) { this.setAttribute("greeting", v); }
  get device() {
    const d = this.getAttribute("device");
    return DEVICES.includes(d) ? d : "auto";
  }
  set device(v) { this.setAttribute("device", v); }
  get maxNewTokens() { return this.options.maxNewTokens; }
  set maxNewTokens(v) { this.setAttribute("max-new-tokens", String(v)); }
  get temperature() { return this.options.temperature; }
  set temperature(v) { this.setAttribute("temperature", String(v)); }
  get topP() { return this.options.topP; }
  set topP(v) { if (v == null) this.removeAttribute("top-p"); else this.setAttribute("top-p", String(v)); }

  /** The conversation so far: `[{ role, content }]` (without the system prompt). */
  get messages() { return this.#history.map((m) => ({ ...m })); }
  /** The loaded pipeline's info (device, context length), once `ready` has fired. */
  get info() { return this.#pipeline?.info ?? null; }

  // ---- lifecycle ----

  connectedCallback() {
    if (!this.#ui) this.#build();
    for (const name of Object.keys(NUMBERS)) if (this.hasAttribute(name)) this.#checkNumber(name);
    this.#checkDevice();
    this.#restore();
    this.#render();
    if (this.#given) this.pipeline = this.#given;
    else if (this.model != null && !this.#pipeline && !this.#loading) this.#load();
  }

  disconnectedCallback() {
    this.#controller?.abort();
    this.#letGo();
  }

  #build() {
    const log = element("div", { className: "log", part: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation", tabIndex: 0 });
    const status = element("div", { className: "status", part: "status", role: "status", "aria-live": "polite" });
    const error = element("div", { className: "error", part: "error", role: "alert" });
    const input = element("textarea", { id: "input", part: "input", rows: 1, placeholder: this.placeholder, autocomplete: "off" });
    const label = element("label", { className: "visually-hidden", for: "input", text: "Message" });
    const send = element("button", { type: "submit", part: "send", text: "Send" });
    const stop = element("button", { type: "button", part: "stop", className: "secondary", text: "Stop", hidden: true });
    const form = element("form", { part: "form" }, [label, input, send, stop]);
    const container = element("div", { className: "container", part: "container" }, [log, status, error, form]);
    this.shadowRoot.append(container);
    this.#ui = { log, status, error, input, send, stop, form };

    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.#sendFromInput();
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.#sendFromInput();
      } else if (e.key === "Escape" && this.#controller) {
        e.preventDefault();
        this.stop();
      }
    });
    input.addEventListener("input", () => this.#fitInput());
    stop.addEventListener("click", () => this.stop());
    // a log scrolled to its end stays there when the widget is resized (e.g. a phone rotated)
    log.addEventListener("scroll", () => { this.#pinned = log.scrollHeight - log.scrollTop - log.clientHeight < 80; });
    new ResizeObserver(() => { if (this.#pinned) log.scrollTop = log.scrollHeight; }).observe(log);
  }

  #fitInput() {
    const { input } = this.#ui;
    input.style.height = "auto"; // CSSOM, allowed under a strict style-src
    input.style.height = `${input.scrollHeight + 2}px`;
  }

  #sendFromInput() {
    const { input } = this.#ui;
    if (this.#controller) return; // a reply is being written: Stop first
    const text = input.value;
    if (!text.trim()) {
      this.#fail(new OptionsError("<webtune-chat>: the message is empty; type something to send"));
      return;
    }
    input.value = "";
    this.#fitInput();
    this.send(text);
  }

  // ---- the model ----

  /** Forgets the current model: a load under way is no longer wanted, a shared one is let go. */
  #letGo() {
    this.#loadCount++;
    this.#lease?.release();
    this.#lease = null;
    this.#loading = null;
    this.#pipeline = null;
  }

  #load() {
    const model = this.model;
    this.#letGo();
    const token = this.#loadCount;
    if (model == null || model === "") return null;
    const files = new Map(); // file → { loaded, total }
    const onProgress = (e) => {
      if (token !== this.#loadCount) return;
      this.dispatchEvent(new CustomEvent("progress", { detail: e }));
      if (e.status === "warning") return; // the one warning, the CPU fallback, is noted once ready
      if (e.status === "progress" || e.status === "done") {
        files.set(e.file ?? "", { loaded: e.loaded ?? 0, total: e.total ?? 0 });
        let loaded = 0, total = 0;
        for (const f of files.values()) { loaded += f.loaded; total += f.total; }
        this.#setStatus(total ? `Downloading the model: ${bytes(loaded)} of ${bytes(total)}` : `Downloading the model: ${bytes(loaded)}`, total ? loaded / total : null);
      }
    };
    this.#clearError("load");
    this.#setStatus("Loading the model…", null);
    const lease = acquire(model, this.device, onProgress);
    this.#lease = lease;
    this.#loading = lease.loading.then(
      async (pipeline) => {
        if (token !== this.#loadCount) return null;
        const attached = await this.#attach(pipeline, token); // ready (and `info`) once it is attached
        if (token !== this.#loadCount) return null;
        this.#pipeline = pipeline;
        this.#loading = null;
        if (attached) this.#announce(pipeline); // else its error stays on show; each reply tries again
        return pipeline;
      },
      (err) => {
        if (token !== this.#loadCount) return null;
        this.#loading = null;
        lease.release();
        if (this.#lease === lease) this.#lease = null;
        this.#setStatus("");
        this.#fail(err, "The model could not be loaded", "load");
        return null;
      },
    );
    return this.#loading;
  }

  /**
   * Attaches the `adapter` attribute's adapter to `pipeline` (shared: loaded once per model);
   * a failure is shown (replies try again). Resolves to whether it is attached.
   */
  async #attach(pipeline, token) {
    const adapter = this.adapter;
    if (!adapter) return true;
    this.#setStatus("Loading the adapter…", null);
    try {
      await attachShared(pipeline, adapter);
      if (token === this.#loadCount) this.#setStatus("");
      return true;
    } catch (err) {
      if (token === this.#loadCount) {
        this.#setStatus("");
        this.#fail(err, `The adapter ${adapter} could not be loaded`, "load");
      }
      return false;
    }
  }

  /** Shows the one-line device notice and fires `ready`. */
  #announce(pipeline) {
    // one short line; the reason in full is info.device.fallback (and the progress "warning" event)
    const d = pipeline.info.device;
    this.#clearError("load");
    this.#setStatus(d.kind === "cpu" && d.fallback ? "Running on the CPU (no hardware GPU here), so replies come more slowly." : "");
    this.dispatchEvent(new CustomEvent("ready", { detail: { info: pipeline.info } }));
  }

  async #ready() {
    if (this.#pipeline) return this.#pipeline;
    if (this.model == null || this.model === "") {
      throw new OptionsError("<webtune-chat>: no model: set the model attribute to a .gguf URL, a hub id, a folder URL or saved:NAME");
    }
    return (await (this.#loading ?? this.#load())) ?? null;
  }

  // ---- conversation ----

  /**
   * Sends `text` as the user and streams the reply; resolves to the reply's text (null when
   * nothing was answered: an error, which is shown and fired as an `error` event).
   */
  async send(text) {
    text = String(text ?? "");
    if (!text.trim()) {
      this.#fail(new OptionsError("<webtune-chat>: the message is empty; type something to send"));
      return null;
    }
    if (this.#controller) {
      this.#fail(new OptionsError("<webtune-chat>: a reply is still being written; wait for it or stop it first"));
      return null;
    }
    if (!this.#ui) this.#build();
    this.#clearError();
    const controller = new AbortController();
    this.#controller = controller;
    this.#busy(true);
    const userBubble = this.#bubble("user", text);
    this.#history.push({ role: "user", content: text });
    let reply = null;
    let streamed = "";
    try {
      const pipeline = await this.#ready();
      if (!pipeline || controller.signal.aborted) throw Object.assign(new Error(), { unanswered: true });
      reply = this.#bubble("assistant", "");
      reply.el.classList.add("streaming");
      this.#ui.log.setAttribute("aria-busy", "true"); // announce the finished reply, not each token
      const messages = [...(this.systemPrompt ? [{ role: "system", content: this.systemPrompt }] : []), ...this.#history];
      const { adapterScale, ...options } = this.options;
      const adapter = this.adapter;
      if (adapter) await attachShared(pipeline, adapter); // at once when attached; else its error is this reply's
      const out = await pipeline.chat(messages, {
        ...options,
        ...(adapter ? { adapter, adapterScale } : {}), // else the pipeline's own choice (adapters.use)
        trimHistory: true,
        signal: controller.signal,
        onToken: (piece) => {
          streamed += piece;
          reply.body.textContent = streamed;
          this.#scroll();
          this.dispatchEvent(new CustomEvent("token", { detail: { text: piece } }));
        },
      });
      reply.body.textContent = out.text;
      this.#history.push({ role: "assistant", content: out.text });
      if (out.droppedMessages > 0) this.#note(reply, `${out.droppedMessages} older messages were left out to fit the model's context`);
      this.dispatchEvent(new CustomEvent("message", { detail: { role: "assistant", content: out.text, completion: out } }));
      return out.text;
    } catch (err) {
      if (err.name === "AbortError" && reply) {
        const text = err.partial?.text ?? streamed;
        reply.body.textContent = text;
        this.#note(reply, "stopped");
        this.#history.push({ role: "assistant", content: text });
        this.dispatchEvent(new CustomEvent("message", { detail: { role: "assistant", content: text, stopped: true } }));
        return text;
      }
      // not answered: the message leaves the conversation but stays visible, and goes back into
      // the box when that is empty, so nothing typed is lost
      this.#history.pop();
      reply?.el.remove();
      this.#note(userBubble, "not answered");
      if (!this.#ui.input.value) this.#ui.input.value = text;
      if (!err.unanswered) this.#fail(err, "No reply");
      return null;
    } finally {
      reply?.el.classList.remove("streaming");
      this.#ui.log.removeAttribute("aria-busy");
      if (this.#controller === controller) this.#controller = null;
      this.#busy(false);
      this.#save();
    }
  }

  /** Stops the reply being generated (what was written so far stays). */
  stop() {
    this.#controller?.abort();
  }

  /** Forgets the conversation (and its stored copy with `persist`). */
  clear() {
    this.stop();
    this.#history = [];
    this.#clearError();
    this.#save();
    this.#render();
  }

  // ---- rendering ----

  #render() {
    if (!this.#ui) return;
    this.#ui.log.replaceChildren();
    if (this.greeting) this.#bubble("assistant", this.greeting).el.dataset.greeting = "";
    for (const m of this.#history) this.#bubble(m.role, m.content);
  }

  /** Appends a message to the log; returns `{ el, body }` (body: the span holding its text). */
  #bubble(role, text) {
    const body = element("span", { text });
    const who = element("span", { className: "visually-hidden", text: role === "user" ? "You: " : "Assistant: " });
    const el = element("div", { className: `message ${role}`, part: `message ${role}` }, [who, body]);
    this.#ui.log.append(el);
    this.#scroll(true);
    return { el, body };
  }

  #note(bubble, text) {
    bubble.el.append(element("span", { className: "note", part: "note", text }));
  }

  #scroll(force = false) {
    const { log } = this.#ui;
    if (force || this.#pinned) log.scrollTop = log.scrollHeight;
  }

  #busy(on) {
    const { send, stop, input } = this.#ui;
    const hadFocus = this.shadowRoot.activeElement === stop;
    send.hidden = on;
    stop.hidden = !on;
    if (on && this.shadowRoot.activeElement === send) stop.focus();
    if (!on && hadFocus) input.focus();
  }

  #setStatus(text, progress) {
    const { status } = this.#ui ?? {};
    if (!status) return;
    status.replaceChildren(text);
    if (text && progress !== undefined) {
      const bar = element("progress", { part: "progress", max: 1 });
      bar.setAttribute("aria-label", "Loading the model");
      if (progress != null) bar.value = progress; // else indeterminate
      status.append(bar);
    }
  }

  /** Hides the error on show (with `only`, just when it is about that). */
  #clearError(only) {
    if (only && this.#errorFrom !== only) return;
    this.#ui?.error.replaceChildren();
    this.#errorFrom = null;
  }

  /** Shows `err` in the widget and fires `error` ({ name, message, error }). */
  #fail(err, context, about = null) {
    const name = err?.name || "Error";
    const message = err?.message || String(err);
    this.#errorFrom = about;
    if (this.#ui) this.#ui.error.textContent = `${context ? `${context}: ` : ""}${name}: ${message}`;
    this.dispatchEvent(new CustomEvent("error", { detail: { name, message, error: err } }));
  }

  // ---- persistence ----

  #storageKey() {
    const model = this.getAttribute("model") ?? "files";
    return `webtune-chat:${this.id || model}`;
  }

  #restore() {
    if (!this.persist || this.#history.length) return;
    try {
      const saved = JSON.parse(localStorage.getItem(this.#storageKey()) ?? "null");
      if (Array.isArray(saved?.messages)) {
        this.#history = saved.messages.filter((m) => (m?.role === "user" || m?.role === "assistant") && typeof m.content === "string");
      }
    } catch {
      // unreadable or blocked storage: start a fresh conversation
    }
  }

  #save() {
    if (!this.persist) return;
    try {
      if (this.#history.length) localStorage.setItem(this.#storageKey(), JSON.stringify({ messages: this.#history }));
      else localStorage.removeItem(this.#storageKey());
    } catch (err) {
      this.#fail(err, "The conversation could not be stored");
    }
  }
}

if (!customElements.get("webtune-chat")) customElements.define("webtune-chat", WebtuneChat);

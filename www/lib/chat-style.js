// <webtune-chat>'s styles, adopted by its shadow root as a constructed stylesheet (so a page with
// a strict Content-Security-Policy, `style-src 'self'`, needs nothing extra). Page authors restyle
// it through the custom properties below and `::part()`.
export const CHAT_CSS = `
:host {
  --webtune-chat-font: system-ui, sans-serif;
  --webtune-chat-bg: #ffffff;
  --webtune-chat-fg: #1d232a;
  --webtune-chat-muted: #5b6470;
  --webtune-chat-border: #d0d6dd;
  --webtune-chat-accent: #2b6cb0;
  --webtune-chat-accent-fg: #ffffff;
  --webtune-chat-user-bg: #2b6cb0;
  --webtune-chat-user-fg: #ffffff;
  --webtune-chat-assistant-bg: #eef1f4;
  --webtune-chat-assistant-fg: #1d232a;
  --webtune-chat-error: #b00020;
  --webtune-chat-radius: 12px;
  --webtune-chat-height: 28rem;
  display: block;
  min-width: 0;
  font: 15px/1.45 var(--webtune-chat-font);
  color: var(--webtune-chat-fg);
}
@media (prefers-color-scheme: dark) {
  :host {
    --webtune-chat-bg: #1b1f24;
    --webtune-chat-fg: #e6e9ed;
    --webtune-chat-muted: #a3acb8;
    --webtune-chat-border: #3a424c;
    --webtune-chat-accent: #5a9be0;
    --webtune-chat-accent-fg: #0d1117;
    --webtune-chat-user-bg: #3a79c2;
    --webtune-chat-user-fg: #ffffff;
    --webtune-chat-assistant-bg: #2a3038;
    --webtune-chat-assistant-fg: #e6e9ed;
    --webtune-chat-error: #ff7b8a;
  }
}
:host([hidden]) { display: none; }
* { box-sizing: border-box; }
.container {
  display: flex; flex-direction: column; height: var(--webtune-chat-height); min-height: 12rem;
  background: var(--webtune-chat-bg); border: 1px solid var(--webtune-chat-border);
  border-radius: var(--webtune-chat-radius); overflow: hidden;
}
.log { flex: 1; overflow-y: auto; padding: .75rem; display: flex; flex-direction: column; gap: .5rem; }
.message {
  max-width: 85%; padding: .45rem .75rem; border-radius: var(--webtune-chat-radius);
  white-space: pre-wrap; overflow-wrap: anywhere;
}
.message.user { align-self: flex-end; background: var(--webtune-chat-user-bg); color: var(--webtune-chat-user-fg); border-bottom-right-radius: 4px; }
.message.assistant { align-self: flex-start; background: var(--webtune-chat-assistant-bg); color: var(--webtune-chat-assistant-fg); border-bottom-left-radius: 4px; }
.message.assistant.streaming::after { content: "▍"; opacity: .6; }
.message .note { display: block; font-size: .8em; color: var(--webtune-chat-muted); margin-top: .2rem; }
.message.user .note { color: inherit; opacity: .8; }
.status { padding: .35rem .75rem; font-size: .85em; color: var(--webtune-chat-muted); border-top: 1px solid var(--webtune-chat-border); }
.status:empty { display: none; }
.status progress { display: block; width: 100%; height: .5rem; margin-top: .25rem; accent-color: var(--webtune-chat-accent); }
.error { padding: .4rem .75rem; font-size: .85em; color: var(--webtune-chat-error); border-top: 1px solid var(--webtune-chat-border); white-space: pre-wrap; overflow-wrap: anywhere; }
.error:empty { display: none; }
form { display: flex; gap: .4rem; padding: .5rem; border-top: 1px solid var(--webtune-chat-border); align-items: flex-end; }
textarea {
  flex: 1; min-width: 0; resize: none; font: inherit; color: inherit; background: transparent;
  border: 1px solid var(--webtune-chat-border); border-radius: 8px; padding: .4rem .55rem; max-height: 8rem;
}
button {
  font: inherit; padding: .4rem .85rem; border-radius: 8px; cursor: pointer;
  border: 1px solid var(--webtune-chat-accent); background: var(--webtune-chat-accent); color: var(--webtune-chat-accent-fg);
}
button.secondary { background: transparent; color: var(--webtune-chat-accent); }
button:disabled, textarea:disabled { opacity: .55; cursor: default; }
button[hidden] { display: none; }
textarea:focus-visible, button:focus-visible, .log:focus-visible { outline: 3px solid var(--webtune-chat-accent); outline-offset: 1px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
@media (forced-colors: active) {
  .message { border: 1px solid CanvasText; }
  button { border: 1px solid ButtonText; }
  .message.assistant.streaming::after { content: "…"; }
}
`;

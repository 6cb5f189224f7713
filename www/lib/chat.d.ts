// Types of <webtune-chat> (`import "webtune/chat";`).
import type { Completion, DecoderInfo, DecoderSource, DevicePreference, TextGenerationPipeline } from "./index.js";

/** A message of the widget's conversation (the system prompt is not one of them). */
export interface WidgetMessage {
  role: "user" | "assistant";
  content: string;
}

/** `<webtune-chat>`: a chatbot in a shadow root; see the package README for attributes, parts and custom properties. */
export declare class WebtuneChat extends HTMLElement {
  /** A .gguf URL, hub id, folder URL, `saved:NAME`, or (property only) picked files / `{ config, weights, tokenizer, tokenizerConfig, chatTemplate }`. */
  model: DecoderSource | null;
  systemPrompt: string;
  maxNewTokens: number;
  temperature: number;
  topP: number | undefined;
  device: DevicePreference;
  placeholder: string;
  greeting: string;
  /** A LoRA adapter for the replies (`saved:NAME`, a .gguf adapter URL or a PEFT adapter folder URL), attached to the model widgets share. */
  adapter: string | null;
  /** Multiplies the adapter's product (0: the base model, 1: as trained). */
  adapterScale: number | undefined;
  /** Keep the conversation in localStorage across reloads (key `webtune-chat:` + id or model). */
  persist: boolean;
  /** The pipeline it talks to; set it to a text-generation pipeline the page already holds (the page disposes it). */
  pipeline: TextGenerationPipeline | null;
  /** The conversation so far. */
  readonly messages: WidgetMessage[];
  /** The loaded model's info, once `ready` has fired. */
  readonly info: DecoderInfo | null;
  /** Sends `text` as the user; resolves to the reply (null when it failed: see the `error` event). */
  send(text: string): Promise<string | null>;
  /** Stops the reply being written; what was written so far stays. */
  stop(): void;
  /** Forgets the conversation (and its stored copy). */
  clear(): void;
  addEventListener<K extends keyof WebtuneChatEventMap>(type: K, listener: (this: WebtuneChat, ev: WebtuneChatEventMap[K]) => unknown, options?: boolean | AddEventListenerOptions): void;
  addEventListener<K extends keyof HTMLElementEventMap>(type: K, listener: (this: HTMLElement, ev: HTMLElementEventMap[K]) => any, options?: boolean | AddEventListenerOptions): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject, options?: boolean | AddEventListenerOptions): void;
}

/** The widget's own events (`error` here is a CustomEvent, not a script ErrorEvent). */
export interface WebtuneChatEventMap {
  ready: CustomEvent<{ info: DecoderInfo }>;
  /** Loading events (`{ status: "initiate" | "download" | "progress" | "done" | "warning" | "ready", file, loaded, total }`). */
  progress: CustomEvent<{ status: string; file?: string; loaded?: number; total?: number; message?: string }>;
  token: CustomEvent<{ text: string }>;
  message: CustomEvent<{ role: "assistant"; content: string; completion?: Completion; stopped?: boolean }>;
  /** `name` is the API's error name (OptionsError, NetworkError, OutOfMemoryError, …). */
  error: CustomEvent<{ name: string; message: string; error: unknown }>;
}

declare global {
  interface HTMLElementTagNameMap {
    "webtune-chat": WebtuneChat;
  }
}

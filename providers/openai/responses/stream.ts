/**
 * The Responses API stream decoder: one synchronous state machine per streaming response.
 *
 * The stream is typed events (`event: <type>` + `data: {"type": "<type>", …}`); the JSON `type` is what is read,
 * so servers that send `data:` lines only work too. Per event:
 * - `response.created`: `id`, `model` and `store` of the response;
 * - `response.output_text.delta` → a `chunk` event per non-empty delta;
 * - `response.reasoning_summary_text.delta` (and `response.reasoning_text.delta`, sent by open-weight servers) →
 *   a `reasoning` event per non-empty delta; a new summary part starts with a blank line, as `parse.ts` joins them;
 * - `response.output_item.added` (function_call: `call_id`, `name`), `response.function_call_arguments.delta`
 *   (fragments, merged by `output_index`), `response.function_call_arguments.done` / `response.output_item.done`
 *   → one `tool_call` event per call, when its arguments are complete (id = `call_id`);
 * - `response.completed` / `response.incomplete` end the stream: status, `incomplete_details`, `usage` (a `usage`
 *   event), and the final `output`, which also fills what a server never streamed (a call without argument events,
 *   text without deltas) and gives the items kept in `providerData`;
 * - `response.failed` throws the typed error of `response.error`; an `error` event throws its error.
 * Anything after an end marker is ignored, and so is a `data: [DONE]` (not this API's end marker). The transport
 * turns a body that ends while `finished` is false into a `StreamError`.
 *
 * The per-event path allocates nothing beyond `JSON.parse` and the event it pushes; events whose SSE name says
 * they carry nothing new (`response.in_progress`, `*.done` of text and parts) are skipped before parsing.
 */
import type { FiberError } from '../../../src/errors.js';
import type { ResponseInfo, StreamDecoder, StreamEvent, StreamFinal, ToolCall, Usage } from '../../../src/types.js';
import { parseToolArguments } from '../../shared/parse-tool-arguments.js';
import { invalidStreamIndex, invalidStreamJson } from '../../shared/response-errors.js';
import { openaiStreamError } from '../errors.js';
import {
  callIdOf,
  mapResponsesFinish,
  mapResponsesUsage,
  outputText,
  REASONING_PART_SEPARATOR,
  reasoningText,
  responsesFailure,
  responsesProviderData,
} from './parse.js';
import type { ResponsesOutputItem, ResponsesResponse, ResponsesStreamEvent } from './wire.js';

/** Output slots beyond this index are refused: a hostile index must not make us walk a huge sparse array. */
const MAX_OUTPUT_INDEX = 4096;

/** SSE event names whose payload repeats what the deltas already gave (skipped without `JSON.parse`). */
const SKIP: ReadonlySet<string> = new Set([
  'response.in_progress',
  'response.content_part.added',
  'response.content_part.done',
  'response.output_text.done',
  'response.output_text.annotation.added',
  'response.reasoning_summary_part.added',
  'response.reasoning_summary_part.done',
  'response.reasoning_summary_text.done',
  'response.reasoning_text.done',
]);

interface CallSlot {
  itemId: string;
  callId: string;
  name: string;
  args: string;
  /** Set once the `tool_call` event went out. */
  call: ToolCall | null;
}

/**
 * Decodes one OpenAI Responses SSE stream into `StreamEvent`s.
 *
 * @example
 * const decoder = new ResponsesStreamDecoder(res);
 * const parser = new SseParser((data, name) => decoder.event(data, name, elapsed(), events));
 */
export class ResponsesStreamDecoder implements StreamDecoder {
  /** `response.completed` or `response.incomplete` arrived. */
  private done = false;
  /** A non-empty `response.output_text.delta` arrived: the final output's text is then not emitted again. */
  private sawTextDelta = false;
  private reasoning: string | null = null;
  /** Item id and part index of the last reasoning delta: a new pair starts a new part. */
  private reasoningItem: string | undefined = undefined;
  private reasoningPart = -1;
  private id: string | null = null;
  private model: string | null = null;
  private store: boolean | null = null;
  private status: string | null = null;
  private incompleteReason: string | null = null;
  private usage: Usage | null = null;
  private raw: unknown = null;
  /** Function calls by `output_index` (possibly sparse). */
  private slots: CallSlot[] | null = null;
  private callCount = 0;
  /** Items of `response.output_item.done`, by `output_index`: the output when the end event carries none. */
  private doneItems: ResponsesOutputItem[] | null = null;
  private output: ResponsesOutputItem[] = [];

  constructor(private readonly res: ResponseInfo) {}

  /** True once the stream reached its end marker. */
  get finished(): boolean {
    return this.done;
  }

  event(data: string, eventName: string | undefined, t: number, out: StreamEvent[]): void {
    if (this.done) return;
    // Empty `data:` lines are keep-alives; `[DONE]` is appended by some proxies and means nothing here.
    if (data === '' || data === '[DONE]') return;
    if (eventName !== undefined && SKIP.has(eventName)) return;

    let ev: ResponsesStreamEvent;
    try {
      ev = JSON.parse(data);
    } catch {
      throw invalidStreamJson(this.res);
    }
    if (ev === null || typeof ev !== 'object') throw invalidStreamJson(this.res);

    switch (ev.type) {
      case 'response.output_text.delta': {
        const delta = ev.delta;
        if (typeof delta === 'string' && delta !== '') {
          this.sawTextDelta = true;
          out.push({ type: 'chunk', delta, t });
        }
        return;
      }
      case 'response.reasoning_summary_text.delta':
        this.reason(ev.delta, ev.item_id, ev.summary_index, t, out);
        return;
      case 'response.reasoning_text.delta':
        this.reason(ev.delta, ev.item_id, ev.content_index, t, out);
        return;
      case 'response.function_call_arguments.delta': {
        const delta = ev.delta;
        if (typeof delta === 'string' && delta !== '') {
          const slot = this.slot(ev.output_index, ev.item_id);
          if (slot.call === null) slot.args += delta;
        }
        return;
      }
      case 'response.function_call_arguments.done': {
        const slot = this.slot(ev.output_index, ev.item_id);
        if (slot.call !== null) return;
        if (typeof ev.arguments === 'string') slot.args = ev.arguments;
        if (slot.name === '' && typeof ev.name === 'string') slot.name = ev.name;
        this.emitCall(slot, t, out);
        return;
      }
      case 'response.output_item.added': {
        const item = ev.item;
        if (item != null && item.type === 'function_call') this.fill(this.slot(ev.output_index, item.id), item);
        return;
      }
      case 'response.output_item.done': {
        const item = ev.item;
        if (item == null || typeof item !== 'object') return;
        const index = this.index(ev.output_index);
        if (index !== -1) (this.doneItems ??= [])[index] = item;
        if (item.type === 'function_call') {
          const slot = this.slot(ev.output_index, item.id);
          if (slot.call !== null) return;
          this.fill(slot, item);
          if (typeof item.arguments === 'string') slot.args = item.arguments;
          this.emitCall(slot, t, out);
        }
        return;
      }
      case 'response.created':
      case 'response.in_progress':
        if (ev.response != null) this.meta(ev.response);
        return;
      case 'response.completed':
        this.end(ev.response, 'completed', t, out);
        return;
      case 'response.incomplete':
        this.end(ev.response, 'incomplete', t, out);
        return;
      case 'response.failed':
        throw responsesFailure(this.res, ev.response ?? {});
      case 'error':
        throw this.errorEvent(ev);
      default:
        // Lifecycle and built-in tool events carry nothing this decoder maps.
        return;
    }
  }

  /** No `text`: the Fiber's result text is the text it delivered from the `chunk` events (see `StreamFinal`). */
  final(): StreamFinal {
    const toolCalls = this.toolCalls();
    const final: StreamFinal = {
      reasoning: this.reasoning,
      toolCalls,
      finishReason: mapResponsesFinish(this.status, this.incompleteReason, toolCalls.length > 0),
      usage: this.usage,
      model: this.model,
      id: this.id,
      raw: this.raw,
    };
    const providerData = responsesProviderData(this.output, this.store);
    if (providerData !== undefined) final.providerData = providerData;
    return final;
  }

  private reason(delta: string | undefined, itemId: string | undefined, part: number | undefined, t: number, out: StreamEvent[]): void {
    if (typeof delta !== 'string' || delta === '') return;
    const p = typeof part === 'number' ? part : 0;
    let piece = delta;
    if (this.reasoning === null) {
      this.reasoning = delta;
    } else {
      if (itemId !== this.reasoningItem || p !== this.reasoningPart) piece = REASONING_PART_SEPARATOR + delta;
      this.reasoning += piece;
    }
    this.reasoningItem = itemId;
    this.reasoningPart = p;
    out.push({ type: 'reasoning', delta: piece, t });
  }

  private meta(r: ResponsesResponse): void {
    if (this.id === null && typeof r.id === 'string' && r.id !== '') this.id = r.id;
    if (this.model === null && typeof r.model === 'string' && r.model !== '') this.model = r.model;
    if (typeof r.store === 'boolean') this.store = r.store;
  }

  /** The end marker: final status, usage and output; fills what was never streamed, then emits usage. */
  private end(r: ResponsesResponse | undefined, status: string, t: number, out: StreamEvent[]): void {
    this.done = true;
    this.status = status;
    let output: ResponsesOutputItem[] | null = null;
    if (r != null && typeof r === 'object') {
      this.raw = r;
      this.meta(r);
      if (typeof r.status === 'string') this.status = r.status;
      const reason = r.incomplete_details?.reason;
      if (typeof reason === 'string') this.incompleteReason = reason;
      if (r.usage != null && typeof r.usage === 'object') this.usage = mapResponsesUsage(r.usage);
      if (Array.isArray(r.output) && r.output.length > 0) output = r.output;
    }
    const final = output !== null;
    if (output === null) output = this.doneItems === null ? [] : this.doneItems.filter((item) => item !== undefined);
    this.output = output;

    // A server that skipped the text deltas: the final output's text goes out as one chunk.
    if (!this.sawTextDelta) {
      const text = outputText(output);
      if (text !== '') out.push({ type: 'chunk', delta: text, t });
    }
    if (this.reasoning === null) {
      const reasoning = reasoningText(output);
      if (reasoning !== null) {
        this.reasoning = reasoning;
        out.push({ type: 'reasoning', delta: reasoning, t });
      }
    }
    // Function calls of the final output that were never streamed (items of `output_item.done` already were).
    for (let i = 0; final && i < output.length; i++) {
      const item = output[i];
      if (item == null || item.type !== 'function_call') continue;
      const slot = this.slot(i, item.id);
      if (slot.call !== null) continue;
      this.fill(slot, item);
      if (typeof item.arguments === 'string') slot.args = item.arguments;
    }
    // Calls whose arguments never said "done" are complete now.
    const slots = this.slots;
    if (slots !== null) {
      for (let i = 0; i < slots.length; i++) {
        const s = slots[i];
        if (s !== undefined && s.call === null) this.emitCall(s, t, out);
      }
    }
    if (this.usage !== null) out.push({ type: 'usage', usage: this.usage, t });
  }

  /** `output_index` as a slot index, -1 when absent; a hostile index throws. */
  private index(outputIndex: number | undefined): number {
    if (outputIndex === undefined) return -1;
    if (!Number.isInteger(outputIndex) || outputIndex < 0 || outputIndex > MAX_OUTPUT_INDEX) {
      throw invalidStreamIndex(this.res, 'stream output item has an invalid output_index', 'invalid_output_index');
    }
    return outputIndex;
  }

  /** The call slot of an output item: by `output_index`, else by item id, else a new one at the end. */
  private slot(outputIndex: number | undefined, itemId: string | undefined): CallSlot {
    let slots = this.slots;
    if (slots === null) slots = this.slots = [];
    let index = this.index(outputIndex);
    if (index === -1) {
      if (typeof itemId === 'string' && itemId !== '') {
        for (let i = 0; i < slots.length; i++) if (slots[i] !== undefined && slots[i]!.itemId === itemId) return slots[i]!;
      }
      index = slots.length;
    }
    let slot = slots[index];
    if (slot === undefined) {
      slot = { itemId: typeof itemId === 'string' ? itemId : '', callId: '', name: '', args: '', call: null };
      slots[index] = slot;
    }
    return slot;
  }

  private fill(slot: CallSlot, item: ResponsesOutputItem): void {
    if (slot.itemId === '' && typeof item.id === 'string') slot.itemId = item.id;
    if (slot.callId === '' && typeof item.call_id === 'string') slot.callId = item.call_id;
    if (slot.name === '' && typeof item.name === 'string') slot.name = item.name;
    if (slot.args === '' && typeof item.arguments === 'string') slot.args = item.arguments;
  }

  private emitCall(slot: CallSlot, t: number, out: StreamEvent[]): void {
    const call: ToolCall = {
      id: callIdOf({ call_id: slot.callId, id: slot.itemId }, this.callCount),
      name: slot.name,
      arguments: parseToolArguments(slot.args, slot.name, this.res),
    };
    this.callCount++;
    slot.call = call;
    out.push({ type: 'tool_call', toolCall: call, t });
  }

  /** Calls in output order. */
  private toolCalls(): ToolCall[] {
    const calls: ToolCall[] = [];
    const slots = this.slots;
    if (slots === null) return calls;
    for (let i = 0; i < slots.length; i++) {
      const call = slots[i]?.call;
      if (call != null) calls.push(call);
    }
    return calls;
  }

  /** An `error` event: `{ type: 'error', error: { type, code, message } }`, or those fields on the event itself. */
  private errorEvent(ev: ResponsesStreamEvent): FiberError {
    if (ev.error !== null && typeof ev.error === 'object') return openaiStreamError(this.res, ev);
    return openaiStreamError(this.res, { error: { message: ev.message, code: ev.code } });
  }
}

/**
 * The Messages API stream decoder: one synchronous state machine per streaming response.
 *
 * Events (https://docs.anthropic.com/en/api/messages-streaming), dispatched on the SSE `event:` name, else on the
 * payload's `type`:
 * - `message_start`: id, model and the starting usage (input and cache tokens). No event is pushed: usage alone
 *   must not commit the stream before any content (an `overloaded_error` may still follow and be retried).
 * - `content_block_start`: opens block `index`: `text`, `tool_use` (id, name) or `thinking` / `redacted_thinking`.
 * - `content_block_delta`: `text_delta` → a `chunk` event (non-empty only); `input_json_delta` → the fragment is
 *   appended to its block's JSON (fragments split mid-token, fixture anthropic/tool-use-stream); `thinking_delta`
 *   → a `reasoning` event; `signature_delta` → kept with its thinking block.
 * - `content_block_stop`: a `tool_use` block's JSON is parsed (`""` → `{}`) and one `tool_call` event is pushed.
 * - `message_delta`: stop reason, and usage: its non-null fields overwrite the running ones (they are cumulative);
 *   pushes a `usage` event.
 * - `message_stop`: the end marker, sets `finished`. Anything after it is ignored.
 * - `ping`: nothing at all. Pings are keep-alives, not activity: pushing anything would reset the idle timeout.
 * - `error`: throws the typed error (`overloaded_error` → `OverloadedError`, status 529, retryable).
 * - anything else (new event types): ignored, as the API's versioning policy asks.
 *
 * The per-event path allocates nothing beyond `JSON.parse` and the event it pushes; block slots are allocated once
 * per content block, not per delta.
 */
import type { ResponseInfo, StreamDecoder, StreamEvent, StreamFinal, ToolCall, Usage } from '../../src/types.js';
import { parseToolArguments } from '../shared/parse-tool-arguments.js';
import { invalidStreamIndex, invalidStreamJson } from '../shared/response-errors.js';
import { anthropicStreamError } from './errors.js';
import { mapStopReason, thinkingTokens, toolInput } from './parse.js';
import type { AnthropicContentBlock, AnthropicStreamEvent, AnthropicUsageWire } from './wire.js';

/** Content-block indices beyond this are refused: a hostile index must not make us walk a huge sparse array. */
const MAX_BLOCK_INDEX = 4096;

/** An open content block. Text blocks need no state and share one slot. */
type BlockSlot =
  | { kind: 'text' }
  | { kind: 'tool_use'; id: string; name: string; json: string; input: unknown; done: boolean }
  | { kind: 'thinking'; thinking: string; signature: string }
  | { kind: 'redacted_thinking'; data: string }
  | { kind: 'other' };

const TEXT_SLOT: BlockSlot = Object.freeze({ kind: 'text' });
const OTHER_SLOT: BlockSlot = Object.freeze({ kind: 'other' });

/**
 * Decodes one Anthropic Messages SSE stream into `StreamEvent`s.
 *
 * @example
 * const decoder = new AnthropicStreamDecoder(res);
 * const parser = new SseParser((data, name) => decoder.event(data, name, elapsed(), events));
 */
export class AnthropicStreamDecoder implements StreamDecoder {
  finished = false;
  private reasoning: string | null = null;
  private id: string | null = null;
  private model: string | null = null;
  /** Last non-null wire `stop_reason`. */
  private stopReason: string | null = null;
  /** Running wire usage: `message_start` values, overwritten field by field by `message_delta`. */
  private inputTokens: number | null = null;
  private outputTokens: number | null = null;
  private cacheWrite: number | null = null;
  private cacheRead: number | null = null;
  private thinkingTokens: number | null = null;
  private hasUsage = false;
  private usage: Usage | null = null;
  private raw: unknown = null;
  /** Open and closed content blocks, by wire `index`. */
  private blocks: BlockSlot[] = [];
  private toolCalls: ToolCall[] = [];
  /** True once a thinking or redacted_thinking block was seen (then `providerData` carries them). */
  private hasThinking = false;

  constructor(private readonly res: ResponseInfo) {}

  event(data: string, eventName: string | undefined, t: number, out: StreamEvent[]): void {
    if (this.finished) return;
    // Pings cost nothing: not even a JSON.parse when the event is named (it always is on the real API).
    if (eventName === 'ping') return;

    let ev: AnthropicStreamEvent;
    try {
      ev = JSON.parse(data);
    } catch {
      throw invalidStreamJson(this.res);
    }
    if (ev === null || typeof ev !== 'object') throw invalidStreamJson(this.res);

    switch (eventName ?? ev.type) {
      case 'content_block_delta':
        this.delta(ev, t, out);
        return;
      case 'content_block_start':
        this.start(ev, t, out);
        return;
      case 'content_block_stop':
        this.stop(ev, t, out);
        return;
      case 'message_start': {
        this.raw = ev;
        const message = ev.message;
        if (message !== undefined && message !== null && typeof message === 'object') {
          if (this.id === null && typeof message.id === 'string' && message.id !== '') this.id = message.id;
          if (this.model === null && typeof message.model === 'string' && message.model !== '') this.model = message.model;
          const usage = message.usage;
          if (usage !== undefined && usage !== null && typeof usage === 'object') this.mergeUsage(usage);
        }
        return;
      }
      case 'message_delta': {
        this.raw = ev;
        const reason = ev.delta?.stop_reason;
        if (typeof reason === 'string') this.stopReason = reason;
        const usage = ev.usage;
        if (usage !== undefined && usage !== null && typeof usage === 'object') {
          this.mergeUsage(usage);
          const u = this.buildUsage();
          this.usage = u;
          out.push({ type: 'usage', usage: u, t });
        }
        return;
      }
      case 'message_stop':
        this.finished = true;
        return;
      case 'error':
        throw anthropicStreamError(this.res, ev);
      case 'ping':
        // An unnamed ping (`data: {"type": "ping"}` alone).
        return;
      default:
        return;
    }
  }

  /** No `text`: the Fiber's result text is the text it delivered from the `chunk` events (see `StreamFinal`). */
  final(): StreamFinal {
    const final: StreamFinal = {
      reasoning: this.reasoning,
      toolCalls: this.toolCalls,
      finishReason: mapStopReason(this.stopReason),
      usage: this.usage ?? (this.hasUsage ? this.buildUsage() : null),
      model: this.model,
      id: this.id,
      raw: this.raw,
    };
    if (this.hasThinking) final.providerData = { anthropic: { blocks: this.thinkingBlocks() } };
    return final;
  }

  private delta(ev: AnthropicStreamEvent, t: number, out: StreamEvent[]): void {
    const d = ev.delta;
    if (d === undefined || d === null || typeof d !== 'object') return;
    switch (d.type) {
      case 'text_delta': {
        const text = d.text;
        if (typeof text === 'string' && text !== '') out.push({ type: 'chunk', delta: text, t });
        return;
      }
      case 'input_json_delta': {
        const slot = this.blocks[this.index(ev)];
        if (slot !== undefined && slot.kind === 'tool_use' && typeof d.partial_json === 'string') slot.json += d.partial_json;
        return;
      }
      case 'thinking_delta': {
        const thinking = d.thinking;
        if (typeof thinking !== 'string' || thinking === '') return;
        const slot = this.blocks[this.index(ev)];
        if (slot !== undefined && slot.kind === 'thinking') slot.thinking += thinking;
        this.reasoning = this.reasoning === null ? thinking : this.reasoning + thinking;
        out.push({ type: 'reasoning', delta: thinking, t });
        return;
      }
      case 'signature_delta': {
        const slot = this.blocks[this.index(ev)];
        if (slot !== undefined && slot.kind === 'thinking' && typeof d.signature === 'string') slot.signature = d.signature;
        return;
      }
      // citations_delta and future delta types carry no text of ours.
    }
  }

  private start(ev: AnthropicStreamEvent, t: number, out: StreamEvent[]): void {
    const index = this.index(ev);
    const block = ev.content_block;
    if (block === undefined || block === null || typeof block !== 'object') {
      this.blocks[index] = OTHER_SLOT;
      return;
    }
    switch (block.type) {
      case 'text': {
        this.blocks[index] = TEXT_SLOT;
        // The API opens text blocks empty; should one ever start with text, it is still text.
        const text = block.text;
        if (typeof text === 'string' && text !== '') out.push({ type: 'chunk', delta: text, t });
        return;
      }
      case 'tool_use':
        this.blocks[index] = {
          kind: 'tool_use',
          id: typeof block.id === 'string' ? block.id : '',
          name: typeof block.name === 'string' ? block.name : '',
          json: '',
          input: block.input,
          done: false,
        };
        return;
      case 'thinking': {
        this.hasThinking = true;
        const thinking = typeof block.thinking === 'string' ? block.thinking : '';
        this.blocks[index] = { kind: 'thinking', thinking, signature: typeof block.signature === 'string' ? block.signature : '' };
        if (thinking !== '') {
          this.reasoning = this.reasoning === null ? thinking : this.reasoning + thinking;
          out.push({ type: 'reasoning', delta: thinking, t });
        }
        return;
      }
      case 'redacted_thinking':
        this.hasThinking = true;
        this.blocks[index] = { kind: 'redacted_thinking', data: typeof block.data === 'string' ? block.data : '' };
        return;
      default:
        // server_tool_use, web_search_tool_result, … run on Anthropic's side; they are in no event of ours.
        this.blocks[index] = OTHER_SLOT;
    }
  }

  private stop(ev: AnthropicStreamEvent, t: number, out: StreamEvent[]): void {
    const slot = this.blocks[this.index(ev)];
    if (slot === undefined || slot.kind !== 'tool_use' || slot.done) return;
    slot.done = true;
    const call: ToolCall = {
      id: slot.id !== '' ? slot.id : `call_${this.toolCalls.length}`,
      name: slot.name,
      arguments: this.arguments(slot.json, slot.input, slot.name),
    };
    this.toolCalls.push(call);
    out.push({ type: 'tool_call', toolCall: call, t });
  }

  /**
   * A tool_use block's arguments: its concatenated `input_json_delta` fragments, parsed. A block without fragments
   * (or only `""` ones: a call without arguments) keeps the `input` it started with, normally `{}`.
   */
  private arguments(json: string, startInput: unknown, name: string): Record<string, unknown> {
    return json === '' ? toolInput(startInput) : parseToolArguments(json, name, this.res);
  }

  private mergeUsage(u: AnthropicUsageWire): void {
    // Field by field: a message_delta may omit or null the fields it does not update (older wire form: only
    // output_tokens, fixture anthropic/parallel-tool-use-stream).
    const input = u.input_tokens;
    if (typeof input === 'number') this.inputTokens = input;
    const output = u.output_tokens;
    if (typeof output === 'number') this.outputTokens = output;
    const write = u.cache_creation_input_tokens;
    if (typeof write === 'number') this.cacheWrite = write;
    const read = u.cache_read_input_tokens;
    if (typeof read === 'number') this.cacheRead = read;
    if (u.output_tokens_details != null) {
      const thinking = thinkingTokens(u);
      if (thinking !== undefined) this.thinkingTokens = thinking;
    }
    this.hasUsage = true;
  }

  /** The running usage as `Usage`, by the same rule as `mapUsage` (prompt includes cache writes and reads). */
  private buildUsage(): Usage {
    const cacheWrite = this.cacheWrite;
    const cacheRead = this.cacheRead;
    const prompt = (this.inputTokens ?? 0) + (cacheWrite ?? 0) + (cacheRead ?? 0);
    const completion = this.outputTokens ?? 0;
    const usage: Usage = { prompt, completion, total: prompt + completion, costEstimate: null };
    if (cacheRead !== null) usage.cachedPrompt = cacheRead;
    if (cacheWrite !== null) usage.cacheWrite = cacheWrite;
    if (this.thinkingTokens !== null) usage.reasoning = this.thinkingTokens;
    return usage;
  }

  private thinkingBlocks(): AnthropicContentBlock[] {
    const blocks: AnthropicContentBlock[] = [];
    for (let i = 0; i < this.blocks.length; i++) {
      const slot = this.blocks[i];
      if (slot === undefined) continue;
      if (slot.kind === 'thinking') blocks.push({ type: 'thinking', thinking: slot.thinking, signature: slot.signature });
      else if (slot.kind === 'redacted_thinking') blocks.push({ type: 'redacted_thinking', data: slot.data });
    }
    return blocks;
  }

  /** The event's content-block index, validated (a missing index is block 0). */
  private index(ev: AnthropicStreamEvent): number {
    const index = ev.index;
    if (index === undefined) return 0;
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index > MAX_BLOCK_INDEX) {
      throw invalidStreamIndex(this.res, 'stream content block has an invalid index', 'invalid_content_block_index');
    }
    return index;
  }
}

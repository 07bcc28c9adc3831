/**
 * The Chat Completions stream decoder: one synchronous state machine per streaming response.
 *
 * Per SSE event (`data: <chunk>`): parse the chunk, take `id`/`model` from the first chunk where they are
 * non-empty (Azure's first chunk has `""` for both), emit a `chunk` event per non-empty `delta.content`, merge
 * `delta.tool_calls` fragments by their `index` (id and name only come on an index's first fragment), and on the
 * first `finish_reason` emit one `tool_call` event per call, in index order. A chunk with `usage` (the last one,
 * `choices: []`, with `stream_options.include_usage`) emits `usage`. `data: [DONE]` sets `finished`; anything
 * after it is ignored. The transport turns a body that ends while `finished` is false into a `StreamError`.
 *
 * This runs once per token (tens of thousands of times in the benchmark), so the per-event path allocates nothing
 * beyond `JSON.parse` and the event it pushes: no closures, spreads or key enumeration. Only choice 0 is read
 * (`n > 1` streams interleave other choices, which are skipped by their `index`).
 */
import type { ResponseInfo, StreamDecoder, StreamEvent, StreamFinal, ToolCall, Usage } from '../../src/types.js';
import { parseToolArguments } from '../shared/parse-tool-arguments.js';
import { invalidStreamIndex, invalidStreamJson } from '../shared/response-errors.js';
import { openaiStreamError } from './errors.js';
import { mapFinishReason, mapUsage, reasoningText } from './parse.js';
import type { OpenAIChatChunk, OpenAIToolCallDelta } from './wire.js';

/** Tool-call slots beyond this index are refused: a hostile index must not make us walk a huge sparse array. */
const MAX_TOOL_INDEX = 4096;

interface ToolSlot {
  id: string;
  name: string;
  args: string;
}

/**
 * Decodes one OpenAI Chat Completions SSE stream into `StreamEvent`s.
 *
 * @example
 * const decoder = new OpenAIStreamDecoder(res);
 * const parser = new SseParser((data, name) => decoder.event(data, name, elapsed(), events));
 */
export class OpenAIStreamDecoder implements StreamDecoder {
  /** `data: [DONE]` arrived. */
  private done = false;
  private reasoning: string | null = null;
  private id: string | null = null;
  private model: string | null = null;
  /** Last non-null wire `finish_reason`. */
  private finishReason: string | null = null;
  private usage: Usage | null = null;
  private raw: unknown = null;
  /** Tool calls being assembled, by wire `index` (possibly sparse). */
  private slots: ToolSlot[] | null = null;
  /** Set once the tool calls were emitted (at the first `finish_reason`, or at `[DONE]` without one). */
  private toolCalls: ToolCall[] | null = null;

  /**
   * @param doneOptional - for OpenAI-compatible servers that never send `data: [DONE]`: a `finish_reason` then
   *   counts as the end marker (a stream cut before one is still a `StreamError`).
   */
  constructor(private readonly res: ResponseInfo, private readonly doneOptional = false) {}

  /** True once the stream reached its end marker. */
  get finished(): boolean {
    return this.done || (this.doneOptional && this.finishReason !== null);
  }

  event(data: string, _eventName: string | undefined, t: number, out: StreamEvent[]): void {
    if (this.done) return;
    if (data === '[DONE]') {
      if (this.toolCalls === null) this.emitToolCalls(t, out);
      this.done = true;
      return;
    }
    // An empty `data:` line carries nothing (some proxies send them as keep-alives).
    if (data === '') return;

    let chunk: OpenAIChatChunk;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw invalidStreamJson(this.res);
    }
    if (chunk === null || typeof chunk !== 'object') throw invalidStreamJson(this.res);
    if (chunk.error !== undefined && chunk.error !== null) throw openaiStreamError(this.res, chunk);
    this.raw = chunk;

    if (this.id === null) {
      const id = chunk.id;
      if (typeof id === 'string' && id !== '') this.id = id;
    }
    if (this.model === null) {
      const model = chunk.model;
      if (typeof model === 'string' && model !== '') this.model = model;
    }

    const choices = chunk.choices;
    if (choices !== undefined && choices !== null && choices.length > 0) {
      const choice = choices[0]!;
      if (choice.index === 0 || choice.index === undefined) {
        const delta = choice.delta;
        if (delta !== undefined && delta !== null) {
          // Reasoning first: a server that sends both in one delta thought before it answered.
          if (delta.reasoning_content != null || delta.reasoning != null) {
            const thinking = reasoningText(delta.reasoning_content, delta.reasoning);
            if (thinking !== null) {
              this.reasoning = this.reasoning === null ? thinking : this.reasoning + thinking;
              out.push({ type: 'reasoning', delta: thinking, t });
            }
          }
          const content = delta.content;
          if (typeof content === 'string' && content !== '') {
            out.push({ type: 'chunk', delta: content, t });
          }
          const fragments = delta.tool_calls;
          if (fragments !== undefined && fragments !== null && fragments.length > 0 && this.toolCalls === null) this.merge(fragments);
        }
        const reason = choice.finish_reason;
        if (reason !== undefined && reason !== null) {
          this.finishReason = reason;
          if (this.toolCalls === null) this.emitToolCalls(t, out);
        }
      }
    }

    const usage = chunk.usage;
    if (usage !== undefined && usage !== null && typeof usage === 'object') {
      const u = mapUsage(usage);
      this.usage = u;
      out.push({ type: 'usage', usage: u, t });
    }
  }

  /** No `text`: the Fiber's result text is the text it delivered from the `chunk` events (see `StreamFinal`). */
  final(): StreamFinal {
    return {
      reasoning: this.reasoning,
      toolCalls: this.toolCalls ?? this.buildToolCalls(),
      finishReason: mapFinishReason(this.finishReason),
      usage: this.usage,
      model: this.model,
      id: this.id,
      raw: this.raw,
    };
  }

  private merge(fragments: OpenAIToolCallDelta[]): void {
    let slots = this.slots;
    if (slots === null) slots = this.slots = [];
    for (let j = 0; j < fragments.length; j++) {
      const f = fragments[j]!;
      // Merge by `index`, never by position or id (fixtures README). A server that omits it sends whole calls.
      const index = typeof f.index === 'number' ? f.index : j;
      if (!Number.isInteger(index) || index < 0 || index > MAX_TOOL_INDEX) {
        throw invalidStreamIndex(this.res, 'stream tool call has an invalid index', 'invalid_tool_call_index');
      }
      let slot = slots[index];
      if (slot === undefined) {
        slot = { id: '', name: '', args: '' };
        slots[index] = slot;
      }
      if (slot.id === '' && typeof f.id === 'string') slot.id = f.id;
      const fn = f.function;
      if (fn !== undefined && fn !== null) {
        if (slot.name === '' && typeof fn.name === 'string') slot.name = fn.name;
        if (typeof fn.arguments === 'string') slot.args += fn.arguments;
      }
    }
  }

  private emitToolCalls(t: number, out: StreamEvent[]): void {
    const calls = this.buildToolCalls();
    this.toolCalls = calls;
    for (let i = 0; i < calls.length; i++) out.push({ type: 'tool_call', toolCall: calls[i]!, t });
  }

  private buildToolCalls(): ToolCall[] {
    const slots = this.slots;
    const calls: ToolCall[] = [];
    if (slots === null) return calls;
    for (let i = 0; i < slots.length; i++) {
      const s = slots[i];
      if (s === undefined) continue;
      calls.push({ id: s.id !== '' ? s.id : `call_${i}`, name: s.name, arguments: parseToolArguments(s.args, s.name, this.res) });
    }
    return calls;
  }
}

/**
 * The Gemini `streamGenerateContent?alt=sse` decoder: one synchronous state machine per streaming response.
 *
 * Every SSE event (`data: <json>\r\n\r\n`) is a whole `GenerateContentResponse` chunk. Per chunk: take
 * `responseId`/`modelVersion` from the first chunk where they are non-empty; for the first candidate's parts emit
 * a `chunk` per non-empty answer text, a `reasoning` per non-empty thought text (`thought: true`), and a
 * `tool_call` per `functionCall` part (Gemini sends whole calls, never fragments; ids are `functionCall.id` or
 * `call_<n>` counted over the whole stream). `usageMetadata` is cumulative: keep the last one (fixture
 * `gemini/max-tokens-stream` has `promptTokenCount` 7 early and 6 at the end) and emit one `usage` event at the end.
 *
 * Gemini has no terminator event: the end marker is a candidate carrying `finishReason`, or a chunk with
 * `promptFeedback.blockReason` (a blocked prompt, `finishReason: 'content_filter'`). `finished` turns true there
 * and later events are ignored; the transport turns a body that ends before it into a `StreamError`. An in-band
 * `{"error": {...}}` chunk (a `google.rpc.Status`) throws the typed error with the status it names.
 *
 * This runs once per chunk on the hot path, so it allocates nothing beyond `JSON.parse` and the events it pushes
 * (plus one array slot per part, kept in case the model signs a part: see `providerData`).
 */
import type { ResponseInfo, StreamDecoder, StreamEvent, StreamFinal, ToolCall, Usage } from '../../src/types.js';
import { invalidStreamJson } from '../shared/response-errors.js';
import { geminiStreamError } from './errors.js';
import { mapFinishReason, mapUsage, toToolCall } from './parse.js';
import type { GeminiGenerateContentResponse, GeminiPart, GeminiUsageMetadata } from './wire.js';

/**
 * Decodes one Gemini SSE stream into `StreamEvent`s.
 *
 * @example
 * const decoder = new GeminiStreamDecoder(res);
 * const parser = new SseParser((data, name) => decoder.event(data, name, elapsed(), events));
 */
export class GeminiStreamDecoder implements StreamDecoder {
  finished = false;
  private reasoning: string | null = null;
  private readonly toolCalls: ToolCall[] = [];
  private id: string | null = null;
  private model: string | null = null;
  /** Last non-null wire `finishReason` of the first candidate. */
  private finishReason: string | null = null;
  private isBlocked = false;
  /** The last (cumulative) `usageMetadata` seen; mapped once, at the end. */
  private usageWire: GeminiUsageMetadata | null = null;
  private usage: Usage | null = null;
  private raw: unknown = null;
  /**
   * The parts of the first candidate, in order and already compacted, for `providerData` when one of them carries
   * a signature: a run of plain text parts keeps only its strings (joined at the end), never the parsed chunks, so
   * a long stream retains no per-chunk objects.
   */
  private readonly parts: Array<GeminiPart | TextRun> = [];
  private run: TextRun | null = null;
  private isSigned = false;

  constructor(private readonly res: ResponseInfo) {}

  event(data: string, _eventName: string | undefined, t: number, out: StreamEvent[]): void {
    if (this.finished) return;
    // An empty `data:` line carries nothing (keep-alives of some proxies).
    if (data === '') return;

    let chunk: GeminiGenerateContentResponse;
    try {
      chunk = JSON.parse(data);
    } catch {
      throw invalidStreamJson(this.res);
    }
    if (chunk === null || typeof chunk !== 'object' || Array.isArray(chunk)) throw invalidStreamJson(this.res);
    if (chunk.error !== undefined && chunk.error !== null) throw geminiStreamError(this.res, chunk);
    this.raw = chunk;

    if (this.id === null) {
      const id = chunk.responseId;
      if (typeof id === 'string' && id !== '') this.id = id;
    }
    if (this.model === null) {
      const model = chunk.modelVersion;
      if (typeof model === 'string' && model !== '') this.model = model;
    }
    const usage = chunk.usageMetadata;
    if (usage !== undefined && usage !== null && typeof usage === 'object') this.usageWire = usage;

    const candidates = chunk.candidates;
    let isEnd = false;
    if (candidates !== undefined && candidates !== null && candidates.length > 0) {
      const candidate = candidates[0]!;
      // With candidateCount > 1 only candidate 0 is read; a chunk that leads with another candidate is skipped.
      if (candidate !== null && typeof candidate === 'object' && (candidate.index === 0 || candidate.index === undefined)) {
        const parts = candidate.content?.parts;
        if (parts !== undefined && parts !== null && parts.length > 0) this.onParts(parts, t, out);
        const reason = candidate.finishReason;
        if (reason !== undefined && reason !== null) {
          this.finishReason = reason;
          isEnd = true;
        }
      }
    }
    const feedback = chunk.promptFeedback;
    if (feedback !== undefined && feedback !== null && typeof feedback.blockReason === 'string' && feedback.blockReason !== '') {
      this.isBlocked = true;
      isEnd = true;
    }

    if (isEnd) {
      this.finished = true;
      if (this.usageWire !== null) {
        const u = mapUsage(this.usageWire);
        this.usage = u;
        out.push({ type: 'usage', usage: u, t });
      }
    }
  }

  /** No `text`: the Fiber's result text is the text it delivered from the `chunk` events (see `StreamFinal`). */
  final(): StreamFinal {
    const final: StreamFinal = {
      reasoning: this.reasoning,
      toolCalls: this.toolCalls,
      // A blocked prompt that still names a finish reason keeps it; without one it is content_filter.
      finishReason: mapFinishReason(this.finishReason, this.toolCalls.length > 0, this.isBlocked),
      usage: this.usage ?? (this.usageWire !== null ? mapUsage(this.usageWire) : null),
      model: this.model,
      id: this.id,
      raw: this.raw,
    };
    if (this.isSigned) final.providerData = { gemini: { parts: compactParts(this.parts) } };
    return final;
  }

  private onParts(parts: GeminiPart[], t: number, out: StreamEvent[]): void {
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p === null || typeof p !== 'object') continue;
      if (isPlainText(p)) {
        const thought = p.thought === true;
        const run = this.run;
        if (run !== null && run.thought === thought) run.texts.push(p.text!);
        else this.parts.push((this.run = { thought, texts: [p.text!] }));
      } else {
        this.run = null;
        this.parts.push(p);
      }
      if (p.thoughtSignature !== undefined) this.isSigned = true;
      const text = p.text;
      if (typeof text === 'string' && text !== '') {
        if (p.thought === true) {
          this.reasoning = this.reasoning === null ? text : this.reasoning + text;
          out.push({ type: 'reasoning', delta: text, t });
        } else {
          out.push({ type: 'chunk', delta: text, t });
        }
      }
      const call = p.functionCall;
      if (call !== undefined && call !== null && typeof call === 'object') {
        const toolCall = toToolCall(call, this.toolCalls.length, this.res);
        this.toolCalls.push(toolCall);
        out.push({ type: 'tool_call', toolCall, t });
      }
    }
  }
}

/**
 * The streamed parts as one turn to send back: runs of plain text parts (only `text`, maybe `thought`) with the
 * same `thought` flag are joined, so a long answer is a few parts instead of one per chunk. A part with a
 * signature (or anything else) is kept as it came: Gemini checks a signature against its own part, and parts
 * with and without a signature must not be merged.
 */
function compactParts(parts: ReadonlyArray<GeminiPart | TextRun>): GeminiPart[] {
  const out: GeminiPart[] = new Array(parts.length);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    if (isRun(p)) out[i] = p.thought ? { text: p.texts.join(''), thought: true } : { text: p.texts.join('') };
    else out[i] = p;
  }
  return out;
}

/** A run of plain text parts with the same `thought` flag, kept as its strings. */
interface TextRun {
  thought: boolean;
  texts: string[];
}

function isRun(p: GeminiPart | TextRun): p is TextRun {
  return Array.isArray((p as TextRun).texts);
}

function isPlainText(p: GeminiPart): boolean {
  // Checked per streamed part, so by the fields that make a part more than text (no key enumeration): a signed
  // part, a call or response, or data. Such parts are kept whole; plain ones are joined into runs.
  const q = p as Record<string, unknown>;
  return typeof p.text === 'string' && p.thoughtSignature === undefined && p.functionCall === undefined
    && q.functionResponse === undefined && q.inlineData === undefined && q.fileData === undefined
    && q.executableCode === undefined && q.codeExecutionResult === undefined;
}

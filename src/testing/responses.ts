/**
 * OpenAI Responses API wire format (`POST /v1/responses`), framed like the API streams it: named typed events
 * (`event: <type>\ndata: {"type":"<type>","sequence_number":n,…}\n\n`): response.created, response.in_progress,
 * then per output item (reasoning, message, function_call) output_item.added, its part and delta events,
 * output_item.done, and response.completed or response.incomplete as the end marker. No `data: [DONE]`.
 *
 * The reply is the shared one (`reply.ts`): `rule.reasoning` becomes a reasoning item with one summary part
 * (with `encrypted_content` when the request asked for `include: ['reasoning.encrypted_content']`), text a
 * message item, tool calls function_call items whose arguments stream in the same fragments as Chat Completions.
 * A scripted `finishReason` of `length` / `max_output_tokens` (or another provider's spelling of it) ends the
 * response `incomplete` with reason `max_output_tokens`, `content_filter` with reason `content_filter`.
 * In-stream errors: a 5xx becomes a `response.failed` event (`response.error: { code, message }`, code
 * `server_error` by default), anything else an `error` event (`{ type: 'error', error: { type, code, message,
 * param } }`, as the API sends for quota errors); the error event carries no `sequence_number`.
 */
import { openaiFormat } from './openai.js';
import { CREATED, type Reply } from './reply.js';
import { defaultErrorMessage, type ErrorSpec, type WireEvent, type WireFormat } from './wire.js';

const EOL2 = '\n\n';
const ENCRYPTED_REASONING = 'reasoning.encrypted_content';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A Chat-Completions-shaped view of a Responses request (`{ messages }`), so the shared reply builder finds the
 * last user text and counts prompt words exactly as it does for the same conversation on `/chat/completions`:
 * `instructions` is a system turn, input messages keep their role and content, `function_call_output` is a tool
 * turn, and function calls and reasoning items add no words (as tool calls do not on the chat wire).
 */
export function responsesChatView(body: Record<string, unknown>): Record<string, unknown> {
  const messages: unknown[] = [];
  if (typeof body.instructions === 'string') messages.push({ role: 'system', content: body.instructions });
  const input = body.input;
  if (typeof input === 'string') messages.push({ role: 'user', content: input });
  else if (Array.isArray(input)) {
    for (const item of input) {
      if (!isRecord(item)) continue;
      if (item.type === 'function_call_output') messages.push({ role: 'tool', content: item.output });
      else if ((item.type === undefined || item.type === 'message') && typeof item.role === 'string') {
        messages.push({ role: item.role === 'developer' ? 'system' : item.role, content: item.content });
      }
    }
  }
  return { messages };
}

/** Status and `incomplete_details.reason` for a scripted finish reason (any provider's spelling). */
function ending(reply: Reply): { status: 'completed' | 'incomplete'; reason: string | null } {
  switch (reply.finishReason) {
    case undefined:
    case 'stop':
    case 'tool_calls':
    case 'completed':
    case 'end_turn':
    case 'tool_use':
    case 'STOP':
      return { status: 'completed', reason: null };
    case 'length':
    case 'max_output_tokens':
    case 'max_tokens':
    case 'MAX_TOKENS':
      return { status: 'incomplete', reason: 'max_output_tokens' };
    case 'content_filter':
    case 'refusal':
    case 'SAFETY':
      return { status: 'incomplete', reason: 'content_filter' };
    default:
      return { status: 'incomplete', reason: reply.finishReason };
  }
}

/** The usage object; the API always sends both details objects (zero when there is nothing to report). */
function usageOf(reply: Reply): Record<string, unknown> {
  const { prompt, completion, cachedPrompt, reasoning } = reply.usage;
  return {
    input_tokens: prompt,
    input_tokens_details: { cached_tokens: cachedPrompt ?? 0 },
    output_tokens: completion,
    output_tokens_details: { reasoning_tokens: reasoning ?? 0 },
    total_tokens: prompt + completion,
  };
}

/** The n of `req_emu_<n>`. */
function nOf(spec: ErrorSpec): string {
  return spec.requestId.startsWith('req_emu_') ? spec.requestId.slice('req_emu_'.length) : spec.requestId;
}

/**
 * The Responses format for one request: the echoes of the request (`store`, `instructions`, `include`, tools)
 * need its body.
 */
export function responsesFormat(body: Record<string, unknown> | undefined): WireFormat {
  const req = body ?? {};
  const store = req.store !== false;
  const encrypted = Array.isArray(req.include) && req.include.includes(ENCRYPTED_REASONING);
  const reasoningParam = isRecord(req.reasoning) ? req.reasoning : {};

  /** The response object around an output, as the create call and the lifecycle events carry it. */
  const responseObject = (id: string, model: unknown, status: string, output: unknown[], usage: unknown, extra?: Record<string, unknown>) => ({
    id,
    object: 'response',
    created_at: CREATED,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: typeof req.instructions === 'string' ? req.instructions : null,
    max_output_tokens: typeof req.max_output_tokens === 'number' ? req.max_output_tokens : null,
    model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: reasoningParam.effort ?? null, summary: reasoningParam.summary ?? null },
    service_tier: 'default',
    store,
    temperature: typeof req.temperature === 'number' ? req.temperature : 1,
    text: { format: { type: 'text' } },
    tool_choice: req.tool_choice ?? 'auto',
    tools: Array.isArray(req.tools) ? req.tools : [],
    top_p: 1,
    truncation: 'disabled',
    usage,
    user: null,
    metadata: {},
    ...extra,
  });

  /** Ids and finished output items of a reply. */
  const items = (reply: Reply) => {
    const n = reply.n;
    const reasoning = reply.reasoning.length > 0
      ? {
        id: `rs_emu${n}`,
        type: 'reasoning',
        summary: [{ type: 'summary_text', text: reply.reasoning.join('') }],
        ...(encrypted ? { encrypted_content: Buffer.from(`emu-reasoning-${n}:${reply.reasoning.join('')}`).toString('base64') } : {}),
      }
      : null;
    // A message item when there is text, or nothing else at all (an empty answer is one empty message).
    const message = reply.deltas.length > 0 || (reply.toolCalls.length === 0 && reasoning === null)
      ? {
        id: `msg_emu${n}`,
        type: 'message',
        status: 'completed',
        role: 'assistant',
        content: [{ type: 'output_text', annotations: [], logprobs: [], text: reply.text }],
      }
      : null;
    const calls = reply.toolCalls.map((call, i) => ({
      id: `fc_emu${n}_${i}`,
      type: 'function_call',
      status: 'completed',
      arguments: call.fragments.join(''),
      call_id: call.id ?? `call_emu${n}_${i}`,
      name: call.name,
    }));
    const output: unknown[] = [];
    if (reasoning !== null) output.push(reasoning);
    if (message !== null) output.push(message);
    output.push(...calls);
    return { reasoning, message, calls, output };
  };

  const final = (reply: Reply) => {
    const { output } = items(reply);
    const end = ending(reply);
    return responseObject(`resp_emu${reply.n}`, reply.model, end.status, output, usageOf(reply), {
      incomplete_details: end.reason === null ? null : { reason: end.reason },
    });
  };

  return {
    provider: 'openai',
    requestIdHeader: 'x-request-id',
    jsonHeaders: { 'content-type': 'application/json' },
    sseHeaders: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' },
    defaultStreamErrorStatus: 500,

    json(reply) {
      return JSON.stringify(final(reply), null, 2);
    },

    events(reply, { omitEndMarker }) {
      let seq = 0;
      const out: WireEvent[] = [];
      const named = (type: string, payload: Record<string, unknown>, content = false): void => {
        const event: WireEvent = { head: `event: ${type}\ndata: `, data: JSON.stringify({ type, sequence_number: seq++, ...payload }), tail: EOL2 };
        if (content) event.content = true;
        out.push(event);
      };
      const id = `resp_emu${reply.n}`;
      const { reasoning, message, calls } = items(reply);
      named('response.created', { response: responseObject(id, reply.model, 'in_progress', [], null) });
      named('response.in_progress', { response: responseObject(id, reply.model, 'in_progress', [], null) });
      let index = 0;
      if (reasoning !== null) {
        const output_index = index++;
        const item_id = reasoning.id;
        const text = reasoning.summary[0]!.text;
        const { summary: _summary, ...head } = reasoning;
        named('response.output_item.added', { output_index, item: { ...head, summary: [] } });
        named('response.reasoning_summary_part.added', { item_id, output_index, summary_index: 0, part: { type: 'summary_text', text: '' } });
        for (const delta of reply.reasoning) {
          named('response.reasoning_summary_text.delta', { item_id, output_index, summary_index: 0, delta }, true);
        }
        named('response.reasoning_summary_text.done', { item_id, output_index, summary_index: 0, text });
        named('response.reasoning_summary_part.done', { item_id, output_index, summary_index: 0, part: { type: 'summary_text', text } });
        named('response.output_item.done', { output_index, item: reasoning });
      }
      if (message !== null) {
        const output_index = index++;
        const item_id = message.id;
        named('response.output_item.added', { output_index, item: { id: item_id, type: 'message', status: 'in_progress', content: [], role: 'assistant' } });
        named('response.content_part.added', { item_id, output_index, content_index: 0, part: { type: 'output_text', annotations: [], logprobs: [], text: '' } });
        for (const delta of reply.deltas) {
          named('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: [] }, true);
        }
        named('response.output_text.done', { item_id, output_index, content_index: 0, text: reply.text, logprobs: [] });
        named('response.content_part.done', { item_id, output_index, content_index: 0, part: message.content[0] });
        named('response.output_item.done', { output_index, item: message });
      }
      calls.forEach((call, i) => {
        const output_index = index++;
        named('response.output_item.added', { output_index, item: { ...call, status: 'in_progress', arguments: '' } });
        for (const delta of reply.toolCalls[i]!.fragments) {
          named('response.function_call_arguments.delta', { item_id: call.id, output_index, delta }, true);
        }
        named('response.function_call_arguments.done', { item_id: call.id, output_index, arguments: call.arguments });
        named('response.output_item.done', { output_index, item: call });
      });
      if (!omitEndMarker) {
        const response = final(reply);
        named(response.status === 'completed' ? 'response.completed' : 'response.incomplete', { response });
      }
      return out;
    },

    keepAlive() {
      return { head: ': ping', data: '', tail: EOL2, keepAlive: true };
    },

    // Error bodies are the Chat Completions ones.
    errorBody(spec) {
      return openaiFormat.errorBody(spec);
    },

    streamError(spec) {
      if (spec.status >= 500) {
        const error = { code: spec.code ?? 'server_error', message: spec.message ?? defaultErrorMessage(spec.status) };
        const response = responseObject(`resp_emu${nOf(spec)}`, req.model ?? 'emulator', 'failed', [], null, { error });
        return { head: 'event: response.failed\ndata: ', data: JSON.stringify({ type: 'response.failed', response }), tail: EOL2 };
      }
      const { error } = JSON.parse(openaiFormat.errorBody(spec)) as { error: unknown };
      return { head: 'event: error\ndata: ', data: JSON.stringify({ type: 'error', error }), tail: EOL2 };
    },
  };
}

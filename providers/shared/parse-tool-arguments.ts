/**
 * Tool-call argument strings (Chat Completions `function.arguments`, Responses `function_call.arguments`, Anthropic
 * `input_json_delta` fragments joined) → the arguments object of a `ToolCall`.
 */
import type { ResponseInfo } from '../../src/types.js';
import { invalidToolArguments } from './response-errors.js';

/** Drops `__proto__` keys so model output cannot reach a prototype when callers `Object.assign` the arguments. */
function reviveArgument(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value;
}

/**
 * Parse a tool call's JSON argument string. `""` (or absent) is `{}`. Anything that is not a JSON object throws
 * `ServerError` with code `invalid_tool_arguments`; the message names the tool but never quotes the arguments.
 *
 * @param args - the complete argument string
 * @param name - the tool's name, for the error message
 * @param res - the response, for the error message
 * @example
 * const call = { id, name, arguments: parseToolArguments(fn.arguments, name, res) };
 */
export function parseToolArguments(args: string | undefined | null, name: string, res: ResponseInfo): Record<string, unknown> {
  if (args === undefined || args === null || args === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(args, reviveArgument);
  } catch {
    // No `cause`: V8's SyntaxError message quotes the argument text, which is model output we keep out of errors.
    throw invalidToolArguments(res, name);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalidToolArguments(res, name);
  return value as Record<string, unknown>;
}

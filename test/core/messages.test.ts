import { describe, it, expect } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { ChatMessage, normalizeMessages } from '../../src/messages.js';
import type { MessageInput } from '../../src/types.js';

/** Run `fn`, assert it threw a ConfigError, and return the error for message assertions. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** normalizeMessages on deliberately malformed input. */
const norm = (input: unknown) => normalizeMessages(input as MessageInput);

const call = { id: 'c1', name: 'weather', arguments: { city: 'Paris' } };

describe('ChatMessage factories', () => {
  it('builds a system message', () => {
    expect(ChatMessage.system('be brief')).toEqual({ role: 'system', content: 'be brief' });
  });

  it('builds a user message from text', () => {
    expect(ChatMessage.user('hi')).toEqual({ role: 'user', content: 'hi' });
  });

  it('builds a user message from content parts', () => {
    const parts = [{ type: 'text' as const, text: 'what is this?' }, { type: 'image' as const, url: 'https://x/y.png' }];
    expect(ChatMessage.user(parts)).toEqual({ role: 'user', content: parts });
  });

  it('builds an assistant message with tool calls and provider data', () => {
    const m = ChatMessage.assistant('', { toolCalls: [call], providerData: { thinking: [] } });
    expect(m).toEqual({ role: 'assistant', content: '', toolCalls: [call], providerData: { thinking: [] } });
  });

  it('turns a null assistant text into an empty string', () => {
    expect(ChatMessage.assistant(null, { toolCalls: [call] }).content).toBe('');
  });

  it('builds a tool message from a string', () => {
    expect(ChatMessage.tool('c1', '21C')).toEqual({ role: 'tool', toolCallId: 'c1', content: '21C' });
  });

  it('sends a non-string tool result as JSON text', () => {
    expect(ChatMessage.tool('c1', { tempC: 21 }).content).toBe('{"tempC":21}');
  });

  it('sends an array tool result that is not content parts as JSON text', () => {
    expect(ChatMessage.tool('c1', [{ title: 'a' }]).content).toBe('[{"title":"a"}]');
  });

  it('returns plain objects', () => {
    expect(Object.getPrototypeOf(ChatMessage.user('hi'))).toBe(Object.prototype);
  });

  it('rejects an empty user text naming the factory', () => {
    expect(configError(() => ChatMessage.user('')).message).toContain('ChatMessage.user');
  });

  it('rejects a tool message without a toolCallId', () => {
    expect(configError(() => ChatMessage.tool('', 'x')).message).toContain('toolCallId');
  });

  it('rejects an assistant message with neither text nor tool calls', () => {
    expect(configError(() => ChatMessage.assistant(null)).message).toContain('ChatMessage.assistant');
  });
});

describe('normalizeMessages input shapes', () => {
  it('turns a string into one user message', () => {
    expect(normalizeMessages('hi')).toEqual([{ role: 'user', content: 'hi' }]);
  });

  it('wraps a single message object', () => {
    const m = { role: 'user', content: 'hi' };
    const out = normalizeMessages(m);
    expect(out).toHaveLength(1);
    expect(out[0]).toBe(m);
  });

  it('reads a top-level [role, content] pair as one tuple', () => {
    expect(normalizeMessages(['system', 'be brief'])).toEqual([{ role: 'system', content: 'be brief' }]);
  });

  it('reads a top-level [role, parts] pair as one tuple', () => {
    const parts = [{ type: 'text' as const, text: 'hi' }];
    expect(normalizeMessages(['user', parts])).toEqual([{ role: 'user', content: parts }]);
  });

  it('reads a two-string array whose first string is not a role as two user messages', () => {
    expect(normalizeMessages(['hello', 'again'])).toEqual([
      { role: 'user', content: 'hello' },
      { role: 'user', content: 'again' },
    ]);
  });

  it('reads an array of tuples as a conversation', () => {
    expect(normalizeMessages([['system', 'be brief'], ['user', 'hi']])).toEqual([
      { role: 'system', content: 'be brief' },
      { role: 'user', content: 'hi' },
    ]);
  });

  it('accepts a mix of strings, tuples and objects', () => {
    const out = normalizeMessages([['system', 's'], 'u1', { role: 'assistant', content: 'a' }, ChatMessage.user('u2')]);
    expect(out.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
  });
});

describe('normalizeMessages without copying', () => {
  it('returns the caller objects when they are canonical', () => {
    const input = [
      { role: 'system', content: 's' },
      { role: 'user', content: 'u' },
    ];
    const out = normalizeMessages(input);
    expect(out[0]).toBe(input[0]);
    expect(out[1]).toBe(input[1]);
  });

  it('returns a new array so edits to it never reach the caller array', () => {
    const input = [{ role: 'user', content: 'u' }];
    const out = normalizeMessages(input);
    expect(out).not.toBe(input);
    out.push({ role: 'user', content: 'x' });
    expect(input).toHaveLength(1);
  });

  it('passes frozen canonical messages through', () => {
    const m = Object.freeze({ role: 'user' as const, content: 'hi' });
    expect(normalizeMessages([m])[0]).toBe(m);
  });

  it('keeps a canonical tool message as the same object', () => {
    const m = { role: 'tool', toolCallId: 'c1', content: '42' };
    expect(normalizeMessages([m])[0]).toBe(m);
  });

  it('copies a tool message with tool_call_id into toolCallId without touching the original', () => {
    const m = { role: 'tool', tool_call_id: 'c1', content: '42' };
    const out = normalizeMessages([m])[0]!;
    expect(out).toEqual({ role: 'tool', toolCallId: 'c1', content: '42' });
    expect(out).not.toBe(m);
    expect(m).toEqual({ role: 'tool', tool_call_id: 'c1', content: '42' });
  });

  it('copies an assistant message with null content and tool calls, giving it empty content', () => {
    const m = { role: 'assistant', content: null, toolCalls: [call] };
    const out = normalizeMessages([m])[0]!;
    expect(out).toEqual({ role: 'assistant', content: '', toolCalls: [call] });
    expect(m.content).toBeNull();
  });

  it('accepts an assistant message with empty text and tool calls as-is', () => {
    const m = { role: 'assistant', content: '', toolCalls: [call] };
    expect(normalizeMessages([m])[0]).toBe(m);
  });

  it('accepts an assistant message with empty text and provider data', () => {
    const m = { role: 'assistant', content: '', providerData: { thinking: [{ signature: 's' }] } };
    expect(normalizeMessages([m])[0]).toBe(m);
  });
});

describe('normalizeMessages content parts', () => {
  it('accepts image, file and audio parts given by url or data', () => {
    const parts = [
      { type: 'image', url: 'https://x/a.png' },
      { type: 'image', data: 'iVBO', mediaType: 'image/png' },
      { type: 'file', url: 'https://x/a.pdf', mediaType: 'application/pdf' },
      { type: 'file', data: 'JVBE', mediaType: 'application/pdf' },
      { type: 'audio', data: 'UklG', mediaType: 'audio/wav' },
    ];
    expect(() => norm([{ role: 'user', content: parts }])).not.toThrow();
  });

  it('rejects an unknown part type naming the index', () => {
    const err = configError(() => norm([{ role: 'user', content: 'a' }, { role: 'user', content: [{ type: 'image_url', image_url: {} }] }]));
    expect(err.message).toContain('messages[1].content[0]');
    expect(err.message).toContain('"image_url"');
  });

  it('rejects an image part with neither url nor data', () => {
    const err = configError(() => norm([{ role: 'user', content: [{ type: 'image' }] }]));
    expect(err.message).toContain('messages[0].content[0]');
    expect(err.message).toContain('`url`');
  });

  it('rejects an image part with data but no mediaType', () => {
    const err = configError(() => norm([{ role: 'user', content: [{ type: 'image', data: 'iVBO' }] }]));
    expect(err.message).toContain('messages[0].content[0]');
    expect(err.message).toContain('mediaType');
  });

  it('rejects a file part with data but no mediaType', () => {
    expect(configError(() => norm([{ role: 'user', content: [{ type: 'file', data: 'JVBE' }] }])).message).toContain('mediaType');
  });

  it('rejects a part with both url and data', () => {
    const err = configError(() => norm([{ role: 'user', content: [{ type: 'image', url: 'https://x', data: 'a', mediaType: 'image/png' }] }]));
    expect(err.message).toContain('both `url` and `data`');
  });

  it('rejects an audio part given by url', () => {
    const err = configError(() => norm([{ role: 'user', content: [{ type: 'audio', url: 'https://x/a.wav' }] }]));
    expect(err.message).toContain('messages[0].content[0]');
    expect(err.message).toContain('audio part');
  });

  it('rejects a text part without text', () => {
    expect(configError(() => norm([{ role: 'user', content: [{ type: 'text' }] }])).message).toContain('messages[0].content[0]');
  });

  it('rejects an empty text part', () => {
    expect(configError(() => norm([{ role: 'user', content: [{ type: 'text', text: '' }] }])).message).toContain('empty');
  });

  it('rejects a content part that is not an object', () => {
    expect(configError(() => norm([{ role: 'user', content: ['hi'] }])).message).toContain('messages[0].content[0]');
  });

  it('rejects an empty content array', () => {
    expect(configError(() => norm([{ role: 'user', content: [] }])).message).toContain('messages[0]');
  });

  it('rejects an image in a system message', () => {
    const err = configError(() => norm([{ role: 'system', content: [{ type: 'image', url: 'https://x' }] }]));
    expect(err.message).toContain('system messages take text parts only');
  });
});

describe('normalizeMessages validation', () => {
  it('rejects an empty array', () => {
    expect(configError(() => norm([])).message).toContain('messages: empty');
  });

  it('rejects missing messages', () => {
    expect(configError(() => norm(undefined)).message).toContain('messages: missing');
  });

  it('rejects an empty string', () => {
    expect(configError(() => norm('')).message).toContain('empty');
  });

  it('rejects an empty string element naming its index', () => {
    expect(configError(() => norm(['hi', ''])).message).toContain('messages[1]');
  });

  it('rejects an empty string content naming its index', () => {
    expect(configError(() => norm([{ role: 'user', content: 'a' }, { role: 'user', content: '' }])).message).toContain('messages[1]');
  });

  it('rejects a number as messages', () => {
    expect(configError(() => norm(42)).message).toContain('messages');
  });

  it('rejects an unknown role naming the index and the role', () => {
    const err = configError(() => norm([{ role: 'user', content: 'a' }, { role: 'bot', content: 'b' }]));
    expect(err.message).toContain('messages[1]');
    expect(err.message).toContain('"bot"');
  });

  it('rejects a message without a role', () => {
    expect(configError(() => norm([{ content: 'b' }])).message).toContain('missing `role`');
  });

  it('rejects an unknown role in a nested tuple', () => {
    expect(configError(() => norm([['bot', 'x']])).message).toContain('messages[0]');
  });

  it('rejects a nested tuple of the wrong length', () => {
    expect(configError(() => norm([['user', 'x', 'y']])).message).toContain('exactly 2');
  });

  it('rejects a tool tuple, which cannot carry a toolCallId', () => {
    expect(configError(() => norm([['tool', 'x']])).message).toContain('toolCallId');
  });

  it('rejects a non-string non-array content', () => {
    const err = configError(() => norm([{ role: 'user', content: { text: 'hi' } }]));
    expect(err.message).toContain('messages[0]');
    expect(err.message).toContain('`content`');
  });

  it('rejects null content on a user message', () => {
    expect(configError(() => norm([{ role: 'user', content: null }])).message).toContain('messages[0]: missing `content`');
  });

  it('rejects null content on an assistant message without tool calls', () => {
    expect(configError(() => norm([{ role: 'assistant', content: null }])).message).toContain('toolCalls');
  });

  it('rejects a tool message without toolCallId', () => {
    const err = configError(() => norm([{ role: 'tool', content: '42' }]));
    expect(err.message).toContain('messages[0]');
    expect(err.message).toContain('toolCallId');
  });

  it('rejects tool calls on a user message', () => {
    expect(configError(() => norm([{ role: 'user', content: 'a', toolCalls: [call] }])).message).toContain('only valid on assistant');
  });

  it('rejects OpenAI wire-format tool_calls with a hint', () => {
    expect(configError(() => norm([{ role: 'assistant', content: null, tool_calls: [] }])).message).toContain('toolCalls');
  });

  it('rejects toolCalls that is not an array', () => {
    expect(configError(() => norm([{ role: 'assistant', content: 'a', toolCalls: call }])).message).toContain('must be an array');
  });

  it('rejects a tool call without an id', () => {
    const err = configError(() => norm([{ role: 'assistant', content: '', toolCalls: [call, { name: 'x', arguments: {} }] }]));
    expect(err.message).toContain('messages[0].toolCalls[1]');
    expect(err.message).toContain('`id`');
  });

  it('rejects a tool call without a name', () => {
    const err = configError(() => norm([{ role: 'assistant', content: '', toolCalls: [{ id: 'c', arguments: {} }] }]));
    expect(err.message).toContain('messages[0].toolCalls[0]');
    expect(err.message).toContain('`name`');
  });

  it('rejects tool call arguments given as a JSON string', () => {
    const err = configError(() => norm([{ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'n', arguments: '{}' }] }]));
    expect(err.message).toContain('messages[0].toolCalls[0]');
    expect(err.message).toContain('not a JSON string');
  });

  it('rejects tool call arguments that are an array', () => {
    const err = configError(() => norm([{ role: 'assistant', content: '', toolCalls: [{ id: 'c', name: 'n', arguments: [] }] }]));
    expect(err.message).toContain('`arguments` must be an object');
  });

  it('rejects a non-object providerData', () => {
    expect(configError(() => norm([{ role: 'assistant', content: 'a', providerData: 'x' }])).message).toContain('providerData');
  });

  it('rejects an empty name', () => {
    expect(configError(() => norm([{ role: 'user', content: 'a', name: '' }])).message).toContain('`name`');
  });

  it('never quotes message content in an error', () => {
    const secretPrompt = 'my private prompt text';
    const err = configError(() => norm([{ role: 'bot', content: secretPrompt }]));
    expect(err.message).not.toContain(secretPrompt);
  });
});

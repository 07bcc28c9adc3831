import { describe, expect, it } from 'vitest';
import { assignProviderOptions } from '../../../providers/shared/provider-options.js';

describe('assignProviderOptions', () => {
  it('copies own keys last, skipping prototype keys and the named exception', () => {
    const body: Record<string, unknown> = { temperature: 1 };
    const extra = JSON.parse('{"__proto__": {"polluted": true}, "constructor": 1, "prototype": 1, "api": "chat", "temperature": 0}');
    assignProviderOptions(body, extra, 'api');
    expect(body).toEqual({ temperature: 0 });
    expect(Object.keys(body)).toEqual(['temperature']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    assignProviderOptions(body, undefined);
    expect(body).toEqual({ temperature: 0 });
  });
});

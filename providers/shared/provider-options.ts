/**
 * `providerOptions`: fields the caller passes through to the wire body as they are. They are merged last, so they
 * win over the fields the adapter mapped, and never with a key that could reach a prototype.
 */

/** Keys of `providerOptions` that are never copied (prototype pollution). */
export function isForbiddenKey(key: string): boolean {
  return key === '__proto__' || key === 'constructor' || key === 'prototype';
}

/**
 * Copies the own keys of `providerOptions` onto the body, except the forbidden ones and `except` (an option that
 * steers the adapter and is no body field, such as OpenAI's `api`).
 *
 * @example
 * assignProviderOptions(body, req.providerOptions);
 */
export function assignProviderOptions(body: Record<string, unknown>, extra: Record<string, unknown> | undefined, except?: string): void {
  if (extra === undefined) return;
  for (const key in extra) {
    if (!Object.prototype.hasOwnProperty.call(extra, key)) continue;
    if (key === except || isForbiddenKey(key)) continue;
    body[key] = extra[key];
  }
}

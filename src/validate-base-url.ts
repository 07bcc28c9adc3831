import { ConfigError } from './errors.js';

/**
 * Check a provider base URL: http(s) only, no credentials in it (they would end up in logs and error messages).
 * Returns it without trailing slashes. The `{model}` placeholder of OpenAI-compatible deployment URLs is allowed.
 * @example validateBaseUrl('https://api.openai.com/v1/', 'baseUrls.openai') // 'https://api.openai.com/v1'
 */
export function validateBaseUrl(url: unknown, where: string, options: { noQuery?: boolean } = {}): string {
  if (typeof url !== 'string' || url === '') throw new ConfigError(`${where} must be a non-empty string`);
  let u: URL;
  try {
    u = new URL(url.replace('{model}', 'model'));
  } catch {
    throw new ConfigError(`${where} is not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${where} must use http or https (got ${u.protocol})`);
  if (u.username !== '' || u.password !== '') throw new ConfigError(`${where} must not contain credentials`);
  // A `?key=` query would put a key in every URL (Gemini); keys travel in headers.
  if (options.noQuery && u.search !== '') throw new ConfigError(`${where} must not have a query string (pass the key as \`apiKey\`)`);
  return url.replace(/\/+$/, '');
}

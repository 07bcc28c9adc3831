/**
 * The `BadRequestError`s `prepare.ts` raises before any I/O, for a request the wire cannot carry. Provider-neutral:
 * each takes the adapter's registered name, so a renamed adapter names itself.
 */
import { BadRequestError, errorMessage } from '../../src/errors.js';

/** How much of a caller-supplied string (a media type, an id) goes into a message. */
const MAX_SHOWN_CHARS = 60;

/** A caller-supplied string, bounded for an error message. */
export function shown(s: string): string {
  return s.length > MAX_SHOWN_CHARS ? s.slice(0, MAX_SHOWN_CHARS) + '…' : s;
}

/**
 * `BadRequestError` `unsupported_option`: `<name> <model>: <option> is not supported: <why>`.
 *
 * @example
 * throw unsupportedOption(name, model, 'reasoning.effort', 'only reasoning models take a reasoning effort');
 */
export function unsupportedOption(name: string, model: string, option: string, why: string): BadRequestError {
  return new BadRequestError(errorMessage(name, model, `${option} is not supported: ${why}`), {
    provider: name,
    model,
    code: 'unsupported_option',
    retryable: false,
  });
}

/**
 * `BadRequestError` `unsupported_content_part`: `<name> <model>: content part type '<type>' is not supported <where>`.
 *
 * @param where - the rest of the sentence, e.g. `'in system messages'`
 */
export function unsupportedPart(type: string, where: string, model: string, name: string): BadRequestError {
  return new BadRequestError(errorMessage(name, model, `content part type '${type}' is not supported ${where}`), {
    provider: name,
    model,
    code: 'unsupported_content_part',
    retryable: false,
  });
}

/**
 * A real pino logger writing to a destination the test reads: every line as written (`text`) and parsed
 * (`records`). pino writes synchronously to a destination object with a `write()` method, so the lines are there
 * as soon as the call that logged them returns.
 */
import pino, { type Logger } from 'pino';

export interface PinoRecord {
  level: number;
  msg?: string;
  [field: string]: unknown;
}

export interface CapturedPino {
  logger: Logger;
  /** Every line written, raw (JSON text with the trailing newline). */
  readonly lines: string[];
  /** The lines parsed. */
  records(): PinoRecord[];
  /** Everything written, as one string (for "this never appears in any line" checks). */
  text(): string;
  clear(): void;
}

/** pino's numeric levels. */
export const LEVEL = { debug: 20, info: 30, warn: 40, error: 50 } as const;

export function capturePino(level: 'debug' | 'info' | 'warn' | 'error' = 'debug'): CapturedPino {
  const lines: string[] = [];
  const logger = pino({ level }, { write: (line: string) => { lines.push(line); } });
  return {
    logger,
    lines,
    records: () => lines.map((l) => JSON.parse(l) as PinoRecord),
    text: () => lines.join(''),
    clear: () => { lines.length = 0; },
  };
}

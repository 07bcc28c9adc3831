/** How `mapStrings` treats what is not a string, an array or a plain object. */
export interface MapStringsOptions {
  /** Nesting deeper than this is not walked. */
  maxDepth: number;
  /** What replaces a value nested too deep. @default the value itself */
  tooDeep?: (value: object) => unknown;
  /** What replaces an object that is not plain (a class instance). @default walked like a plain object */
  other?: (value: object) => unknown;
}

/**
 * A deep copy of JSON-like data with `fn` applied to every string, keys included, and prototype-polluting keys
 * (`__proto__`, `constructor`, `prototype`) dropped. The one walk behind key scrubbing in errors, log lines and
 * redaction.
 */
export function mapStrings(value: unknown, fn: (s: string) => string, options: MapStringsOptions, depth = 0): unknown {
  if (typeof value === 'string') return fn(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > options.maxDepth) return options.tooDeep === undefined ? value : options.tooDeep(value);
  if (Array.isArray(value)) return value.map((v) => mapStrings(v, fn, options, depth + 1));
  if (options.other !== undefined) {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return options.other(value);
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(value)) {
    if (k === '__proto__' || k === 'constructor' || k === 'prototype') continue;
    out[fn(k)] = mapStrings((value as Record<string, unknown>)[k], fn, options, depth + 1);
  }
  return out;
}

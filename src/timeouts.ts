import { ConfigError } from './errors.js';

/** Per-phase timeouts in ms. See `docs/features/transport.md#timeouts`. */
export interface TimeoutsInit {
  /** TCP + TLS connect. @default 10_000 */
  connectMs?: number;
  /** Waiting for response headers ('headers'), then for any body bytes ('read'). @default unset (undici's 300 s) */
  readMs?: number;
  /** The whole call, retries and backoff included. @default 30_000 */
  totalMs?: number;
  /** From sending the request to the first content event of a stream. @default unset */
  firstEventMs?: number;
  /** Between content events of a stream; keep-alive comments and pings do not reset it. @default unset */
  idleMs?: number;
}

const FIELDS = ['connectMs', 'readMs', 'totalMs', 'firstEventMs', 'idleMs'] as const;

function check(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !(v > 0) || Number.isNaN(v)) {
    throw new ConfigError(`timeouts: ${name} must be a positive number of ms (got ${String(v)})`);
  }
  return v;
}

/**
 * Immutable per-phase timeouts.
 * @example new Timeouts({ totalMs: 60_000, idleMs: 10_000 })
 */
export class Timeouts {
  readonly connectMs: number;
  readonly readMs: number | undefined;
  readonly totalMs: number | undefined;
  readonly firstEventMs: number | undefined;
  readonly idleMs: number | undefined;
  /** Whether `connectMs` was given (not defaulted): only then does it override another Timeouts in a merge. */
  private readonly connectSet: boolean;

  constructor(init: TimeoutsInit = {}) {
    if (init === null || typeof init !== 'object') throw new ConfigError('timeouts: expected an object');
    for (const k of Object.keys(init)) {
      if (!(FIELDS as readonly string[]).includes(k)) throw new ConfigError(`timeouts: unknown option "${k}" (known: ${FIELDS.join(', ')})`);
    }
    this.connectMs = check('connectMs', init.connectMs) ?? 10_000;
    this.connectSet = init.connectMs !== undefined;
    this.readMs = check('readMs', init.readMs);
    this.totalMs = check('totalMs', init.totalMs);
    this.firstEventMs = check('firstEventMs', init.firstEventMs);
    this.idleMs = check('idleMs', init.idleMs);
    Object.freeze(this);
  }

  /** The default per call: 30 s total. */
  static readonly DEFAULT = new Timeouts({ totalMs: 30_000 });

  /** A copy with the fields of `over` replacing these (a number replaces `totalMs`). */
  merge(over: number | TimeoutsInit | Timeouts | undefined): Timeouts {
    if (over === undefined) return this;
    if (typeof over === 'number') {
      check('timeout', over);
      return new Timeouts({ ...this.toInit(), totalMs: over });
    }
    const init = over instanceof Timeouts ? over.toInit() : over;
    if (init === null || typeof init !== 'object') throw new ConfigError('timeout: expected a number of ms or a TimeoutsInit object');
    return new Timeouts({ ...this.toInit(), ...stripUndefined(init) });
  }

  toInit(): TimeoutsInit {
    const o: TimeoutsInit = {};
    if (this.connectSet) o.connectMs = this.connectMs;
    if (this.readMs !== undefined) o.readMs = this.readMs;
    if (this.totalMs !== undefined) o.totalMs = this.totalMs;
    if (this.firstEventMs !== undefined) o.firstEventMs = this.firstEventMs;
    if (this.idleMs !== undefined) o.idleMs = this.idleMs;
    return o;
  }

  static from(v: Timeouts | TimeoutsInit | number | undefined): Timeouts {
    if (v === undefined) return Timeouts.DEFAULT;
    if (v instanceof Timeouts) return v;
    return Timeouts.DEFAULT.merge(v);
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/**
 * The three pieces of undici the transport uses — `Agent`, `buildConnector` and `errors` — imported from their own
 * modules rather than through `undici`'s index. The index also loads fetch, WebSocket, EventSource, the cache and
 * the mock agent: about 55 ms of a cold start, against about 20 ms for the Agent with its client and parser, and
 * cold starts are what serverless handlers pay on every new instance. Static imports, so a bundler takes exactly
 * these modules too.
 *
 * undici publishes no `exports` map, so these paths resolve. They are not its documented API, but they have not
 * moved since undici 6 (Node's own copy of undici has the same layout); `test/core/undici-modules.test.ts` checks
 * that they are the classes the index exports and that importing llm-fiber loads no part of the index.
 */
import type * as Undici from 'undici';
import AgentModule from 'undici/lib/dispatcher/agent.js';
import connectModule from 'undici/lib/core/connect.js';
import errorsModule from 'undici/lib/core/errors.js';

export const Agent: typeof Undici.Agent = AgentModule;
export type Agent = Undici.Agent;
export const buildConnector: typeof Undici.buildConnector = connectModule;
export const errors: typeof Undici.errors = errorsModule;

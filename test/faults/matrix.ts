/**
 * The fault matrix: every fault injected by `test/faults/*.test.ts`, what llm-fiber does about it, and the test
 * that proves it (`'<file> > <test name>'`, the file under `test/faults/`). The test files define their tests
 * from these rows (`faultSuite(file).fault(id, ...)` names each test after its row), `matrix.test.ts` checks
 * that every row names a test that exists, and `docs/reliability.md` carries this list as a table
 * (`print-matrix.ts` regenerates it; `matrix.test.ts` fails when the two disagree).
 *
 * Every row's test asserts: the typed error class and its discriminating field (`TimeoutError.phase`, `code`,
 * `status`), the attempts and the server-side request count, the elapsed time under the configured deadline plus
 * a margin, and that no socket, server or timer is left open afterwards.
 */

export interface FaultRow {
  /** Stable identifier (kebab-case). */
  id: string;
  /** The injected fault, as the server (or the network, or the caller) produces it. */
  fault: string;
  /** What llm-fiber does: the error class and field, retries, what reached the caller. */
  behaviour: string;
  /** `'<file> > <test name>'`, the file relative to `test/faults/`. */
  test: string;
}

const T = 'timeouts.test.ts > ';
const S = 'streams.test.ts > ';
const R = 'responses.test.ts > ';
const C = 'connections.test.ts > ';
const A = 'aborts.test.ts > ';
const Q = 'requests.test.ts > ';

export const MATRIX: readonly FaultRow[] = [
  // -- stalls and deadlines --------------------------------------------------------------------------------------
  {
    id: 'stall-before-headers',
    fault: 'The server reads the request and sends no response headers (stalls 5 s); `readMs: 300`',
    behaviour: "`TimeoutError` phase `'headers'` (retryable) once undici's headers timer fires (~1 s granularity)",
    test: `${T}fails with TimeoutError headers when the server stalls before sending any response header`,
  },
  {
    id: 'connect-stall',
    fault: "The TCP handshake never completes (a listener that never accepts, its backlog full); `connectMs: 200`",
    behaviour: "`TimeoutError` phase `'connect'` (retryable): 3 attempts of 200 ms each, no request sent; within the deadline",
    test: `${T}fails with TimeoutError connect when the TCP handshake never completes`,
  },
  {
    id: 'stall-before-headers-total',
    fault: 'The server stalls before the headers on every attempt; only `totalMs: 200` is set',
    behaviour: "`TimeoutError` phase `'total'` at the deadline; never retried",
    test: `${T}ends a call stalled before its headers at the total deadline without retrying`,
  },
  {
    id: 'stall-after-headers',
    fault: 'A JSON reply sends its headers, then no body byte (stalls 5 s); `readMs: 300`',
    behaviour: "`TimeoutError` phase `'read'`",
    test: `${T}fails with TimeoutError read when the body stalls after the headers`,
  },
  {
    id: 'stall-before-first-event',
    fault: 'A stream sends its headers and a role-only chunk (no content), then stalls; `firstEventMs: 80`',
    behaviour: "Each attempt times out with `TimeoutError` phase `'first_event'` and is retried (nothing reached the caller); after 3 attempts the error is thrown, preceded by 2 retry `log` events",
    test: `${T}retries a stream that stalls before its first content event, then fails with TimeoutError first_event`,
  },
  {
    id: 'stall-mid-stream-idle',
    fault: 'A stream stalls after two content chunks; `idleMs: 80`',
    behaviour: "`TimeoutError` phase `'idle'` after the delivered chunks; not retried (committed)",
    test: `${T}fails a stream that stalls mid-way with TimeoutError idle after the delivered chunks`,
  },
  {
    id: 'stall-mid-stream-total',
    fault: 'A stream stalls after one content chunk; no idle timeout, `totalMs: 250`',
    behaviour: "`TimeoutError` phase `'total'` after the delivered chunk; not retried",
    test: `${T}ends a stream stalled mid-way at the total deadline when no idle timeout is set`,
  },
  {
    id: 'ping-only-openai',
    fault: 'An OpenAI stream sends only `: ping` comments every 5 ms; `firstEventMs: 80`',
    behaviour: "Comments never count as events: `TimeoutError` phase `'first_event'` on each attempt, retried once",
    test: `${T}does not let OpenAI ping comments hold a stream open past firstEventMs`,
  },
  {
    id: 'ping-only-anthropic',
    fault: 'An Anthropic stream sends only `event: ping` events every 5 ms; `firstEventMs: 80`',
    behaviour: "Pings never count as events: `TimeoutError` phase `'first_event'`",
    test: `${T}does not let Anthropic ping events hold a stream open past firstEventMs`,
  },
  {
    id: 'pings-after-content-openai',
    fault: 'An OpenAI stream sends one content chunk, then only `: keep-alive` comments every 5 ms; `idleMs: 80`',
    behaviour: "Comments do not reset the idle timer: `TimeoutError` phase `'idle'` after the chunk",
    test: `${T}does not let OpenAI comments after a chunk reset the idle timeout`,
  },
  {
    id: 'pings-after-content-anthropic',
    fault: 'An Anthropic stream sends one text delta, then only `event: ping` every 5 ms; `idleMs: 80`',
    behaviour: "Pings do not reset the idle timer: `TimeoutError` phase `'idle'` after the delta",
    test: `${T}does not let Anthropic pings after a delta reset the idle timeout`,
  },
  {
    id: 'slow-loris-headers',
    fault: 'A raw server dribbles the status line and header bytes one every 50 ms, never finishing them; `readMs: 300`',
    behaviour: "Trickling bytes do not extend the headers deadline: `TimeoutError` phase `'headers'`",
    test: `${T}fails with TimeoutError headers when a server dribbles header bytes slower than readMs`,
  },
  {
    id: 'slow-loris-body',
    fault: 'A raw server sends JSON headers, then one body byte every 20 ms (each gap under any read timeout); `totalMs: 300`',
    behaviour: "The total deadline bounds it: `TimeoutError` phase `'total'`, not retried",
    test: `${T}ends a body dribbled byte by byte at the total deadline`,
  },

  // -- broken streams --------------------------------------------------------------------------------------------
  {
    id: 'drop-mid-stream',
    fault: 'The connection is destroyed after two content chunks (no end marker)',
    behaviour: "`StreamError` code `connection_dropped` (status 200) after the delivered chunks; never retried",
    test: `${S}throws StreamError connection_dropped when the connection drops mid-stream`,
  },
  {
    id: 'drop-before-first-event',
    fault: 'The connection is destroyed after the role-only chunk, before any content',
    behaviour: 'Retried transparently: the caller gets the whole answer from attempt 2, after one retry `log` event',
    test: `${S}retries a stream whose connection drops before the first content event`,
  },
  {
    id: 'drop-mid-stream-no-fallback',
    fault: 'The connection drops after content was delivered, on a call with a `fallback` model',
    behaviour: '`StreamError` `connection_dropped`; the fallback model is never asked (committed)',
    test: `${S}does not fall back to another model once a chunk reached the caller`,
  },
  {
    id: 'truncated-json-first-event',
    fault: 'The first content event of every attempt carries JSON cut in half',
    behaviour: '`StreamError` code `invalid_json` (retryable): retried, then thrown after 3 attempts',
    test: `${S}retries a stream whose first event is truncated JSON, then throws StreamError invalid_json`,
  },
  {
    id: 'truncated-json-mid-stream',
    fault: 'A raw stream sends one good chunk, then an event whose JSON is cut off',
    behaviour: '`StreamError` code `invalid_json` after the good chunk; not retried',
    test: `${S}throws StreamError invalid_json when an event mid-stream is truncated JSON`,
  },
  {
    id: 'missing-end-openai',
    fault: 'An OpenAI stream ends cleanly without `data: [DONE]`',
    behaviour: '`StreamError` code `missing_end_marker` after the chunks; never a silent `done`',
    test: `${S}throws StreamError missing_end_marker when an OpenAI stream ends without [DONE]`,
  },
  {
    id: 'missing-end-anthropic',
    fault: 'An Anthropic stream ends cleanly without `message_stop`',
    behaviour: '`StreamError` code `missing_end_marker` after the chunks',
    test: `${S}throws StreamError missing_end_marker when an Anthropic stream ends without message_stop`,
  },
  {
    id: 'missing-end-gemini',
    fault: 'A Gemini stream ends cleanly without a candidate `finishReason`',
    behaviour: '`StreamError` code `missing_end_marker` after the chunks',
    test: `${S}throws StreamError missing_end_marker when a Gemini stream ends without a finishReason`,
  },
  {
    id: 'in-stream-error-openai',
    fault: 'An OpenAI stream sends `data: {"error": {"code": "server_error"}}` after two chunks',
    behaviour: '`ServerError` status 500 code `server_error` after the chunks; not retried (committed)',
    test: `${S}throws ServerError for an OpenAI error event mid-stream`,
  },
  {
    id: 'in-stream-error-anthropic',
    fault: 'An Anthropic stream sends `event: error` `overloaded_error` after one text delta',
    behaviour: '`OverloadedError` status 529 code `overloaded_error`; not retried (committed)',
    test: `${S}throws OverloadedError for an Anthropic overloaded_error event mid-stream`,
  },
  {
    id: 'in-stream-error-gemini',
    fault: 'A Gemini stream sends a `google.rpc.Status` error chunk (503 UNAVAILABLE) after two chunks',
    behaviour: '`OverloadedError` status 503 code `UNAVAILABLE`; not retried (committed)',
    test: `${S}throws OverloadedError for a Gemini error chunk mid-stream`,
  },
  {
    id: 'in-stream-error-before-content',
    fault: 'An Anthropic stream sends `overloaded_error` right after `message_start`, before any content',
    behaviour: 'Retried transparently (nothing reached the caller); the answer comes from attempt 2',
    test: `${S}retries an in-stream error that arrives before any content`,
  },
  {
    id: 'in-stream-client-error-openai',
    fault: 'An OpenAI stream sends `data: {"error": …}` before any content: a 400 `invalid_request_error`, a 401 `invalid_api_key`, a 429 `insufficient_quota` (one call each)',
    behaviour: '`BadRequestError` 400, `AuthError` 401, `RateLimitError` 429 `insufficient_quota`, each `retryable: false`: 1 request per call (the caller’s own errors are never retried, in a stream or not)',
    test: `${S}does not retry an OpenAI in-stream 400, 401 or insufficient_quota error`,
  },
  {
    id: 'in-stream-client-error-responses',
    fault: 'A Responses-wire stream sends an `error` event before any content: 400 `invalid_request_error`, 401 `invalid_api_key`, 429 `insufficient_quota` (one call each)',
    behaviour: '`BadRequestError`, `AuthError`, `RateLimitError` `insufficient_quota`, each `retryable: false`: 1 request per call',
    test: `${S}does not retry a Responses in-stream 400, 401 or insufficient_quota error event`,
  },
  {
    id: 'in-stream-client-error-anthropic',
    fault: 'An Anthropic stream sends `event: error` right after `message_start`: `invalid_request_error`, then `authentication_error` (one call each)',
    behaviour: '`BadRequestError` 400 and `AuthError` 401, each `retryable: false`: 1 request per call',
    test: `${S}does not retry an Anthropic in-stream invalid_request_error or authentication_error`,
  },
  {
    id: 'in-stream-client-error-gemini',
    fault: 'A Gemini stream’s first chunk is a `google.rpc.Status` error: 400 `INVALID_ARGUMENT`, then 401 `UNAUTHENTICATED` (one call each)',
    behaviour: '`BadRequestError` 400 and `AuthError` 401, each `retryable: false`: 1 request per call',
    test: `${S}does not retry a Gemini in-stream 400 or 401 error chunk`,
  },
  {
    id: 'end-marker-held-open-openai',
    fault: 'A raw OpenAI stream sends a chunk, the finish chunk and `data: [DONE]`, then keeps the response open (no terminating chunk)',
    behaviour: 'The stream ends at `[DONE]`: `chunk`, `done` shortly after (no idle or total timeout), and the connection is closed',
    test: `${S}ends an OpenAI stream at [DONE] when the server keeps the response open`,
  },
  {
    id: 'end-marker-held-open-anthropic',
    fault: 'A raw Anthropic stream sends a text delta and `message_stop`, then keeps the response open (no terminating chunk)',
    behaviour: 'The stream ends at `message_stop`: `chunk`, `done` shortly after, and the connection is closed',
    test: `${S}ends an Anthropic stream at message_stop when the server keeps the response open`,
  },
  {
    id: 'interim-103-before-stream',
    fault: 'A raw server answers `103 Early Hints` (with a `link` header), then a normal `200` SSE stream',
    behaviour: 'The interim response is skipped: the stream completes with its text on attempt 1, one request',
    test: `${S}skips a 1xx interim response before a stream`,
  },
  {
    id: 'huge-sse-line',
    fault: 'One 32 MB SSE line (a single content delta) arrives in 64 KB writes, under `maxResponseBytes: 40 MiB`; `totalMs: 4000`',
    behaviour: 'Each piece is kept, not re-copied, until the line ends: `chunk` (the whole 32 MB delta) and `done` well inside the deadline (re-copying the line on every piece, a quadratic cost, takes longer than it); the size cap still bounds a line (row `oversized-sse-line`)',
    test: `${S}parses one huge SSE line with linear copying`,
  },
  {
    id: 'done-first',
    fault: 'A raw OpenAI stream sends `data: [DONE]` first, then content chunks',
    behaviour: "The stream ends at `[DONE]`: `done` with empty text and `finishReason: 'other'`; the chunks after it are ignored",
    test: `${S}ends a stream at a leading [DONE] and ignores the chunks after it`,
  },
  {
    id: 'invalid-utf8',
    fault: 'A stream delta contains invalid UTF-8 bytes (`0xff 0xfe 0xc3`)',
    behaviour: 'No crash and no error: the bytes decode to U+FFFD replacement characters and the stream completes',
    test: `${S}decodes invalid UTF-8 in a stream to replacement characters without failing`,
  },
  {
    id: 'utf8-split-across-writes',
    fault: 'A multi-byte character (`€`, 3 bytes) is split across two TCP writes 20 ms apart',
    behaviour: 'The character arrives intact (lines are decoded whole)',
    test: `${S}keeps a multi-byte character intact when it is split across TCP writes`,
  },
  {
    id: 'truncated-chunked-stream',
    fault: 'A chunked SSE response announces a chunk, sends part of it and closes the socket (after one content event)',
    behaviour: '`StreamError` code `connection_dropped` after the delivered chunk; not retried',
    test: `${S}throws StreamError connection_dropped when chunked framing is cut mid-stream`,
  },
  {
    id: 'oversized-stream',
    fault: 'A stream grows past `maxResponseBytes: 1500`',
    behaviour: '`StreamError` code `response_too_large`, not retryable; one request',
    test: `${S}stops a stream that grows past maxResponseBytes with StreamError response_too_large`,
  },
  {
    id: 'html-200-stream',
    fault: 'A stream request gets `200 text/html` (a captive portal / proxy page)',
    behaviour: '`StreamError` `missing_end_marker` (no SSE events), retried; thrown after 3 attempts',
    test: `${S}retries a 200 text/html answer to a stream request, then throws StreamError missing_end_marker`,
  },
  {
    id: 'empty-200-stream',
    fault: 'A stream request gets `200 text/event-stream` with an empty body',
    behaviour: '`StreamError` `missing_end_marker`, retried; thrown after 3 attempts',
    test: `${S}retries an empty 200 event stream, then throws StreamError missing_end_marker`,
  },

  {
    id: 'reset-mid-stream',
    fault: 'The server resets the connection (TCP RST) after one content chunk',
    behaviour: '`StreamError` code `connection_dropped` (cause `ECONNRESET`) after the chunk; not retried',
    test: `${S}throws StreamError connection_dropped when the connection is reset mid-stream`,
  },
  {
    id: 'one-byte-writes',
    fault: 'A whole stream arrives one byte per TCP write',
    behaviour: 'Reassembled exactly: the same chunks, usage and `done` as one write would give',
    test: `${S}reassembles a stream that arrives one byte per write`,
  },
  {
    id: 'oversized-sse-line',
    fault: 'A 2 MB SSE line that never ends (no newline), over `maxResponseBytes: 1 MB`',
    behaviour: '`StreamError` code `response_too_large`: the cap counts bytes of a line still being buffered',
    test: `${S}stops an endless SSE line at maxResponseBytes with StreamError response_too_large`,
  },
  {
    id: 'hostile-tool-index',
    fault: 'An OpenAI stream sends a tool-call fragment with `index: 1000000`',
    behaviour: '`StreamError` code `invalid_tool_call_index`, not retryable; no huge sparse array',
    test: `${S}refuses a stream tool call with a huge index with StreamError invalid_tool_call_index`,
  },

  // -- bad responses, statuses and retry-after ---------------------------------------------------------------------
  {
    id: 'truncated-json-body',
    fault: 'Every non-stream 200 body is JSON cut in half (with a matching content-length)',
    behaviour: '`ServerError` code `invalid_json` status 200 (retryable): 3 attempts',
    test: `${R}retries a truncated JSON body, then fails with ServerError invalid_json`,
  },
  {
    id: 'empty-200-body',
    fault: 'A 200 `application/json` response with an empty body',
    behaviour: '`ServerError` code `invalid_json`: 3 attempts',
    test: `${R}fails an empty 200 body with ServerError invalid_json after retrying`,
  },
  {
    id: 'html-200-body',
    fault: 'A 200 `text/html` page instead of JSON',
    behaviour: '`ServerError` code `invalid_json`: 3 attempts',
    test: `${R}fails a 200 text/html page with ServerError invalid_json after retrying`,
  },
  {
    id: 'json-not-object',
    fault: 'A 200 whose JSON body is an array, not a completion object',
    behaviour: '`ServerError` code `invalid_response`, not retryable: 1 attempt',
    test: `${R}fails a 200 JSON array body with ServerError invalid_response without retrying`,
  },
  {
    id: 'json-200-error-openai',
    fault: 'A `200 application/json` OpenAI body that holds an error object (`{"error": {"code": "insufficient_quota"}}`)',
    behaviour: 'Not an empty success: `RateLimitError` 429 `insufficient_quota` (status from the in-stream table), not retryable: 1 attempt',
    test: `${R}fails a 200 OpenAI body holding an error object with its typed error`,
  },
  {
    id: 'json-200-error-anthropic',
    fault: 'A `200` Anthropic body that is an error body (`{"type": "error", "error": {"type": "overloaded_error"}}`), on every attempt',
    behaviour: '`OverloadedError` 529 `overloaded_error`, retryable: 3 attempts',
    test: `${R}fails a 200 Anthropic error body with OverloadedError after retrying`,
  },
  {
    id: 'json-200-error-gemini',
    fault: 'A `200` Gemini body that holds a `google.rpc.Status` (`{"error": {"code": 400, "status": "INVALID_ARGUMENT"}}`)',
    behaviour: '`BadRequestError` 400 `INVALID_ARGUMENT`, not retryable: 1 attempt',
    test: `${R}fails a 200 Gemini body holding a google.rpc.Status with BadRequestError`,
  },
  {
    id: 'json-200-no-answer',
    fault: 'A `200` JSON body `{}` (no choices, content, candidates or output) on OpenAI Chat, OpenAI Responses, Anthropic and Gemini, on every attempt',
    behaviour: 'Not an empty success: `ServerError` code `invalid_response`, retryable: 3 attempts on each',
    test: `${R}retries a 200 JSON body without any answer, then fails with ServerError invalid_response`,
  },
  {
    id: 'html-502-proxy',
    fault: 'A proxy answers `502 Bad Gateway` with an HTML page',
    behaviour: '`ServerError` status 502 with a bounded snippet of the page; retried, 3 attempts',
    test: `${R}retries an HTML 502 from a proxy, then fails with ServerError 502 quoting a bounded snippet`,
  },
  {
    id: 'drop-mid-json-body',
    fault: 'A JSON reply announces its full content-length, sends half and drops the connection',
    behaviour: '`ConnectionError` code `connection_dropped` (retryable, nothing reached the caller): 3 attempts',
    test: `${R}retries a JSON body cut by a dropped connection, then fails with ConnectionError connection_dropped`,
  },
  {
    id: 'truncated-chunked-json',
    fault: 'A chunked JSON response announces a 64-byte chunk, sends 3 bytes and closes',
    behaviour: '`ConnectionError` code `connection_dropped`: 3 attempts',
    test: `${R}retries a JSON body whose chunked framing is cut, then fails with ConnectionError connection_dropped`,
  },
  {
    id: '429-retry-after-seconds',
    fault: '`429` with `retry-after: 1` (delta-seconds), then success',
    behaviour: 'Waits the 1000 ms asked (retry `log`: `delayMs: 1000`, `serverRequested: true`), succeeds on attempt 2',
    test: `${R}waits the seconds a 429 retry-after asks, then succeeds`,
  },
  {
    id: '429-retry-after-http-date',
    fault: '`429` with `retry-after` as an HTTP-date about one second ahead, then success',
    behaviour: 'Waits until that date (0–2000 ms), succeeds on attempt 2',
    test: `${R}waits until the HTTP-date a 429 retry-after names, then succeeds`,
  },
  {
    id: '429-retry-after-ms',
    fault: '`429` with `retry-after-ms: 30`, then success',
    behaviour: 'Waits 30 ms (`delayMs: 30`), succeeds on attempt 2',
    test: `${R}waits the milliseconds a 429 retry-after-ms asks, then succeeds`,
  },
  {
    id: '429-gemini-retry-info',
    fault: 'Gemini `429 RESOURCE_EXHAUSTED` with `RetryInfo.retryDelay: "0.05s"` in the body, on every attempt',
    behaviour: '`RateLimitError` `retryAfterMs: 50`; the retry waited 50 ms; 2 attempts (1 retry)',
    test: `${R}honours a Gemini RetryInfo retryDelay and reports it as RateLimitError retryAfterMs`,
  },
  {
    id: '429-retry-after-past-deadline',
    fault: '`429` with `retry-after: 5` on a call with `totalMs: 1000`',
    behaviour: "Fails at once with the `RateLimitError` (`retryAfterMs: 5000`), a `retry_skipped` log record, no second request",
    test: `${R}fails at once with RateLimitError when retry-after is longer than the time left`,
  },
  {
    id: '429-insufficient-quota',
    fault: '`429` with code `insufficient_quota`',
    behaviour: '`RateLimitError`, not retryable: 1 attempt',
    test: `${R}does not retry a 429 insufficient_quota`,
  },
  {
    id: '529-openai-gateway',
    fault: 'An OpenAI-compatible gateway answers `529` (overloaded) on every attempt',
    behaviour: '`OverloadedError` status 529 (not `ServerError`), retryable: 3 attempts',
    test: `${R}retries an OpenAI 529 from a gateway, then fails with OverloadedError`,
  },
  {
    id: '503-persistent',
    fault: '`503` on every attempt',
    behaviour: '`OverloadedError` status 503, 3 attempts with one idempotency key',
    test: `${R}retries a persistent 503 with one idempotency key, then fails with OverloadedError`,
  },
  {
    id: '529-anthropic',
    fault: 'Anthropic `529 overloaded_error` on every attempt',
    behaviour: '`OverloadedError` status 529 code `overloaded_error`, 3 attempts',
    test: `${R}retries a persistent Anthropic 529, then fails with OverloadedError`,
  },
  {
    id: 'x-should-retry-false',
    fault: '`503` with `x-should-retry: false`',
    behaviour: '`OverloadedError`, not retryable: 1 attempt',
    test: `${R}does not retry a 503 that says x-should-retry false`,
  },
  {
    id: 'fallback-after-503',
    fault: 'The primary model answers `503` on every attempt; the call lists a fallback model',
    behaviour: 'The fallback model answers after the primary’s 3 attempts (4 attempts in all), with a `fallback` log record',
    test: `${R}falls back to the next model after the primary model keeps answering 503`,
  },
  {
    id: 'oversized-json',
    fault: 'A JSON body larger than `maxResponseBytes: 1000`',
    behaviour: '`ServerError` code `response_too_large`, not retryable: 1 attempt',
    test: `${R}fails a JSON body over maxResponseBytes with ServerError response_too_large`,
  },
  {
    id: 'oversized-error-body',
    fault: 'A `500` whose error body is 50 KB, over `maxResponseBytes: 1000`',
    behaviour: '`ServerError` code `response_too_large` (the cap applies to error bodies too): 1 attempt',
    test: `${R}caps an oversized error body with ServerError response_too_large`,
  },
  {
    id: 'huge-header',
    fault: 'A response header of 100 KB (over the 16 KB header limit)',
    behaviour: '`ConnectionError` code `UND_ERR_HEADERS_OVERFLOW` (retryable): 3 attempts',
    test: `${R}fails a response with a 100 KB header with ConnectionError UND_ERR_HEADERS_OVERFLOW`,
  },
  {
    id: 'garbage-status-line',
    fault: 'A raw server answers `GARBAGE NONSENSE` instead of an HTTP status line',
    behaviour: '`ConnectionError` code `connection_failed` naming the parse failure: 3 attempts',
    test: `${R}fails a garbage status line with ConnectionError connection_failed`,
  },
  {
    id: 'key-echoed-in-error',
    fault: 'A `401` whose body echoes the API key back',
    behaviour: '`AuthError`, 1 attempt; the key is scrubbed from the message, stack and `raw`',
    test: `${R}scrubs an API key that a 401 body echoes back`,
  },

  {
    id: 'conflicting-content-length',
    fault: 'A response with two different `content-length` headers (a response-smuggling shape)',
    behaviour: '`ConnectionError` code `UND_ERR_RES_CONTENT_LENGTH_MISMATCH`; the body is never used: 3 attempts',
    test: `${R}rejects a response with conflicting content-length headers with ConnectionError`,
  },
  {
    id: 'invalid-tool-arguments',
    fault: 'A 200 completion whose tool-call `arguments` is cut-off JSON',
    behaviour: '`ServerError` code `invalid_tool_arguments`, not retryable: 1 attempt',
    test: `${R}fails a tool call whose arguments are not JSON with ServerError invalid_tool_arguments`,
  },
  {
    id: 'proto-keys-in-response',
    fault: 'A 200 completion carrying `__proto__` keys in the body, the message and the tool-call arguments',
    behaviour: 'The call succeeds; no prototype is polluted and the arguments keep a plain prototype without the `__proto__` key',
    test: `${R}does not let __proto__ keys in a response pollute any prototype`,
  },
  {
    id: 'retry-budget-spent',
    fault: 'A persistent `503` on a client whose retry budget is empty (`budget: { ratio: 0, minPerSecond: 0 }`)',
    behaviour: '`OverloadedError` after 1 attempt, with a `retry_skipped` record saying the budget is spent',
    test: `${R}does not retry once the retry budget is spent, and says so`,
  },
  {
    id: 'breaker-open-skip',
    fault: 'The primary model failed before and its circuit breaker is open (threshold 1, 60 s cooldown)',
    behaviour: 'The next call skips the primary without a request (`breaker_skip` record) and the fallback model answers',
    test: `${R}skips a model whose circuit breaker is open and asks the fallback model`,
  },

  // -- connections -----------------------------------------------------------------------------------------------
  {
    id: 'tls-untrusted-certificate',
    fault: 'An HTTPS server presents a self-signed certificate (made by openssl for the test)',
    behaviour: '`ConnectionError` code `DEPTH_ZERO_SELF_SIGNED_CERT`, not retryable: 1 attempt, nothing sent; a `fallback` to another provider is still tried',
    test: `${C}fails an untrusted TLS certificate at once with ConnectionError, without retrying`,
  },
  {
    id: 'connection-refused',
    fault: 'Connecting to a port that was bound and then closed',
    behaviour: '`ConnectionError` code `ECONNREFUSED` (retryable): 3 attempts',
    test: `${C}fails a refused connection with ConnectionError ECONNREFUSED after retrying`,
  },
  {
    id: 'reset-before-first-byte',
    fault: 'The server resets the connection (RST) after reading the request, before any response byte, every time',
    behaviour: '`ConnectionError` code `ECONNRESET` (retryable): 3 attempts, 3 requests',
    test: `${C}fails a connection reset before the first byte with ConnectionError ECONNRESET after retrying`,
  },
  {
    id: 'close-on-accept',
    fault: 'A raw server closes each connection (FIN) as soon as it accepts it',
    behaviour: '`ConnectionError` code `UND_ERR_SOCKET` (retryable): 3 attempts, 3 connections',
    test: `${C}fails a server that closes every connection on accept with ConnectionError UND_ERR_SOCKET`,
  },
  {
    id: 'dns-failure',
    fault: 'The base URL host is `does-not-exist.invalid` (never resolves; no traffic leaves the machine)',
    behaviour: '`ConnectionError` code `ENOTFOUND`, not retryable: 1 attempt',
    test: `${C}fails a host that does not resolve with ConnectionError ENOTFOUND without retrying`,
  },
  {
    id: 'keep-alive-closed-idle',
    fault: 'The server closes an idle keep-alive connection between two calls',
    behaviour: 'The second call opens a new connection and succeeds on attempt 1',
    test: `${C}opens a new connection when the server closed the idle keep-alive one between calls`,
  },
  {
    id: 'stale-pooled-socket',
    fault: 'The server closes a pooled keep-alive connection just as the next request arrives on it (the close races the reuse)',
    behaviour: 'The failed attempt is retried on a fresh connection: success on attempt 2, 3 requests over 2 connections',
    test: `${C}retries a request lost on a stale pooled connection on a fresh one`,
  },
  {
    id: 'redirect-cross-origin-default',
    fault: 'A `307` to another origin, `followRedirects` off (the default)',
    behaviour: '`ServerError` code `redirect_not_followed` status 307 naming only the origin; the other origin gets nothing',
    test: `${C}does not follow a redirect to another origin by default`,
  },
  {
    id: 'redirect-cross-origin-followed',
    fault: 'A `307` to another origin with `followRedirects: true`',
    behaviour: 'Followed with method and body kept, without the `Authorization` header or the key',
    test: `${C}follows a redirect to another origin without credentials when enabled`,
  },
  {
    id: 'redirect-loop',
    fault: 'A redirect loop (`302` to itself) with `followRedirects: true`',
    behaviour: '`ServerError` code `too_many_redirects` after 5 hops (6 requests)',
    test: `${C}stops a redirect loop after five hops with ServerError too_many_redirects`,
  },
  {
    id: 'closed-fiber',
    fault: 'A call on a Fiber after `close()`',
    behaviour: '`ConnectionError` code `closed`; nothing is sent',
    test: `${C}fails a call on a closed Fiber with ConnectionError closed`,
  },
  {
    id: 'private-network-blocked',
    fault: 'A loopback base URL with `blockPrivateNetworks: true`',
    behaviour: '`ConfigError` code `private_network_blocked` before any connection',
    test: `${C}refuses a loopback base URL with ConfigError when private networks are blocked`,
  },

  // -- requests refused before sending -------------------------------------------------------------------------
  {
    id: 'responses-reasoning-unsupported',
    fault: 'A Responses-wire call asks `gpt-4o` (no reasoning) for `reasoning.effort: \'low\'`, and another asks `o4-mini` for `reasoning.budgetTokens` alone',
    behaviour: '`BadRequestError` code `unsupported_option` before sending (the Chat wire’s rules): no request, 1 attempt; `effort: \'none\'` on `gpt-4o` is dropped and the call succeeds without `reasoning` or `include`',
    test: `${Q}refuses reasoning a Responses model cannot take before sending anything`,
  },
  {
    id: 'responses-file-too-large',
    fault: 'A Responses-wire call carries 33 MB of inline PDF bytes in two file parts',
    behaviour: '`BadRequestError` code `content_too_large` (OpenAI’s 32 MB per request, as on the Chat wire) before sending: no request',
    test: `${Q}refuses more inline file bytes than OpenAI takes on the Responses wire before sending`,
  },

  // -- aborts ------------------------------------------------------------------------------------------------------
  {
    id: 'abort-before-send',
    fault: 'The caller’s `AbortSignal` is already aborted when the call starts (chat and stream)',
    behaviour: '`AbortError` code `aborted`; no request is sent',
    test: `${A}rejects a call whose signal is already aborted without sending anything`,
  },
  {
    id: 'abort-while-connecting',
    fault: 'The caller aborts as the server accepts the TCP connection, before the request is read',
    behaviour: '`AbortError`; the connection is closed, no request completes',
    test: `${A}aborts a call while its connection is being opened`,
  },
  {
    id: 'abort-waiting-for-headers',
    fault: 'The caller aborts while the server holds back the headers',
    behaviour: '`AbortError` code `aborted`, 1 attempt',
    test: `${A}aborts a call waiting for its response headers`,
  },
  {
    id: 'abort-during-backoff',
    fault: 'The caller aborts during a 10 s `retry-after-ms` backoff after a 503',
    behaviour: '`AbortError` at once; no second request',
    test: `${A}aborts a call during its retry backoff without a second request`,
  },
  {
    id: 'abort-waiting-first-event',
    fault: 'The caller aborts a stream that only receives pings, before its first event',
    behaviour: '`AbortError` (not a timeout), 1 request',
    test: `${A}aborts a stream waiting for its first event`,
  },
  {
    id: 'abort-mid-stream',
    fault: '`stream.abort()` after two chunks',
    behaviour: 'The pending `next()` and `result()` reject with the same `AbortError`; the server sees the connection close',
    test: `${A}aborts a stream mid-way with stream.abort and closes its connection`,
  },
  {
    id: 'abort-signal-mid-stream',
    fault: 'The caller’s `AbortSignal` fires after two chunks',
    behaviour: '`AbortError` code `aborted`; the server sees the connection close',
    test: `${A}aborts a stream mid-way through its signal and closes its connection`,
  },
  {
    id: 'abort-after-done',
    fault: '`stream.abort()` and the signal fire after `done`',
    behaviour: 'No effect: `result()` still resolves with the full text',
    test: `${A}ignores an abort after the stream is done`,
  },
  {
    id: 'break-mid-stream',
    fault: 'The caller leaves the `for await` loop after the first chunk',
    behaviour: 'The connection is released silently; a later `result()` rejects with `AbortError` `consumer_closed`',
    test: `${A}releases the connection when the caller breaks out of a stream`,
  },
];

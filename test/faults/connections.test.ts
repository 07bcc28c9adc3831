/**
 * Fault matrix: connections. Refused, reset and closed connections, a host that does not resolve, keep-alive
 * sockets the server closed, redirects to other origins, a closed client and the private-network guard.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { expect } from 'vitest';
import { ConfigError, ConnectionError, ServerError } from '../../src/errors.js';
import { startServer } from '../helpers/core.js';
import { closedPort, expectWithin, faultSuite, head, TEST_KEY, TOTAL_MS, type RawConn, useEmulator } from './kit.js';

const { fault, coversTheMatrix } = faultSuite('connections.test.ts');

const emu = useEmulator();

const T = { timeouts: { totalMs: TOTAL_MS } };

const OK = JSON.stringify({
  id: 'chatcmpl-ok', object: 'chat.completion', model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: 'landed' }, finish_reason: 'stop' }],
  usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
});

/** A keep-alive 200 with the OK body. */
function answer(c: RawConn): void {
  c.write(head('200 OK', { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(OK)), connection: 'keep-alive' }) + OK);
}

fault('connection-refused', async (kit) => {
  const port = await closedPort();
  const f = kit.fiber(`http://127.0.0.1:${port}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'ECONNREFUSED', retryable: true, attempts: 3 });
  expect(error.message).not.toContain(TEST_KEY);
  expectWithin(ms, TOTAL_MS);
});

fault('tls-untrusted-certificate', async (kit) => {
  const dir = mkdtempSync(join(tmpdir(), 'llm-fiber-tls-'));
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { encoding: 'utf8' });
  expect(made.status, `openssl: ${made.stderr}`).toBe(0);
  let handshakes = 0;
  const server = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (socket) => socket.end());
  server.on('connection', () => { handshakes++; });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const { port } = server.address() as AddressInfo;
    const f = kit.fiber(`https://127.0.0.1:${port}/v1`, T);
    const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error).toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT', retryable: false, attempts: 1 });
    expect(error.message).toContain('TLS certificate was rejected');
    expect(handshakes).toBe(1);
    expectWithin(ms, TOTAL_MS);
    // Not worth retrying, but another provider's host may work: a fallback is still tried.
    const g = kit.fiber(`https://127.0.0.1:${port}/v1`, {
      ...T,
      baseUrls: { openai: `https://127.0.0.1:${port}/v1`, anthropic: emu.baseUrls.anthropic },
      apiKeys: { openai: TEST_KEY, anthropic: TEST_KEY },
    });
    const r = await g.chat({ messages: 'hi', fallback: ['anthropic:claude-3-5-haiku-latest'] });
    expect(r.provider).toBe('anthropic');
    expect(handshakes).toBe(2);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  }
});

fault('reset-before-first-byte', async (kit) => {
  emu.script({ resetBeforeResponse: true, times: Infinity });
  const f = kit.emuFiber(emu, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'ECONNRESET', retryable: true, attempts: 3 });
  expect(emu.requests).toHaveLength(3);
  expectWithin(ms, TOTAL_MS);
});

fault('close-on-accept', async (kit) => {
  const srv = await kit.raw({ onConnection: (c) => c.socket.end() });
  const f = kit.fiber(`${srv.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'UND_ERR_SOCKET', retryable: true, attempts: 3 });
  expect(srv.connections).toBe(3);
  expectWithin(ms, TOTAL_MS);
});

fault('dns-failure', async (kit) => {
  // RFC 6761: `.invalid` never resolves, so the lookup fails locally and nothing leaves the machine.
  const f = kit.fiber('http://does-not-exist.invalid/v1', T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'ENOTFOUND', retryable: false, attempts: 1 });
  expect(error.message).toContain('does-not-exist.invalid');
  expectWithin(ms, TOTAL_MS);
});

fault('keep-alive-closed-idle', async (kit) => {
  const srv = await kit.raw({
    onRequest(c) {
      answer(c);
      // The first connection goes idle, then the server closes it (a keep-alive timeout on its side).
      if (c.index === 0) c.later(20, () => c.socket.end());
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  expect((await f.chat({ messages: 'one' })).attempts).toBe(1);
  await srv.closedConn(0);
  const { value, ms } = await kit.success(f.chat({ messages: 'two' }));
  expect(value).toMatchObject({ text: 'landed', attempts: 1 });
  expect(srv.connections).toBe(2);
  expect(srv.requests.map((r) => r.conn)).toEqual([0, 1]);
  expectWithin(ms, TOTAL_MS);
});

fault('stale-pooled-socket', async (kit) => {
  const srv = await kit.raw({
    onRequest(c, req) {
      // A second request on a reused connection arrives just as the server gives up on that connection: no
      // answer, the socket closes (what a keep-alive timeout racing the client's reuse looks like).
      if (srv.requests.filter((r) => r.conn === req.conn).length > 1) { c.socket.destroy(); return; }
      answer(c);
    },
  });
  const f = kit.fiber(`${srv.url}/v1`, T);
  expect((await f.chat({ messages: 'one' })).attempts).toBe(1);
  // Let the pool take the connection back as idle, so the next call reuses it.
  await new Promise((r) => setTimeout(r, 20));
  const { value, ms } = await kit.success(f.chat({ messages: 'two' }));
  expect(value).toMatchObject({ text: 'landed', attempts: 2 });
  expect(srv.requests.map((r) => r.conn)).toEqual([0, 0, 1]);
  expect(srv.connections).toBe(2);
  expectWithin(ms, TOTAL_MS);
});

/** `a` redirects its `/v1` calls to `b`; `/loop/v1` redirects to itself. */
async function redirectPair(kit: { onClose(fn: () => Promise<void>): void }) {
  const b = await startServer((_i, _req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.end(OK); });
  const a = await startServer((_i, req, res) => {
    if (req.url === '/v1/chat/completions') { res.writeHead(307, { location: `${b.url}/v1/chat/completions` }); res.end(); return; }
    if (req.url === '/loop/v1/chat/completions') { res.writeHead(302, { location: '/loop/v1/chat/completions' }); res.end(); return; }
    res.writeHead(404);
    res.end();
  });
  kit.onClose(() => a.close());
  kit.onClose(() => b.close());
  return { a, b };
}

fault('redirect-cross-origin-default', async (kit) => {
  const { a, b } = await redirectPair(kit);
  const f = kit.fiber(`${a.url}/v1`, T);
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'redirect_not_followed', status: 307, retryable: false, attempts: 1 });
  expect(error.message).toContain(b.url);
  expect(error.message).not.toContain('/chat/completions');
  expect(a.requests).toHaveLength(1);
  expect(b.requests).toHaveLength(0);
  expectWithin(ms, TOTAL_MS);
});

fault('redirect-cross-origin-followed', async (kit) => {
  const { a, b } = await redirectPair(kit);
  const f = kit.fiber(`${a.url}/v1`, { ...T, followRedirects: true });
  const { value, ms } = await kit.success(f.chat({ messages: 'hi' }));
  expect(value).toMatchObject({ text: 'landed', attempts: 1 });
  expect(a.requests[0]!.headers.authorization).toBe(`Bearer ${TEST_KEY}`);
  expect(b.requests).toHaveLength(1);
  expect(b.requests[0]!.headers.authorization).toBeUndefined();
  expect(JSON.stringify(b.requests[0]!.headers)).not.toContain(TEST_KEY);
  expect(b.requests[0]!.method).toBe('POST');
  expect(JSON.parse(b.requests[0]!.body).messages).toEqual([{ role: 'user', content: 'hi' }]);
  expectWithin(ms, TOTAL_MS);
});

fault('redirect-loop', async (kit) => {
  const { a } = await redirectPair(kit);
  const f = kit.fiber(`${a.url}/loop/v1`, { ...T, followRedirects: true });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ServerError);
  expect(error).toMatchObject({ code: 'too_many_redirects', status: 302, attempts: 1 });
  expect(a.requests).toHaveLength(6);
  expectWithin(ms, TOTAL_MS);
});

fault('closed-fiber', async (kit) => {
  const f = kit.emuFiber(emu, T);
  await f.close();
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConnectionError);
  expect(error).toMatchObject({ code: 'closed' });
  expect(emu.requests).toHaveLength(0);
  expectWithin(ms, TOTAL_MS);
});

fault('private-network-blocked', async (kit) => {
  const srv = await kit.raw({ onRequest: answer });
  const f = kit.fiber(`${srv.url}/v1`, { ...T, blockPrivateNetworks: true });
  const { error, ms } = await kit.failure(f.chat({ messages: 'hi' }));
  expect(error).toBeInstanceOf(ConfigError);
  expect(error).toMatchObject({ code: 'private_network_blocked', retryable: false });
  expect(srv.connections).toBe(0);
  expectWithin(ms, TOTAL_MS);
});

coversTheMatrix();

import { defineConfig } from 'tsup';

// One entry per public subpath. ESM output shares the core through code splitting; the CJS output is a real
// CommonJS build (not require(esm)), and error brands keep `instanceof` working if a chunk is duplicated.
export default defineConfig({
  entry: {
    index: 'src/index.ts',
    middleware: 'middleware/index.ts',
    providers: 'providers/index.ts',
    testing: 'src/testing/index.ts',
    otel: 'src/integrations/otel.ts',
    statsd: 'src/integrations/statsd.ts',
    redis: 'src/integrations/redis.ts',
  },
  format: ['esm', 'cjs'],
  dts: true,
  splitting: true,
  sourcemap: false,
  clean: true,
  target: 'node20',
  platform: 'node',
  treeshake: true,
  external: [/^undici(\/|$)/, '@opentelemetry/api', 'hot-shots', 'pino', 'js-tiktoken', 'redis', 'ioredis', 'zod'],
});

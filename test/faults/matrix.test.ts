/**
 * The fault matrix is honest: at least 40 distinct faults, every row names a test that exists (in the file it
 * names, defined from that row), test names are sentences, and `docs/reliability.md` shows the same list.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MATRIX } from './matrix.js';
import { renderTable, tableIn } from './print-matrix.js';

const DIR = fileURLToPath(new URL('.', import.meta.url));
const DOC = fileURLToPath(new URL('../../docs/reliability.md', import.meta.url));
const testFiles = readdirSync(DIR).filter((f) => f.endsWith('.test.ts') && f !== 'matrix.test.ts');

describe('the fault matrix', () => {
  it('lists at least 40 distinct faults with unique ids and unique tests', () => {
    expect(MATRIX.length).toBeGreaterThanOrEqual(40);
    expect(new Set(MATRIX.map((r) => r.id)).size).toBe(MATRIX.length);
    expect(new Set(MATRIX.map((r) => r.test)).size).toBe(MATRIX.length);
    expect(new Set(MATRIX.map((r) => r.fault)).size).toBe(MATRIX.length);
    for (const r of MATRIX) {
      expect(r.id, r.id).toMatch(/^[a-z0-9]+(?:-[a-z0-9]+)*$/);
      expect(r.fault.length, r.id).toBeGreaterThan(10);
      expect(r.behaviour.length, r.id).toBeGreaterThan(10);
    }
  });

  it('names, for every row, a test file of this folder that defines that row exactly once', () => {
    const sources = new Map(testFiles.map((f) => [f, readFileSync(`${DIR}${f}`, 'utf8')]));
    for (const r of MATRIX) {
      const sep = r.test.indexOf(' > ');
      expect(sep, r.id).toBeGreaterThan(0);
      const file = r.test.slice(0, sep);
      const source = sources.get(file);
      expect(source, `${r.id}: ${file} is not a test file in test/faults`).toBeDefined();
      // `faultSuite(file).fault(id, ...)` names the test after the row, and each file's last test checks that
      // it defined every row naming it: together they prove the named test exists and runs.
      expect(source!.split(`fault('${r.id}'`).length - 1, `${r.id} in ${file}`).toBe(1);
      expect(source).toContain(`faultSuite('${file}')`);
    }
  });

  it('names every test as a sentence', () => {
    for (const r of MATRIX) {
      const name = r.test.slice(r.test.indexOf(' > ') + 3);
      expect(name, r.id).toMatch(/^[a-z].*[^.\s]$/);
      expect(name.split(' ').length, r.id).toBeGreaterThanOrEqual(5);
    }
  });

  it('is the table in docs/reliability.md (regenerate with test/faults/print-matrix.ts)', () => {
    const doc = readFileSync(DOC, 'utf8');
    expect(tableIn(doc), 'docs/reliability.md is out of date: run the command in test/faults/print-matrix.ts').toBe(renderTable(MATRIX));
  });
});

/**
 * Renders the fault matrix (`matrix.ts`) as the Markdown table in `docs/reliability.md`, between the
 * `fault-matrix:start` / `fault-matrix:end` markers. `matrix.test.ts` fails when the document and the list differ.
 *
 * Regenerate the table (from the repository root; esbuild ships with the dev dependencies):
 *
 *   npx esbuild test/faults/print-matrix.ts --bundle --platform=node --format=esm --log-level=warning \
 *     --outfile=/tmp/print-matrix.mjs && node /tmp/print-matrix.mjs --write
 *
 * Without `--write` it prints the table to stdout.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MATRIX, type FaultRow } from './matrix.js';

export const START_MARKER = '<!-- fault-matrix:start: generated from test/faults/matrix.ts by test/faults/print-matrix.ts; edit the list, not this table -->';
export const END_MARKER = '<!-- fault-matrix:end -->';

/** A table cell: no pipes or line breaks can escape it. */
function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

/** The Markdown table: one row per fault, its behaviour and its test (linked to the file). */
export function renderTable(rows: readonly FaultRow[] = MATRIX): string {
  const lines = [
    '| # | Id | Fault | Behaviour | Test |',
    '| --- | --- | --- | --- | --- |',
  ];
  rows.forEach((row, i) => {
    const sep = row.test.indexOf(' > ');
    const file = row.test.slice(0, sep);
    const name = row.test.slice(sep + 3);
    const test = `[\`${file}\`](../test/faults/${file}) › ${name}`;
    lines.push(`| ${i + 1} | \`${row.id}\` | ${cell(row.fault)} | ${cell(row.behaviour)} | ${cell(test)} |`);
  });
  return lines.join('\n');
}

/** `doc` with the text between the markers replaced by `table`. Throws when the markers are missing. */
export function replaceTable(doc: string, table: string): string {
  const start = doc.indexOf(START_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start < 0 || end < start) throw new Error('docs/reliability.md: fault-matrix markers not found');
  return `${doc.slice(0, start + START_MARKER.length)}\n${table}\n${doc.slice(end)}`;
}

/** The table as it stands in `doc` (between the markers), or null. */
export function tableIn(doc: string): string | null {
  const start = doc.indexOf(START_MARKER);
  const end = doc.indexOf(END_MARKER);
  if (start < 0 || end < start) return null;
  return doc.slice(start + START_MARKER.length, end).trim();
}

function main(argv: readonly string[]): void {
  const table = renderTable();
  if (!argv.includes('--write')) {
    process.stdout.write(table + '\n');
    return;
  }
  const path = resolve(process.cwd(), 'docs/reliability.md');
  writeFileSync(path, replaceTable(readFileSync(path, 'utf8'), table));
  process.stdout.write(`wrote ${MATRIX.length} rows to ${path}\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main(process.argv.slice(2));

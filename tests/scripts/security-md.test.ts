import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../support/build';

/**
 * SECURITY.md's threat table must point at tests that exist: each row names a
 * test file and the exact title of a test (or describe block) inside it. The
 * suite itself proves they pass; this proves the table cannot drift from it.
 */
const doc = readFileSync(join(PROJECT_ROOT, 'SECURITY.md'), 'utf8');
const table = doc.slice(doc.indexOf('## Threat table'));
const rows = table
  .split('\n')
  .filter((line) => line.startsWith('| ') && line.includes('` › '))
  .map((line) => {
    const match = /`(tests\/[^`]+\.test\.ts)` › (.+?) \|$/.exec(line);
    if (!match) throw new Error(`unparseable threat row: ${line}`);
    return { file: match[1], title: match[2].replace(/\\\|/g, '|'), threat: line.split(' | ')[0].slice(2) };
  });

describe('SECURITY.md threat table', () => {
  it('has a row for every control family', () => {
    expect(rows.length).toBeGreaterThanOrEqual(30);
  });

  it.each(rows.map((r) => [r.threat, r.file, r.title]))('%s → %s names a test that exists', (_threat, file, title) => {
    const source = readFileSync(join(PROJECT_ROOT, file), 'utf8');
    // The title appears as a string literal: '…', "…" or `…`.
    const literal = [`'${title.replace(/'/g, "\\'")}'`, `"${title}"`, `\`${title}\``];
    expect(literal.some((l) => source.includes(l)), `${file} has no test titled ${title}`).toBe(true);
  });
});

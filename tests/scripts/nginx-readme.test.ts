import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CALLS_MAX_BODY_BYTES } from '@/lib/config/calls';
import { PROJECT_ROOT } from '../support/build';

/**
 * The nginx configuration the README shows is deploy/nginx.conf, the file
 * tests/e2e/nginx*.test.ts run: every part of the README's ```nginx block
 * (parts are separated by `# …` lines) is a run of whole, consecutive lines
 * of the file, in the file's order. So neither can change without the other.
 */
const readme = readFileSync(join(PROJECT_ROOT, 'README.md'), 'utf8');
const conf = readFileSync(join(PROJECT_ROOT, 'deploy/nginx.conf'), 'utf8');
const ELISION = '# …';

function nginxBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```nginx\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** Index of the line where `part` starts as whole consecutive lines of `lines`, searching from `from`. */
function findRun(lines: readonly string[], part: readonly string[], from: number): number {
  for (let i = from; i + part.length <= lines.length; i++) if (part.every((line, k) => lines[i + k] === line)) return i;
  return -1;
}

describe('README nginx block', () => {
  const blocks = nginxBlocks(readme);

  it('there is exactly one, in "Production setups", and it names the file and its tests', () => {
    expect(blocks).toHaveLength(1);
    const section = readme.slice(readme.indexOf('## Production setups'), readme.indexOf('\n## ', readme.indexOf('## Production setups') + 1));
    expect(nginxBlocks(section)).toHaveLength(1);
    for (const name of ['deploy/nginx.conf', 'tests/e2e/nginx.test.ts', 'tests/e2e/nginx-forwarding.test.ts']) expect(section).toContain(name);
  });

  it('every part is copied verbatim from deploy/nginx.conf, in order', () => {
    const lines = conf.split('\n');
    const parts = blocks[0].replace(/\n$/, '').split('\n').reduce<string[][]>((acc, line) => {
      if (line === ELISION) acc.push([]);
      else acc[acc.length - 1].push(line);
      return acc;
    }, [[]]);
    expect(parts.every((p) => p.length > 0), 'no empty part').toBe(true);
    let at = 0;
    for (const part of parts) {
      const found = findRun(lines, part, at);
      expect(found, `README part not in deploy/nginx.conf (after line ${at}):\n${part.join('\n')}`).toBeGreaterThanOrEqual(0);
      at = found + part.length;
    }
  });

  it('shows the lines the app depends on', () => {
    for (const line of [
      'proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;',
      'client_max_body_size 64k;',
      'limit_conn perip 64;',
      'proxy_set_header x-middleware-subrequest "";',
    ]) expect(blocks[0]).toContain(line);
  });
});

describe('deploy/nginx.conf and the app agree', () => {
  it('its body cap is the largest body any route accepts (CALLS_MAX_BODY_BYTES)', () => {
    expect(conf).toContain(`client_max_body_size ${CALLS_MAX_BODY_BYTES / 1024}k;`);
    expect(conf).toContain(`client_body_buffer_size ${CALLS_MAX_BODY_BYTES / 1024}k;`);
  });
});

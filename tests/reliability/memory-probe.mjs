/**
 * Test-only preload for the server under soak (NODE_OPTIONS=--import=<this
 * file>); the server's own code is not touched. Once a second it appends
 * `process.memoryUsage()` to MEMORY_PROBE_FILE. Every MEMORY_PROBE_GC_EVERY-th
 * sample (default 5) is taken right after a full garbage collection and
 * marked `retained`: V8 lets garbage pile up to hundreds of MB between major
 * collections, so only those samples tell a leak from uncollected garbage.
 */
import { appendFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const file = process.env.MEMORY_PROBE_FILE;
const gcEvery = Number(process.env.MEMORY_PROBE_GC_EVERY ?? 5);

if (file) {
  // --expose-gc is not allowed in NODE_OPTIONS on Node 20; this is the documented way around it.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  let n = 0;
  setInterval(() => {
    const retained = gcEvery > 0 && ++n % gcEvery === 0;
    if (retained) gc();
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
    appendFileSync(file, `${JSON.stringify({ t: Date.now(), rss, heapUsed, heapTotal, external, arrayBuffers, retained })}\n`);
  }, 1000).unref();
}

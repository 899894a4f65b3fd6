import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLifecycleLog, guardStdout } from '@/server/log';

const NOW = () => Date.parse('2026-12-01T10:00:00.000Z');

/** A stand-in for process.stdout that records what reaches the file descriptor. */
function fakeStdout(): { stream: NodeJS.WriteStream; written: () => string } {
  let out = '';
  const stream = new Writable({
    write(chunk, _enc, done) {
      out += String(chunk);
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  return { stream, written: () => out };
}

describe('lifecycle lines', () => {
  it('are one JSON object with timestamp, level, event, message and the fields, sanitized', () => {
    const lines: string[] = [];
    const log = createLifecycleLog((line) => lines.push(line), NOW);
    log('info', 'server_started', 'listening', { port: 3000, token: 'secret', note: 'a\nb' });
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0])).toEqual({
      timestamp: '2026-12-01T10:00:00.000Z',
      level: 'info',
      event: 'server_started',
      message: 'listening',
      port: 3000,
      token: '[REDACTED]',
      note: 'a\\u000ab',
    });
  });
});

describe('guardStdout', () => {
  it('passes JSON lines through untouched and wraps everything else', () => {
    const { stream, written } = fakeStdout();
    const release = guardStdout(stream, NOW);
    stream.write('{"timestamp":"x","level":"info","event":"e","message":"m"}\n');
    stream.write(' \u001b[32m✓\u001b[39m Ready in 120ms\n');
    stream.write(Buffer.from('two\nlines\n'));
    stream.write('{ not: json }\n');
    stream.write('part');
    stream.write('ial\n');
    release();
    const lines = written().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toEqual({ timestamp: 'x', level: 'info', event: 'e', message: 'm' });
    expect(lines.slice(1).map((l) => l.message)).toEqual([' ✓ Ready in 120ms', 'two', 'lines', '{ not: json }', 'partial']);
    for (const line of lines.slice(1)) expect(line).toMatchObject({ timestamp: '2026-12-01T10:00:00.000Z', level: 'info', event: 'stdout_text' });
  });

  it('survives its reader going away (EPIPE) instead of crashing the process', async () => {
    const stream = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    }) as unknown as NodeJS.WriteStream;
    const release = guardStdout(stream, NOW);
    stream.write('{"a":1}\n');
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.listenerCount('error')).toBe(1);
    release();
  });

  it('holds the JSON lines of one turn and writes them in one write, in order, with their callbacks', async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _enc, done) {
        chunks.push(String(chunk));
        done();
      },
    }) as unknown as NodeJS.WriteStream;
    const release = guardStdout(stream, NOW);
    let called = 0;
    stream.write('{"n":1}\n');
    stream.write('{"n":2}\n', () => called++);
    expect(chunks).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(chunks).toEqual(['{"n":1}\n{"n":2}\n']);
    expect(called).toBe(1);
    // Plain text writes what is held first, so lines keep their order.
    stream.write('{"n":3}\n');
    stream.write('plain\n');
    expect(chunks.slice(1).join('').split('\n').filter(Boolean).map((l) => JSON.parse(l).n ?? JSON.parse(l).message)).toEqual([3, 'plain']);
    stream.write('{"n":4}\n');
    release();
    expect(chunks.at(-1)).toBe('{"n":4}\n');
  });

  it('flushes an unterminated line when released, and restores the stream', () => {
    const { stream, written } = fakeStdout();
    const original = stream.write;
    const release = guardStdout(stream, NOW);
    stream.write('no newline');
    release();
    expect(stream.write).toBe(original);
    expect(JSON.parse(written().trim())).toMatchObject({ event: 'stdout_text', message: 'no newline' });
  });
});

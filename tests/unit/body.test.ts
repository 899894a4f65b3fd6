import { describe, expect, it } from 'vitest';
import { BodyTooLargeError, decodeUtf8, readCapped } from '@/lib/body';

/** A stream that yields `chunks` and records whether the reader cancelled it. */
function streamOf(chunks: Uint8Array[]) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (state.pulled < chunks.length) controller.enqueue(chunks[state.pulled++]);
      else controller.close();
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

/** An endless stream, as a client that never stops sending would be. */
function endless(chunkSize = 1024) {
  const state = { pulled: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      state.pulled++;
      controller.enqueue(new Uint8Array(chunkSize).fill(0x61));
    },
    cancel() {
      state.cancelled = true;
    },
  });
  return { stream, state };
}

const bytes = (n: number) => new Uint8Array(n).fill(0x7b);

describe('readCapped', () => {
  it('a missing body reads as empty', async () => {
    expect(await readCapped(null, 16)).toEqual(new Uint8Array(0));
  });

  it.each([
    ['empty', [], 0],
    ['one chunk under the cap', [bytes(10)], 10],
    ['exactly the cap in one chunk', [bytes(16)], 16],
    ['exactly the cap over many chunks', [bytes(5), bytes(5), bytes(6)], 16],
    ['empty chunks', [bytes(0), bytes(3), bytes(0)], 3],
  ])('%s is read whole', async (_label, chunks, total) => {
    const { stream } = streamOf(chunks);
    const out = await readCapped(stream, 16);
    expect(out.byteLength).toBe(total);
  });

  it('concatenates chunks in order', async () => {
    const { stream } = streamOf([new Uint8Array([1, 2]), new Uint8Array([3]), new Uint8Array([4, 5, 6])]);
    expect([...(await readCapped(stream, 100))]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it.each([
    ['one byte over in one chunk', [bytes(17)]],
    ['one byte over across chunks', [bytes(8), bytes(8), bytes(1)]],
    ['far over', [bytes(1_000_000)]],
  ])('%s throws BodyTooLargeError and cancels the stream', async (_label, chunks) => {
    const { stream, state } = streamOf([...chunks, bytes(1)]);
    await expect(readCapped(stream, 16)).rejects.toBeInstanceOf(BodyTooLargeError);
    expect(state.cancelled).toBe(true);
  });

  it('stops reading an endless body as soon as the cap is passed', async () => {
    const { stream, state } = endless(1024);
    await expect(readCapped(stream, 16 * 1024)).rejects.toThrow(BodyTooLargeError);
    expect(state.cancelled).toBe(true);
    // 16 chunks fit; the 17th passes the cap. A little read-ahead is all that is allowed.
    expect(state.pulled).toBeLessThanOrEqual(20);
  });

  it('the error names the cap, not the content', async () => {
    const { stream } = streamOf([new TextEncoder().encode('CANARY-body-content'.repeat(10))]);
    const error = await readCapped(stream, 16).catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(BodyTooLargeError);
    expect((error as Error).message).toBe('body exceeds 16 bytes');
    expect((error as Error).name).toBe('BodyTooLargeError');
  });

  it('releases the reader so the stream is not left locked', async () => {
    const { stream } = streamOf([bytes(4)]);
    await readCapped(stream, 16);
    expect(stream.locked).toBe(false);
  });

  it('works on a real Request body', async () => {
    const req = new Request('http://localhost/api', { method: 'POST', body: 'x'.repeat(20_000) });
    await expect(readCapped(req.body, 16_384)).rejects.toBeInstanceOf(BodyTooLargeError);
    const ok = new Request('http://localhost/api', { method: 'POST', body: '{"voice":"alloy"}' });
    expect(decodeUtf8(await readCapped(ok.body, 16_384))).toBe('{"voice":"alloy"}');
  });
});

describe('decodeUtf8', () => {
  it.each([
    ['ASCII', [0x7b, 0x7d], '{}'],
    ['two-byte', [0xc3, 0xa9], 'é'],
    ['three-byte', [0xe6, 0x97, 0xa5], '日'],
    ['four-byte (emoji)', [0xf0, 0x9f, 0x98, 0x80], '😀'],
    ['empty', [], ''],
    ['BOM is dropped', [0xef, 0xbb, 0xbf, 0x7b, 0x7d], '{}'],
    ['NUL is valid UTF-8', [0x00], '\u0000'],
  ])('decodes %s', (_label, input, expected) => {
    expect(decodeUtf8(new Uint8Array(input))).toBe(expected);
  });

  it.each([
    ['lone continuation byte', [0x80]],
    ['invalid byte 0xff', [0x7b, 0xff, 0x7d]],
    ['invalid byte 0xfe', [0xfe]],
    ['overlong "/" (0xc0 0xaf)', [0xc0, 0xaf]],
    ['overlong NUL (0xc0 0x80)', [0xc0, 0x80]],
    ['overlong three-byte', [0xe0, 0x80, 0xaf]],
    ['UTF-16 surrogate encoded (CESU-8)', [0xed, 0xa0, 0x80]],
    ['code point above U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ['truncated two-byte sequence', [0x7b, 0xc3]],
    ['truncated four-byte sequence', [0xf0, 0x9f, 0x98]],
    ['Latin-1 text', [0x63, 0x61, 0x66, 0xe9]],
  ])('refuses %s', (_label, input) => {
    expect(decodeUtf8(new Uint8Array(input))).toBeUndefined();
  });

  it('recovers after a refusal (the shared decoder keeps no state)', () => {
    expect(decodeUtf8(new Uint8Array([0xf0, 0x9f]))).toBeUndefined();
    expect(decodeUtf8(new Uint8Array([0x98, 0x80]))).toBeUndefined();
    expect(decodeUtf8(new TextEncoder().encode('ok'))).toBe('ok');
  });
});

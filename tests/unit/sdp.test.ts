import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SDP_LIMITS, validateSdp } from '@/lib/sdp';

/** lib/sdp.ts at its bounds: each limit admits exactly its number and refuses one more. */

const HEAD = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0'];
const AUDIO = ['m=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=rtpmap:111 opus/48000/2'];
const DATA = 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel';
const CANDIDATE = 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host';
const sdp = (...lines: string[]) => `${[...HEAD, ...AUDIO, ...lines].join('\r\n')}\r\n`;

describe('validateSdp', () => {
  it('accepts a minimal offer and rebuilds it with CRLF whatever the input used', () => {
    const crlf = sdp();
    expect(validateSdp(crlf)).toEqual({ ok: true, sdp: crlf, mediaSections: 1, candidates: 0 });
    expect(validateSdp(crlf.replace(/\r\n/g, '\n'))).toMatchObject({ ok: true, sdp: crlf });
    expect(validateSdp(crlf.slice(0, -2))).toMatchObject({ ok: true, sdp: crlf });
  });

  it.each([
    ['candidates', (n: number) => sdp(...Array(n).fill(CANDIDATE)), SDP_LIMITS.maxCandidates, 'too_many_candidates'],
    ['media sections', (n: number) => sdp(...Array(n - 1).fill(DATA)), SDP_LIMITS.maxMediaSections, 'too_many_media_sections'],
    ['lines', (n: number) => sdp(...Array(n - HEAD.length - AUDIO.length).fill('a=x')), SDP_LIMITS.maxLines, 'too_many_lines'],
    ['line length', (n: number) => sdp(`a=${'x'.repeat(n - 2)}`), SDP_LIMITS.maxLineChars, 'line_too_long'],
  ] as const)('%s: exactly the limit passes, one more is refused', (_label, make, limit, problem) => {
    expect(validateSdp(make(limit)).ok).toBe(true);
    expect(validateSdp(make(limit + 1))).toEqual({ ok: false, problem });
  });

  it('refuses a description over the size bound before looking at its lines', () => {
    const big = sdp(...Array(40).fill(`a=${'x'.repeat(900)}`));
    expect(big.length).toBeGreaterThan(SDP_LIMITS.maxChars);
    expect(validateSdp(big)).toEqual({ ok: false, problem: 'too_long' });
    expect(validateSdp('')).toEqual({ ok: false, problem: 'empty' });
  });

  it.each(['\u0000', '\t', '\u007f', '\u0085', '\u2028', '\u202e', '\ufeff', 'é'])('refuses %j anywhere in a line', (ch) => {
    expect(validateSdp(sdp(`a=tool:x${ch}y`))).toEqual({ ok: false, problem: 'control_character' });
  });
});

describe('whatever comes in, what goes out is validated lines only', () => {
  const line = fc.oneof(
    fc.constantFrom(...AUDIO, DATA, CANDIDATE, 'a=mid:0', '', '--boundary', 'k=clear:x', 'x=y', 'a=x\u0000', 'm=video 9 RTP/AVP 0'),
    fc.string({ maxLength: 40 }),
  );
  it('every accepted description re-validates to itself, is printable ASCII with CRLF, and has no line a multipart parser could take for a boundary', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 30 }), fc.constantFrom('\r\n', '\n', '\r'), (lines, eol) => {
        const result = validateSdp([...HEAD, ...AUDIO, ...lines].join(eol));
        if (!result.ok) return;
        expect(validateSdp(result.sdp)).toEqual(result);
        expect(result.sdp).toMatch(/^(?:[a-z]=[\x20-\x7e]*\r\n)+$/);
        expect(result.sdp.split('\r\n').some((l) => l.startsWith('--'))).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

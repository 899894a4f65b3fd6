import { describe, expect, it } from 'vitest';
import { SDP_LIMITS, validateSdp } from '@/lib/sdp';
import { callsHarness, offer, placeCall } from './calls-helpers';

/**
 * Hostile offers (lib/sdp.ts): each is refused with 400 before anything
 * reaches OpenAI, and the log names the problem, never the text.
 */

const h = callsHarness();

const CANDIDATE = 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host';
const withLines = (lines: string[]) => offer().replace('a=mid:0\r\n', `a=mid:0\r\n${lines.join('\r\n')}\r\n`);

const HOSTILE: Array<[label: string, sdp: () => string, problem: string]> = [
  ['not SDP: plain text', () => 'hello, this is not a session description', 'not_sdp'],
  ['not SDP: HTML', () => '<html><body>v=0</body></html>', 'not_sdp'],
  ['not SDP: v=1', () => offer().replace(/^v=0/, 'v=1'), 'not_sdp'],
  ['not SDP: no origin line', () => offer().replace(/\r\no=[^\r]*/, ''), 'not_sdp'],
  ['binary: a NUL byte', () => withLines(['a=tool:\u0000']), 'control_character'],
  ['binary: raw bytes beyond ASCII', () => withLines(['a=x-data:\u00ff\u00fe\u0080']), 'control_character'],
  ['binary: an escape sequence', () => withLines(['s=\u001b[31mred']), 'control_character'],
  ['injected: a multipart boundary and a part header', () => withLines(['--rtg-boundary', 'Content-Disposition: form-data; name="session"']), 'unknown_line_type'],
  ['injected: an HTTP header line', () => withLines(['Authorization: Bearer sk-stolen']), 'unknown_line_type'],
  ['injected: a k= line (keys in clear, RFC 8866 §5.12)', () => withLines(['k=clear:secret']), 'unknown_line_type'],
  ['injected: an unknown line type', () => withLines(['x=anything']), 'unknown_line_type'],
  ['injected: an empty line mid-description', () => withLines(['']), 'unknown_line_type'],
  ['injected: a lone CR', () => withLines(['a=ok\ra=smuggled']), 'line_endings'],
  ['injected: mixed CRLF and LF', () => offer().replace('\r\ns=', '\ns='), 'line_endings'],
  ['a video section', () => `${offer()}m=video 9 UDP/TLS/RTP/SAVPF 96\r\n`, 'media_line'],
  ['a malformed m= line', () => `${offer()}m=audio nine RTP\r\n`, 'media_line'],
  ['too many media sections', () => offer() + 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n'.repeat(SDP_LIMITS.maxMediaSections), 'too_many_media_sections'],
  [`${SDP_LIMITS.maxCandidates + 1} candidates`, () => withLines(Array(SDP_LIMITS.maxCandidates + 1).fill(CANDIDATE)), 'too_many_candidates'],
  ['a line over 1024 characters', () => withLines([`a=fmtp:111 ${'x'.repeat(1100)}`]), 'line_too_long'],
  ['no audio section', () => offer().replace(/m=audio[\s\S]*?(?=m=application)/, ''), 'no_audio'],
];

describe('hostile SDP offers are refused with 400 sdp_invalid, nothing sent upstream', () => {
  it.each(HOSTILE)('%s', async (_label, sdp, problem) => {
    const text = sdp();
    expect(validateSdp(text)).toEqual({ ok: false, problem });
    const res = await placeCall({ body: { sdp: text } });
    expect([res.status, res.body?.error]).toEqual([400, 'sdp_invalid']);
    expect(h.upstream.requests).toHaveLength(0);
    const [line] = h.events('input_validation_failed');
    expect(line.metadata).toEqual({ code: 'sdp_invalid', problem });
    expect(JSON.stringify(h.entries())).not.toContain(text.slice(0, 40));
  });
});

describe('offers that do not fit the request', () => {
  it('thousands of candidates: over the 64 KiB body cap, 413 before parsing', async () => {
    const res = await placeCall({ body: { sdp: withLines(Array(3000).fill(CANDIDATE)) } });
    expect([res.status, res.body?.error]).toEqual([413, 'body_too_large']);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('an offer longer than the SDP bound but within the body cap: 400 body_invalid', async () => {
    const res = await placeCall({ body: { sdp: withLines(Array(40).fill(`a=x-pad:${'p'.repeat(1000)}`)) } });
    expect([res.status, res.body?.error]).toEqual([400, 'body_invalid']);
    expect(res.body?.issues).toEqual([{ field: 'sdp', message: `must be at most ${SDP_LIMITS.maxChars} characters` }]);
  });

  it.each([
    ['missing', {}],
    ['a number', { sdp: 42 }],
    ['an object', { sdp: { type: 'offer', sdp: 'v=0' } }],
    ['empty', { sdp: '' }],
  ])('sdp %s: 400 body_invalid', async (_label, body) => {
    const res = await placeCall({ body });
    expect([res.status, res.body?.error]).toEqual([400, 'body_invalid']);
    expect(h.upstream.requests).toHaveLength(0);
  });

  it('a real browser-style offer passes, LF lines are rebuilt as CRLF, and what goes upstream is exactly the validated text', async () => {
    const lf = offer().replace(/\r\n/g, '\n');
    const result = validateSdp(lf);
    expect(result).toMatchObject({ ok: true, sdp: offer(), mediaSections: 2 });
    expect((await placeCall({ body: { sdp: lf } })).status).toBe(201);
    const upstreamCall = [...h.upstream.calls.calls.values()][0];
    expect(upstreamCall.multipart.sdp.body).toBe(offer());
  });
});

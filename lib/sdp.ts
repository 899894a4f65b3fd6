/**
 * SDP checked as text before it goes to OpenAI (an offer from the browser) or
 * back to the browser (OpenAI's answer). The grammar is RFC 8866 §5 and §9:
 * `<type>=<value>` lines, `v=0` first. What passes is rebuilt with CRLF line
 * ends, so nothing but validated lines ever leaves this module.
 *
 * The bounds sit well above what a browser sends for one audio track and the
 * `oai-events` data channel (two media sections, a handful of candidates,
 * 3-8 KB) and far below what would make OpenAI or the browser do real work.
 */

export const SDP_LIMITS = {
  /** Characters of the whole description. */
  maxChars: 32_768,
  maxLines: 400,
  maxLineChars: 1024,
  /** `m=` sections: the voice app needs audio and one data channel. */
  maxMediaSections: 4,
  /** `a=candidate:` lines over all sections (RFC 8839 §5.1). */
  maxCandidates: 64,
} as const;

/**
 * RFC 8866 §5 line types, less `k=` (obsolete, §5.12: it carried keys in clear)
 * and with nothing unknown: a line of any other type is refused, not skipped.
 */
const LINE_TYPES = new Set(['v', 'o', 's', 'i', 'u', 'e', 'p', 'c', 'b', 't', 'r', 'z', 'a', 'm']);

/** Printable ASCII only: no NUL, no other C0 control, no DEL, nothing beyond ASCII. */
const PRINTABLE = /^[\x20-\x7e]*$/;

/** `m=<media> <port> <proto> <fmt> …` (RFC 8866 §5.14); only the media kinds a voice call uses. */
const MEDIA_LINE = /^m=(audio|application) \d{1,5}(\/\d{1,3})? [A-Za-z0-9/_.-]{1,64}( [A-Za-z0-9_.-]{1,64}){1,64}$/;

export type SdpProblem =
  | 'empty'
  | 'too_long'
  | 'not_sdp'
  | 'line_endings'
  | 'control_character'
  | 'too_many_lines'
  | 'line_too_long'
  | 'unknown_line_type'
  | 'media_line'
  | 'too_many_media_sections'
  | 'too_many_candidates'
  | 'no_audio';

export type SdpResult = { ok: true; sdp: string; mediaSections: number; candidates: number } | { ok: false; problem: SdpProblem };

const fail = (problem: SdpProblem): SdpResult => ({ ok: false, problem });

/**
 * Validates one session description.
 * @returns the description rebuilt with CRLF line ends, or the first problem found (a name, never the text)
 */
export function validateSdp(text: string): SdpResult {
  if (text.length === 0) return fail('empty');
  if (text.length > SDP_LIMITS.maxChars) return fail('too_long');
  if (!/^v=0\r?\n/.test(text)) return fail('not_sdp');
  // One kind of line end throughout: CRLF (RFC 8866 §5) or LF (which parsers accept), never a lone CR.
  const crlf = text.includes('\r\n');
  const lines = text.split(crlf ? '\r\n' : '\n');
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length > SDP_LIMITS.maxLines) return fail('too_many_lines');

  let media = 0;
  let candidates = 0;
  let audio = false;
  for (const line of lines) {
    if (line.includes('\r') || line.includes('\n')) return fail('line_endings');
    if (!PRINTABLE.test(line)) return fail('control_character');
    if (line.length > SDP_LIMITS.maxLineChars) return fail('line_too_long');
    if (line.length < 2 || line[1] !== '=' || !LINE_TYPES.has(line[0])) return fail('unknown_line_type');
    if (line[0] === 'm') {
      if (!MEDIA_LINE.test(line)) return fail('media_line');
      if (++media > SDP_LIMITS.maxMediaSections) return fail('too_many_media_sections');
      audio ||= line.startsWith('m=audio ');
    } else if (line.startsWith('a=candidate:') && ++candidates > SDP_LIMITS.maxCandidates) {
      return fail('too_many_candidates');
    }
  }
  if (lines[1]?.[0] !== 'o' || lines[2]?.[0] !== 's') return fail('not_sdp');
  if (!audio) return fail('no_audio');
  return { ok: true, sdp: `${lines.join('\r\n')}\r\n`, mediaSections: media, candidates };
}

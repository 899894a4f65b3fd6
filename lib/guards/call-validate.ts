import { refuse } from '../pipeline/refuse';
import { SDP_LIMITS, validateSdp } from '../sdp';
import { createCallRequestSchema, validateTokenRequest } from '../validation';
import { validateGuardWith } from './validate';

/**
 * The call request: the token request's fields against the same allowlists
 * (lib/validation.ts), plus the SDP offer checked as text (lib/sdp.ts). A
 * refused offer is logged with the problem's name, never its text.
 */
export const callValidateGuard = validateGuardWith(
  'call_validate',
  (config) => {
    const schema = createCallRequestSchema(config, SDP_LIMITS.maxChars);
    return (json) => validateTokenRequest(schema, json);
  },
  (ctx, value) => {
    const offer = validateSdp(value.sdp);
    if (!offer.ok) return refuse(ctx, 'sdp_invalid', { message: 'Call offer rejected', metadata: { problem: offer.problem } });
    ctx.body = value.request;
    ctx.offer = offer.sdp;
    return undefined;
  },
  ['sdp_invalid'],
);

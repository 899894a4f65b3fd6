import { shapeGuardWith } from './shape';

/** The calls route's shape: JSON within its own cap (64 KiB: an SDP offer with its candidates). */
export const callsShapeGuard = shapeGuardWith('calls_shape', (config) => config.calls.maxBodyBytes);

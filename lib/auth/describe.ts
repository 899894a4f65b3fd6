import { errors as joseErrors } from 'jose';

/** A short, secret-free reason: jose's stable error code or Clerk's reason. */
export function describeError(error: unknown): string {
  if (error instanceof joseErrors.JOSEError) return error.code;
  if (error && typeof error === 'object' && 'reason' in error && typeof error.reason === 'string') return error.reason;
  return error instanceof Error ? error.name : 'verification failed';
}

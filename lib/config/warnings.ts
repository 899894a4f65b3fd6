import { isLoopbackHost } from './hosts';
import { redisHosts, type RedisConnection } from './redis';
import type { AppConfig } from './index';
import { REALTIME_VOICES } from './schema';

/**
 * Settings that start but deserve the operator's attention. lib/runtime.ts
 * logs each one once, as `config_error` at level `warn`, when the runtime is
 * created; none of them changes what the server does.
 */
export interface ConfigWarning {
  readonly variable: string;
  readonly message: string;
  /** Names and values that are not secrets (voice names, a URL scheme). */
  readonly detail?: Readonly<Record<string, unknown>>;
}

const REALTIME = new Set<string>(REALTIME_VOICES);

/** Whether the Realtime API accepts `voice` (fable, onyx and nova are TTS-only voices it rejects). */
export function isRealtimeVoice(voice: string): boolean {
  return REALTIME.has(voice);
}

export function configWarnings(config: AppConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  const rejected = config.voices.filter((v) => !isRealtimeVoice(v));
  if (rejected.length > 0) {
    warnings.push({
      variable: 'ALLOWED_VOICES',
      message: `ALLOWED_VOICES lists voices the Realtime API does not accept: ${rejected.join(', ')}; requests for them answer 502 upstream_rejected`,
      detail: { rejectedVoices: rejected, realtimeVoices: [...REALTIME_VOICES] },
    });
  }
  if (!isRealtimeVoice(config.defaultVoice)) {
    warnings.push({
      variable: 'DEFAULT_VOICE',
      message: `DEFAULT_VOICE ${config.defaultVoice} is not accepted by the Realtime API; requests without a voice answer 502 upstream_rejected`,
      detail: { defaultVoice: config.defaultVoice },
    });
  }
  if (config.isProduction && config.redis !== undefined) warnings.push(...redisWarnings(config.redis));
  return warnings;
}

/** Cleartext Redis traffic to a host that is not loopback: the limiter's keys and the Redis password cross the network. */
function redisWarnings(redis: RedisConnection): ConfigWarning[] {
  const remote = redisHosts(redis).some((host) => !isLoopbackHost(host));
  if (!remote) return [];
  if (redis.mode === 'single') {
    if (new URL(redis.url).protocol !== 'redis:') return [];
    // The URL may hold a password: only its scheme is reported.
    return [{
      variable: 'REDIS_URL',
      message: 'REDIS_URL uses redis:// to a host that is not loopback: limiter traffic and the Redis password cross the network in cleartext; use rediss://',
      detail: { scheme: 'redis' },
    }];
  }
  if (redis.tls) return [];
  const variable = redis.mode === 'cluster' ? 'REDIS_CLUSTER_NODES' : 'REDIS_SENTINELS';
  return [{
    variable,
    message: `${variable} lists a host that is not loopback and REDIS_TLS is not 1: limiter traffic and the Redis password cross the network in cleartext; set REDIS_TLS=1`,
    detail: { mode: redis.mode, tls: false },
  }];
}

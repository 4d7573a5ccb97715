import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import webpush from 'web-push';
import type { Config } from '../../platform/config.js';
import type { Logger } from '../../platform/logger.js';

export interface VapidKeyPair {
  publicKey: string;
  privateKey: string;
}

/**
 * The VAPID key pair of this deployment: VAPID_PUBLIC_KEY + VAPID_PRIVATE_KEY when set. Otherwise,
 * in development only, a pair generated once and kept in PARLEY_DATA_DIR/vapid.json (browsers bind
 * a subscription to the public key, so it must survive restarts). In production and tests without
 * keys, Web Push is off (undefined).
 */
export function resolveVapidKeys(
  config: Pick<Config, 'VAPID_PUBLIC_KEY' | 'VAPID_PRIVATE_KEY' | 'NODE_ENV' | 'PARLEY_DATA_DIR'>,
  logger?: Logger,
): VapidKeyPair | undefined {
  if (config.VAPID_PUBLIC_KEY && config.VAPID_PRIVATE_KEY)
    return { publicKey: config.VAPID_PUBLIC_KEY, privateKey: config.VAPID_PRIVATE_KEY };
  if (config.VAPID_PUBLIC_KEY || config.VAPID_PRIVATE_KEY) {
    logger?.warn('only one of VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY is set: Web Push is off');
    return undefined;
  }
  if (config.NODE_ENV !== 'development') return undefined;
  const file = path.join(config.PARLEY_DATA_DIR, 'vapid.json');
  try {
    const stored = JSON.parse(readFileSync(file, 'utf8')) as VapidKeyPair;
    if (stored.publicKey && stored.privateKey) return stored;
  } catch {
    // none yet
  }
  const keys = webpush.generateVAPIDKeys();
  try {
    mkdirSync(config.PARLEY_DATA_DIR, { recursive: true });
    writeFileSync(file, JSON.stringify(keys), { mode: 0o600 });
    logger?.info({ file }, 'generated a development VAPID key pair for Web Push');
  } catch (err) {
    logger?.warn(
      { err },
      'could not store the generated VAPID key pair: Web Push subscriptions will not survive a restart',
    );
  }
  return keys;
}

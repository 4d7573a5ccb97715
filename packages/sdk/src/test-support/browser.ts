import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (.ci/run installs it); tests drive it through playwright-core. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Why browser tests cannot run here, or '' when they can. On CI a missing browser is an error,
 * not a skip: .ci/run installs it, so its absence means the run is broken.
 */
export function browserUnavailable(): string {
  if (existsSync(CHROMIUM_PATH)) return '';
  if (process.env.CI)
    throw new Error(`${CHROMIUM_PATH} is missing on CI (.ci/run installs Debian's chromium)`);
  return `no ${CHROMIUM_PATH} (apt-get install chromium)`;
}

/**
 * Starts headless Chromium (a fresh temporary profile per launch). The flags keep it off the
 * network it cannot reach here (background services, QUIC) and let it run as root (no sandbox),
 * as on CI machines.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A user token, or a function the SDK calls for a new one (at start, on expiry, after a 401). */
export type TokenProvider = () => Promise<string>;
export type TokenOrProvider = string | TokenProvider;

/** Seconds since the epoch at which a JWT expires, or undefined when it has no (readable) `exp`. */
export function tokenExpiry(token: string): number | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = JSON.parse(atob(base64.padEnd(base64.length + ((4 - (base64.length % 4)) % 4), '=')));
    return typeof json.exp === 'number' ? json.exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Holds the current user token. `get()` returns it (asking the provider first when there is none
 * or it has expired); `refresh(stale)` asks the provider again unless someone already replaced
 * `stale`, so concurrent 401s and the realtime client's own refresh share one provider call.
 */
export class TokenManager {
  private token: string | undefined;
  private pending: Promise<string> | undefined;
  private readonly provider: TokenProvider | undefined;

  constructor(
    tokenOrProvider: TokenOrProvider,
    private readonly now: () => number = () => Date.now(),
  ) {
    if (typeof tokenOrProvider === 'string') this.token = tokenOrProvider;
    else this.provider = tokenOrProvider;
  }

  get canRefresh(): boolean {
    return this.provider !== undefined;
  }

  /** The token as it is now, without asking the provider. */
  get current(): string | undefined {
    return this.token;
  }

  async get(): Promise<string> {
    if (this.token && !this.expired(this.token)) return this.token;
    if (this.token && !this.provider) return this.token; // let the server say it expired
    return this.refresh(this.token);
  }

  async refresh(stale?: string): Promise<string> {
    if (this.token && this.token !== stale) return this.token;
    if (!this.provider) {
      if (this.token) return this.token;
      throw new Error('no token and no token provider');
    }
    this.pending ??= this.provider().then(
      (token) => {
        this.token = token;
        this.pending = undefined;
        return token;
      },
      (error: unknown) => {
        this.pending = undefined;
        throw error;
      },
    );
    return this.pending;
  }

  private expired(token: string): boolean {
    const exp = tokenExpiry(token);
    // A few seconds early, so a request does not leave with a token that expires on the way.
    return exp !== undefined && exp * 1000 - 5_000 <= this.now();
  }
}

import type { RequestContext } from './context.js';

/**
 * Who may call a route:
 * - `public`: anyone (health, metrics, docs);
 * - `admin`: the platform admin token (X-Admin-Token), across all apps;
 * - `app`: any caller of an app (end user or server);
 * - `server`: only the app's backend (api secret or server token).
 */
export type RouteAuth = 'public' | 'admin' | 'app' | 'server';

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth;
  }
  interface FastifyRequest {
    /** Set by the auth hook on `app` and `server` routes. */
    ctx: RequestContext;
  }
}

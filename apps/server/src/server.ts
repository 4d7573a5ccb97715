import type { IncomingMessage, ServerResponse } from 'node:http';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import {
  jsonSchemaTransform,
  jsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { Redis } from 'ioredis';
import { appsRoutes } from './domains/apps/apps.routes.js';
import { AppsService } from './domains/apps/apps.service.js';
import { authRoutes } from './domains/auth/auth.routes.js';
import { AuthService } from './domains/auth/auth.service.js';
import { channelTypesRoutes } from './domains/channel-types/channel-types.routes.js';
import { ChannelTypesService } from './domains/channel-types/channel-types.service.js';
import { channelsRoutes } from './domains/channels/channels.routes.js';
import { ChannelsService } from './domains/channels/channels.service.js';
import { commandsRoutes } from './domains/commands/commands.routes.js';
import { CommandsService } from './domains/commands/commands.service.js';
import { draftsRoutes } from './domains/drafts/drafts.routes.js';
import { DraftsService } from './domains/drafts/drafts.service.js';
import { emailRoutes } from './domains/email/email.routes.js';
import { EmailService } from './domains/email/email.service.js';
import { membersRoutes } from './domains/members/members.routes.js';
import { MembersService } from './domains/members/members.service.js';
import { MentionsService } from './domains/messages/mentions.service.js';
import { messagesRoutes } from './domains/messages/messages.routes.js';
import { MessagesService } from './domains/messages/messages.service.js';
import { ThreadsService } from './domains/messages/threads.service.js';
import { moderationRoutes } from './domains/moderation/moderation.routes.js';
import { ModerationService } from './domains/moderation/moderation.service.js';
import { opsRoutes } from './domains/ops/ops.routes.js';
import { pinsRoutes } from './domains/pins/pins.routes.js';
import { PinsService } from './domains/pins/pins.service.js';
import { pollsRoutes } from './domains/polls/polls.routes.js';
import { PollsService } from './domains/polls/polls.service.js';
import { pushRoutes } from './domains/push/push.routes.js';
import { PushService } from './domains/push/push.service.js';
import { resolveVapidKeys } from './domains/push/push.vapid.js';
import { reactionsRoutes } from './domains/reactions/reactions.routes.js';
import { ReactionsService } from './domains/reactions/reactions.service.js';
import { readsRoutes } from './domains/reads/reads.routes.js';
import { ReadsService } from './domains/reads/reads.service.js';
import { remindersRoutes } from './domains/reminders/reminders.routes.js';
import { RemindersService } from './domains/reminders/reminders.service.js';
import { scheduledMessagesRoutes } from './domains/scheduled-messages/scheduled-messages.routes.js';
import { ScheduledMessagesService } from './domains/scheduled-messages/scheduled-messages.service.js';
import { searchRoutes } from './domains/search/search.routes.js';
import { SearchService } from './domains/search/search.service.js';
import { starsRoutes } from './domains/stars/stars.routes.js';
import { StarsService } from './domains/stars/stars.service.js';
import { syncRoutes } from './domains/sync/sync.routes.js';
import { SyncService } from './domains/sync/sync.service.js';
import { createFileStorage } from './domains/uploads/storage.js';
import { uploadsRoutes } from './domains/uploads/uploads.routes.js';
import { UploadsService } from './domains/uploads/uploads.service.js';
import { usersRoutes } from './domains/users/users.routes.js';
import { UsersService } from './domains/users/users.service.js';
import { BeforeSendHookService } from './domains/webhooks/before-send.service.js';
import { EventExportService } from './domains/webhooks/event-export.service.js';
import { webhooksRoutes } from './domains/webhooks/webhooks.routes.js';
import { WebhooksService } from './domains/webhooks/webhooks.service.js';
import { createJobSystem, type JobSystem } from './jobs/boss.js';
import { queuePolicies, startWorkers } from './jobs/index.js';
import type { Config } from './platform/config.js';
import type { DatabaseHandle } from './platform/db.js';
import { AppError } from './platform/errors.js';
import { EventBus } from './platform/events.js';
import { frameworkErrors, installBodyRules, installErrorHandling } from './platform/http.js';
import { constantTimeEqual, sha256 } from './platform/ids.js';
import { appLimits } from './platform/limits.js';
import type { Logger } from './platform/logger.js';
import { createMetrics, type Metrics } from './platform/metrics.js';
import type { RouteAuth } from './platform/route-config.js';
import type { Broker } from './realtime/broker.js';
import { MemoryBroker } from './realtime/broker.memory.js';
import { RedisBroker } from './realtime/broker.redis.js';
import type { GatewayOptions } from './realtime/gateway.js';
import { presenceKey, RealtimeService } from './realtime/realtime.service.js';
import { BrokerChannelWatchers } from './realtime/watchers.js';
import './platform/route-config.js';

export interface Services {
  apps: AppsService;
  auth: AuthService;
  users: UsersService;
  channelTypes: ChannelTypesService;
  channels: ChannelsService;
  members: MembersService;
  messages: MessagesService;
  threads: ThreadsService;
  mentions: MentionsService;
  moderation: ModerationService;
  polls: PollsService;
  commands: CommandsService;
  reactions: ReactionsService;
  reads: ReadsService;
  pins: PinsService;
  stars: StarsService;
  drafts: DraftsService;
  reminders: RemindersService;
  scheduledMessages: ScheduledMessagesService;
  webhooks: WebhooksService;
  email: EmailService;
  eventExport: EventExportService;
  search: SearchService;
  sync: SyncService;
  push: PushService;
  uploads: UploadsService;
}

export type HttpServer = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export interface Parley {
  http: HttpServer;
  services: Services;
  bus: EventBus;
  metrics: Metrics;
  realtime: RealtimeService;
  /** Durable jobs (pg-boss): enqueued in the write's transaction, run by workers. */
  jobs: JobSystem;
  database: DatabaseHandle;
  /** Every registered route with its auth mode: the cross-app walk test is generated from it. */
  routes: { method: string; url: string; auth: RouteAuth }[];
  close(): Promise<void>;
}

export function createServices(
  database: DatabaseHandle,
  bus: EventBus,
  jobs: JobSystem,
  deps: { config: Config; logger: Logger },
): Services {
  const db = database.db;
  const apps = new AppsService(db, jobs);
  const channelTypes = new ChannelTypesService(db);
  const channels = new ChannelsService(db, bus, channelTypes);
  const services: Services = {
    apps,
    auth: new AuthService(db, apps),
    users: new UsersService(db, bus),
    channelTypes,
    channels,
    members: new MembersService(db, bus, channels),
    messages: new MessagesService(db, bus, channels, new BeforeSendHookService(deps.config, deps.logger), {
      groupCommit: deps.config.MESSAGE_GROUP_COMMIT,
    }),
    threads: new ThreadsService(db, bus, channels),
    mentions: new MentionsService(db),
    // The message service is resolved lazily: moderation removes messages through it.
    moderation: new ModerationService(db, bus, channels, () => services.messages),
    polls: new PollsService(db, bus, channels),
    // Commands send messages and run moderation through those services (resolved lazily).
    commands: new CommandsService(
      db,
      bus,
      channels,
      () => services.messages,
      () => services.moderation,
      deps.config,
    ),
    reactions: new ReactionsService(db, bus, channels),
    reads: new ReadsService(db, bus, channels),
    pins: new PinsService(db, bus, channels),
    stars: new StarsService(db, bus, channels),
    drafts: new DraftsService(db, bus, channels),
    reminders: new RemindersService(db, bus, jobs, channels),
    // Resolved lazily like moderation's: scheduled messages are sent through the message service.
    scheduledMessages: new ScheduledMessagesService(db, bus, jobs, channels, () => services.messages),
    webhooks: new WebhooksService(db, jobs),
    email: new EmailService(db, jobs, deps.config),
    eventExport: new EventExportService(jobs, deps.config),
    search: new SearchService(db, channels, channelTypes, jobs),
    sync: new SyncService(db, channels, channelTypes),
    push: new PushService(db, jobs),
    uploads: new UploadsService(db, channels, createFileStorage(deps.config), deps.config, deps.logger),
  };
  return services;
}

export interface BuildOptions {
  /** Realtime gateway tuning (tests use short ping intervals). */
  gateway?: Partial<GatewayOptions>;
  /** Defaults to Redis when REDIS_URL is set, else in-memory. */
  broker?: Broker;
}

/** Waits (bounded) for the first connection, so limits count from the first request. */
async function redisReady(redis: Redis, timeoutMs: number) {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      redis.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, timeoutMs);
    redis.once('ready', done);
  });
}

export async function buildServer(
  config: Config,
  database: DatabaseHandle,
  logger: Logger,
  options: BuildOptions = {},
): Promise<Parley> {
  const metrics = createMetrics();
  const bus = new EventBus((error, event) =>
    logger.error({ err: error, event: event.type }, 'event listener failed'),
  );
  bus.subscribe((event) => metrics.events.inc({ type: event.type }));
  const jobs = createJobSystem(config, database, logger, metrics);
  const services = createServices(database, bus, jobs, { config, logger });
  // The outbox: webhook deliveries are enqueued inside the transaction of the write that caused them.
  bus.onCommitting((tx, events, afterCommit) => services.webhooks.enqueueDeliveries(tx, events, afterCommit));
  // Event export to RabbitMQ / NATS and delayed emails: jobs in the same transaction (outbox).
  bus.onCommitting((tx, events, afterCommit) => services.eventExport.enqueue(tx, events, afterCommit));
  bus.onCommitting((tx, events, afterCommit) => services.email.enqueueForEvents(tx, events, afterCommit));
  // Push: a `push.message` job per new message, in the message's transaction (docs/guides/push.md).
  bus.onCommitting((tx, events, afterCommit) => services.push.enqueueForEvents(tx, events, afterCommit));
  // The sync event log (ADR 0008, docs/guides/search-and-sync.md). Keep it the LAST committing
  // consumer: it locks the app's log head until commit, so whatever runs after it would run under that lock.
  bus.onCommitting((tx, events) => services.sync.log(tx, events));
  await jobs.start(queuePolicies(config));
  // Email jobs skip users online on a socket: the realtime broker (created below) knows.
  let presenceBroker: Broker | undefined;
  const presence = {
    isOnline: async (appId: string, userId: string) =>
      presenceBroker
        ? (await presenceBroker.presenceStats(presenceKey(appId, userId))).numClients > 0
        : false,
  };
  // Push skips users watching the channel on a socket (any node, through the broker).
  const watchers = {
    watching: async (appId: string, cid: string) =>
      presenceBroker ? new BrokerChannelWatchers(presenceBroker).watching(appId, cid) : new Set<string>(),
  };
  const vapid = resolveVapidKeys(config, logger);
  services.push.client = {
    web_push: vapid ? { vapid_public_key: vapid.publicKey } : null,
    onesignal:
      config.ONESIGNAL_APP_ID && config.ONESIGNAL_API_KEY ? { app_id: config.ONESIGNAL_APP_ID } : null,
  };
  const workers = config.JOBS_WORKERS
    ? await startWorkers(jobs, { db: database.db, config, logger, services, presence, watchers })
    : undefined;
  const routes: Parley['routes'] = [];

  const http = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    bodyLimit: config.BODY_LIMIT_BYTES,
    genReqId: (req) =>
      (req.headers['x-request-id'] as string | undefined)?.slice(0, 100) || crypto.randomUUID(),
    ajv: { customOptions: { coerceTypes: false } },
    routerOptions: { maxParamLength: 300 },
    frameworkErrors: frameworkErrors(logger),
  }).withTypeProvider<ZodTypeProvider>();
  http.setValidatorCompiler(validatorCompiler);
  http.setSerializerCompiler(serializerCompiler);
  installErrorHandling(http, logger);
  installBodyRules(http);

  http.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === 'HEAD' || route.url.startsWith('/docs')) continue;
      routes.push({ method, url: route.url, auth: route.config?.auth ?? 'public' });
    }
  });

  http.addHook('onResponse', async (request, reply) => {
    metrics.httpDuration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unknown',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  // No offline queue: while Redis is unreachable a limit check fails at once (and fails open,
  // below) instead of holding the request through reconnect attempts.
  const redis = config.REDIS_URL
    ? new Redis(config.REDIS_URL, { maxRetriesPerRequest: 2, enableOfflineQueue: false })
    : undefined;
  // Rate limits fail open: when Redis is unreachable, requests go through (logged) rather than
  // every app call answering 500. Availability of the chat API matters more than exact limits.
  let redisDownLogged = false;
  redis?.on('error', (err) => {
    if (!redisDownLogged)
      logger.warn({ err }, 'rate limit store (Redis) unreachable: limits are not enforced');
    redisDownLogged = true;
  });
  redis?.on('ready', () => {
    redisDownLogged = false;
  });
  if (redis) await redisReady(redis, 2_000);
  await http.register(rateLimit, {
    global: false,
    nameSpace: 'parley-rl:',
    skipOnError: true,
    ...(redis ? { redis } : {}),
  });
  const appLimiter = http.createRateLimit({
    timeWindow: 60_000,
    keyGenerator: (req) => `app:${req.ctx.app.id}`,
    max: (req) => appLimits(req.ctx.app).app_requests_per_minute,
  });
  const userLimiter = http.createRateLimit({
    timeWindow: 60_000,
    keyGenerator: (req) =>
      `user:${req.ctx.app.id}:${req.ctx.actor.kind === 'user' ? req.ctx.actor.user.id : ''}`,
    max: (req) => appLimits(req.ctx.app).user_requests_per_minute,
  });

  const adminHash = config.PARLEY_ADMIN_TOKEN ? sha256(config.PARLEY_ADMIN_TOKEN) : undefined;
  // onRequest: credentials are checked before the body is parsed or validated, so an anonymous
  // caller gets 401 (never a validation answer describing the route) and cannot make us parse a body.
  http.addHook('onRequest', async (request, reply) => {
    const auth = request.routeOptions.config?.auth ?? 'public';
    if (auth === 'public') return;
    if (auth === 'admin') {
      const given = request.headers['x-admin-token'];
      if (!adminHash || typeof given !== 'string' || !constantTimeEqual(sha256(given), adminHash)) {
        throw new AppError('AUTH_ADMIN_TOKEN_INVALID');
      }
      return;
    }
    const apiKey = request.headers['x-api-key'] as string | undefined;
    request.ctx = await services.auth.authenticate({ apiKey, authorization: request.headers.authorization });
    if (auth === 'server' && request.ctx.actor.kind !== 'server') throw new AppError('AUTH_SERVER_ONLY');
    if (config.RATE_LIMITS_ENABLED) {
      for (const limiter of request.ctx.actor.kind === 'user' ? [appLimiter, userLimiter] : [appLimiter]) {
        const result = await limiter(request);
        if (!result.isAllowed && result.isExceeded) {
          reply.header('retry-after', String(result.ttlInSeconds));
          throw new AppError('RATE_LIMITED', `rate limit of ${result.max} requests per minute exceeded`, {
            retry_after_seconds: result.ttlInSeconds,
          });
        }
      }
    }
  });

  await http.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Parley API',
        version: '0.1.0',
        description:
          'Multi-tenant real-time chat. Send `X-Api-Key` on every app call, plus `Authorization: Bearer <user or server JWT>` or `Authorization: Secret <api secret>`.',
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-Api-Key' },
          bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
          adminToken: { type: 'apiKey', in: 'header', name: 'X-Admin-Token' },
        },
      },
    },
    transform: jsonSchemaTransform,
    transformObject: jsonSchemaTransformObject,
  });
  await http.register(swaggerUi, { routePrefix: '/docs' });

  await http.register(opsRoutes(database, metrics));
  await http.register(appsRoutes(services));
  await http.register(authRoutes(services));
  await http.register(usersRoutes(services));
  await http.register(channelTypesRoutes(services));
  await http.register(channelsRoutes(services));
  await http.register(membersRoutes(services));
  await http.register(messagesRoutes(services));
  await http.register(reactionsRoutes(services));
  await http.register(readsRoutes(services));
  await http.register(pinsRoutes(services));
  await http.register(starsRoutes(services));
  await http.register(draftsRoutes(services));
  await http.register(remindersRoutes(services));
  await http.register(scheduledMessagesRoutes(services));
  await http.register(webhooksRoutes(services));
  await http.register(emailRoutes(services));
  await http.register(searchRoutes(services));
  await http.register(syncRoutes(services));
  await http.register(moderationRoutes(services));
  await http.register(pollsRoutes(services));
  await http.register(commandsRoutes(services));
  await http.register(pushRoutes(services));
  await http.register(uploadsRoutes(services));
  await http.ready();

  const broker =
    options.broker ??
    (config.REDIS_URL
      ? new RedisBroker({
          url: config.REDIS_URL,
          prefix: config.REALTIME_REDIS_PREFIX,
          onError: (err) => logger.warn({ err }, 'realtime broker error'),
        })
      : new MemoryBroker());
  const realtime = new RealtimeService(
    database.db,
    bus,
    services,
    broker,
    metrics.realtime,
    logger,
    options.gateway,
  );
  await realtime.start();
  realtime.gateway.attach(http.server);
  presenceBroker = broker;

  return {
    http,
    services,
    bus,
    metrics,
    realtime,
    jobs,
    database,
    routes,
    async close() {
      // WebSocket clients first (they reconnect elsewhere), then drain HTTP, then let running jobs finish.
      await realtime.close();
      await http.close();
      await jobs.stop();
      await workers?.stop();
      redis?.disconnect();
    },
  };
}

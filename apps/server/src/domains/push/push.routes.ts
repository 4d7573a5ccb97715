import {
  Device,
  DeviceParams,
  DevicesQuery,
  ErrorResponse,
  Ok,
  PushClientConfig,
  PushPreferences,
  RegisterDeviceBody,
  UpdatePushPreferencesBody,
} from '@parley/protocol';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../server.js';

const errors = {
  400: ErrorResponse,
  401: ErrorResponse,
  403: ErrorResponse,
  404: ErrorResponse,
  429: ErrorResponse,
};
const tags = ['push'];

/** Push devices and preferences: users manage their own; server-side calls name `user_id`. */
export const pushRoutes =
  (services: Services): FastifyPluginAsyncZod =>
  async (app) => {
    const anyCaller = { config: { auth: 'app' as const } };
    app.get(
      '/push/config',
      {
        ...anyCaller,
        schema: {
          tags,
          description:
            'The VAPID public key (applicationServerKey) and OneSignal app id clients subscribe with.',
          response: { 200: PushClientConfig, ...errors },
        },
      },
      async () => services.push.clientConfig(),
    );
    app.post(
      '/devices',
      {
        ...anyCaller,
        schema: {
          tags,
          description:
            'Registers a push target: a Web Push subscription (`subscription.toJSON()`), a OneSignal subscription id, or an APNs/FCM token. Registering the same target again updates it.',
          body: RegisterDeviceBody,
          response: { 201: z.object({ device: Device }), ...errors },
        },
      },
      async (req, reply) => {
        reply.status(201);
        return { device: await services.push.registerDevice(req.ctx, req.body) };
      },
    );
    app.get(
      '/devices',
      {
        ...anyCaller,
        schema: {
          tags,
          querystring: DevicesQuery,
          response: { 200: z.object({ devices: z.array(Device) }), ...errors },
        },
      },
      async (req) => ({ devices: await services.push.listDevices(req.ctx, req.query.user_id) }),
    );
    app.delete(
      '/devices/:device_id',
      {
        ...anyCaller,
        schema: { tags, params: DeviceParams, querystring: DevicesQuery, response: { 200: Ok, ...errors } },
      },
      async (req) => {
        await services.push.deleteDevice(req.ctx, req.params.device_id, req.query.user_id);
        return { ok: true as const };
      },
    );
    app.get(
      '/push/preferences',
      {
        ...anyCaller,
        schema: {
          tags,
          querystring: DevicesQuery,
          response: { 200: z.object({ preferences: PushPreferences }), ...errors },
        },
      },
      async (req) => ({ preferences: await services.push.preferences(req.ctx, req.query.user_id) }),
    );
    app.patch(
      '/push/preferences',
      {
        ...anyCaller,
        schema: {
          tags,
          description:
            'Changes push preferences: level (all, mentions, none), per-channel levels (null removes one), do-not-disturb schedule, snooze, and whether pushes held back by do-not-disturb are sent when it ends.',
          body: UpdatePushPreferencesBody,
          response: { 200: z.object({ preferences: PushPreferences }), ...errors },
        },
      },
      async (req) => ({ preferences: await services.push.updatePreferences(req.ctx, req.body) }),
    );
  };

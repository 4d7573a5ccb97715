import { type ChannelType, ChannelTypeConfig, DEFAULT_CHANNEL_TYPES } from '@parley/protocol';
import type { RequestContext } from '../../platform/context.js';
import type { Db, Executor } from '../../platform/db.js';
import { isUniqueViolation } from '../../platform/db.js';
import type { ChannelTypeRow } from '../../platform/db.types.js';
import { AppError } from '../../platform/errors.js';
import { ShortCache } from '../../platform/short-cache.js';
import { channelTypesRepository } from './channel-types.repository.js';

export function toChannelTypeDto(row: ChannelTypeRow): ChannelType {
  return {
    name: row.name,
    config: ChannelTypeConfig.parse(row.config),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export class ChannelTypesService {
  /** Parsed configs by app and type: every send and subscribe needs one (ADR 0015). */
  private readonly configs = new ShortCache<ChannelTypeConfig>();

  constructor(private readonly db: Db) {}

  async list(ctx: RequestContext): Promise<ChannelType[]> {
    return (await channelTypesRepository.list(this.db, ctx.app.id)).map(toChannelTypeDto);
  }

  async get(ctx: RequestContext, name: string): Promise<ChannelType> {
    return toChannelTypeDto(await this.getRow(this.db, ctx.app.id, name));
  }

  /** The config that governs a channel of this type (used on every send and read). */
  async config(db: Executor, appId: string, name: string): Promise<ChannelTypeConfig> {
    const key = `${appId}/${name}`;
    return this.configs.get(key, async () =>
      ChannelTypeConfig.parse((await this.getRow(db, appId, name)).config),
    );
  }

  async create(ctx: RequestContext, name: string, config: Partial<ChannelTypeConfig>): Promise<ChannelType> {
    const full = ChannelTypeConfig.parse({ ...DEFAULT_CHANNEL_TYPES.messaging, ...config });
    this.configs.delete(`${ctx.app.id}/${name}`);
    try {
      return toChannelTypeDto(await channelTypesRepository.insert(this.db, ctx.app.id, name, full));
    } catch (error) {
      if (isUniqueViolation(error)) throw new AppError('CHANNEL_TYPE_EXISTS', undefined, { field: 'name' });
      throw error;
    }
  }

  async update(ctx: RequestContext, name: string, patch: Partial<ChannelTypeConfig>): Promise<ChannelType> {
    const current = await this.getRow(this.db, ctx.app.id, name);
    const next = ChannelTypeConfig.parse({ ...(current.config as object), ...patch });
    const row = await channelTypesRepository.update(this.db, ctx.app.id, name, next);
    this.configs.delete(`${ctx.app.id}/${name}`);
    return toChannelTypeDto(row!);
  }

  async delete(ctx: RequestContext, name: string): Promise<void> {
    await this.getRow(this.db, ctx.app.id, name);
    try {
      await channelTypesRepository.delete(this.db, ctx.app.id, name);
      this.configs.delete(`${ctx.app.id}/${name}`);
    } catch (error) {
      // The channels → channel_types foreign key is ON DELETE RESTRICT: 23001 (23503 for NO ACTION).
      const code = (error as { code?: string }).code;
      if (code === '23001' || code === '23503') {
        throw new AppError('VALIDATION_FAILED', 'channels of this type still exist; delete them first', {
          field: 'name',
        });
      }
      throw error;
    }
  }

  private async getRow(db: Executor, appId: string, name: string): Promise<ChannelTypeRow> {
    const row = await channelTypesRepository.find(db, appId, name);
    if (!row)
      throw new AppError('CHANNEL_TYPE_NOT_FOUND', `channel type ${name} does not exist`, { field: 'type' });
    return row;
  }
}

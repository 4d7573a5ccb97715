import type { Migration } from 'kysely';
import * as createApps from './0001_create_apps.js';
import * as createUsers from './0002_create_users.js';
import * as createChannels from './0003_create_channel_types_and_channels.js';
import * as createMembers from './0004_create_members.js';
import * as createMessages from './0005_create_messages.js';
import * as addUserInvisible from './0006_add_user_invisible.js';
import * as createWebhooks from './0007_create_webhooks.js';
import * as addThreadsAndReactions from './0008_add_threads_and_reactions.js';
import * as createUserMessages from './0009_create_user_messages_and_thread_reads.js';
import * as addShadowBansAndMutes from './0010_add_shadow_bans_and_mutes.js';
import * as createModeration from './0011_create_moderation.js';
import * as addSearchAndEventLog from './0012_add_search_and_event_log.js';
import * as addMessageFeatures from './0013_add_message_features.js';
import * as createPollsAndCommands from './0014_create_polls_and_commands.js';
import * as createPush from './0015_create_push.js';
import * as createEmailAndDropAppWebhookUrl from './0016_create_email_and_drop_app_webhook_url.js';
import * as createUploads from './0017_create_uploads.js';

/** Every migration, by its readable name, in order. Add new ones at the end; never edit old ones. */
export const migrations: Record<string, Migration> = {
  '0001_create_apps': createApps,
  '0002_create_users': createUsers,
  '0003_create_channel_types_and_channels': createChannels,
  '0004_create_members': createMembers,
  '0005_create_messages': createMessages,
  '0006_add_user_invisible': addUserInvisible,
  '0007_create_webhooks': createWebhooks,
  '0008_add_threads_and_reactions': addThreadsAndReactions,
  '0009_create_user_messages_and_thread_reads': createUserMessages,
  '0010_add_shadow_bans_and_mutes': addShadowBansAndMutes,
  '0013_add_message_features': addMessageFeatures,
  '0011_create_moderation': createModeration,
  '0012_add_search_and_event_log': addSearchAndEventLog,
  '0015_create_push': createPush,
  '0016_create_email_and_drop_app_webhook_url': createEmailAndDropAppWebhookUrl,
  '0014_create_polls_and_commands': createPollsAndCommands,
  '0017_create_uploads': createUploads,
};

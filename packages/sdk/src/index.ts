/**
 * @parley/sdk — the offline-first client for Parley. The IndexedDB store is a separate entry
 * point (`@parley/sdk/dexie`) so apps that do not use it never load Dexie.
 */
export { ChannelHandle, type SendMessageInput, TYPING_THROTTLE_MS } from './channel.js';
export {
  type ClientEvents,
  type ConnectionChange,
  type ConnectUser,
  ParleyClient,
  type ParleyClientOptions,
  type QueryChannelsOptions,
  queryKey,
  type Sort,
} from './client.js';
export { isRetryable, ParleyApiError, ParleyNetworkError, ParleyUploadCancelledError } from './errors.js';
export type { FileToSend } from './file-messages.js';
export type { ConnectionState } from './realtime/connection.js';
export { type In, type Out, type ResponseLike, RestClient } from './rest.js';
export type { Action, LocalAction } from './state/actions.js';
export { activityAt, orderIds, pendingMessage, reduce, withOwnReactions } from './state/reducer.js';
export * from './state/selectors.js';
export { type Listener, Store } from './state/store.js';
export * from './state/types.js';
export { MemoryStore } from './stores/memory.js';
export type {
  CacheBatch,
  CachedList,
  CachedRecords,
  CachedState,
  OutboxItem,
  PersistentStore,
  RecordChange,
  RecordKind,
  StreamPosition,
  TopicPosition,
} from './stores/types.js';
export { emptyCache } from './stores/types.js';
export { refetchOnly, restSync, type SyncAnswer, type SyncSource } from './sync.js';
export { type TokenOrProvider, type TokenProvider, tokenExpiry } from './token.js';
export type { UploadData, UploadOptions, UploadProgress } from './uploads.js';

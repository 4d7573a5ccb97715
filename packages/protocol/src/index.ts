export * from './apps.js';
export * from './channels.js';
export * from './common.js';
export * from './errors.js';
export * from './events.js';
export * from './messages.js';
export * from './reads.js';
export * from './users.js';

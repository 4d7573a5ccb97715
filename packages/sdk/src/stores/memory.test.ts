import { MemoryStore } from './memory.js';
import { persistentStoreContract } from '../test-support/store.contract.js';

persistentStoreContract('MemoryStore', async () => new MemoryStore());

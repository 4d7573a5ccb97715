import type { Codec, Command, Reply } from './protocol.js';

/**
 * JSON wire format: text frames, one JSON object per line. `data`-like fields are embedded JSON
 * (not base64). JSON.stringify never emits raw newlines, so joining with "\n" is safe.
 */
export const jsonCodec: Codec = {
  name: 'json',

  /** Throws on malformed input; the gateway closes the connection with 3501 bad request. */
  decodeCommands(frame: Buffer, isBinary: boolean): Command[] {
    if (isBinary) throw new Error('the JSON format uses text frames');
    const text = frame.toString('utf8');
    const commands: Command[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      const value: unknown = JSON.parse(line);
      if (typeof value !== 'object' || value === null || Array.isArray(value))
        throw new Error('a command must be an object');
      commands.push(value as Command);
    }
    return commands;
  },

  encodeReply(reply: Reply): string {
    return JSON.stringify(reply);
  },

  /** Joins already-encoded replies into one frame. */
  frame(encoded: (string | Buffer)[]): string {
    return encoded.join('\n');
  },

  ping: '{}',
};

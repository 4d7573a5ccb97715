/** The cid of a channel route's `:type/:id` params. */
export const cidOf = (params: { type: string; id: string }) => `${params.type}:${params.id}`;

// Stream ids are part of the wire contract (clients resume by them): their home is @turnstream/contracts.
export { compareStreamIds, isStreamId, streamIdMs } from '@turnstream/contracts';

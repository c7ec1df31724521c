/**
 * skiff's TypeScript client kit: a client typed by the committed OpenAPI document
 * (openapi-typescript types + openapi-fetch), and the two helpers every caller of a job API
 * writes otherwise: waitForOperation (long-poll with backoff) and watchOperation (typed
 * server-sent events with resume).
 */
export {
  type CopyOperation,
  type CopyRequest,
  type CopyResult,
  createSkiffClient,
  FINISHED_STATES,
  isFinished,
  type Operation,
  type OperationProgress,
  type OperationState,
  type Problem,
  type Schemas,
  type SkiffClient,
  type SkiffClientOptions,
  SkiffProblemError,
  type SyncOperation,
  type SyncRequest,
  type SyncResult,
} from './client';
export type { components, operations, paths } from './generated/openapi';
export { OperationWaitTimeoutError, waitForOperation, type WaitForOperationOptions } from './wait-for-operation';
export { EventStreamError, MAX_EVENT_CHARS, type OperationEventOf, watchOperation, type WatchOperationOptions } from './watch-operation';

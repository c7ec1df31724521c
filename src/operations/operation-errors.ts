import { DomainError } from '../errors/domain-error';

/** No operation with this id the caller may see (never existed, forgotten, pruned, or another principal's). */
export class OperationNotFoundError extends DomainError {
  constructor(id: string) {
    super('OPERATION_NOT_FOUND', `no operation with id "${id}" (finished operations are kept for a limited time)`);
  }
}

/** The operation's state does not allow the request (cancel a finished one, forget a running one). */
export class OperationConflictError extends DomainError {
  constructor(message: string) {
    super('OPERATION_CONFLICT', message);
  }
}

/** An Idempotency-Key already names an operation made from a different request. */
export class IdempotencyKeyReusedError extends DomainError {
  constructor(operationId: string) {
    super('IDEMPOTENCY_KEY_REUSED', `this Idempotency-Key was already used for operation ${operationId} with a different request; use a new key`);
  }
}

/** A queued or interrupted operation whose inline credentials were lost (a restart, another replica, no key). */
export class CredentialsUnavailableError extends DomainError {
  constructor(detail = "the request's inline credentials (sourceAuth/destinationAuth) are not kept across a restart or by another replica without SKIFF_SECRET_KEY; submit it again") {
    super('CREDENTIALS_UNAVAILABLE', detail, { retryable: true });
  }
}

/** The queue holds SKIFF_QUEUE_MAX operations. */
export class QueueFullError extends DomainError {
  constructor(max: number) {
    super('QUEUE_FULL', `the operations queue is full (${max} queued); retry later`, { retryable: true, retryAfterSeconds: 10 });
  }
}

/** Too many open event streams or long-polls, for the process or for this caller. */
export class TooManyWatchersError extends DomainError {
  constructor(what: string, limit: number, scope: 'service' | 'principal') {
    super('TOO_MANY_REQUESTS', `too many open ${what} ${scope === 'service' ? 'on this replica' : 'for this caller'} (at most ${limit}); close one or retry later`, {
      retryable: true,
      retryAfterSeconds: 5,
    });
  }
}

/** The operation ran longer than SKIFF_OPERATION_DEADLINE_SECONDS. */
export class DeadlineExceededError extends DomainError {
  constructor(seconds: number) {
    super('DEADLINE_EXCEEDED', `the operation did not finish within its deadline of ${seconds} s (SKIFF_OPERATION_DEADLINE_SECONDS) and was stopped`);
  }
}

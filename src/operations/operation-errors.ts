import { DomainError } from '../errors/domain-error';

/** No operation with this id (never existed, forgotten, or pruned after retention). */
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

/** A queued or interrupted operation whose inline credentials were lost in a restart. */
export class CredentialsUnavailableError extends DomainError {
  constructor() {
    super(
      'CREDENTIALS_UNAVAILABLE',
      "the request's inline credentials (sourceAuth/destinationAuth) are not kept across a restart; submit it again",
      { retryable: true },
    );
  }
}

import { DomainError } from '../errors/domain-error';

/** What was being parsed when the input was refused; it starts the error message. */
export type ReferenceSubject = 'digest' | 'docker reference' | 'image name';

export interface InvalidReferenceErrorOptions {
  subject: ReferenceSubject;
  /** The whole string the caller gave (never trimmed or normalised). */
  input: string;
  /** What is wrong with it, naming the failing part; no trailing period. */
  reason: string;
  cause?: unknown;
}

/**
 * The only error the image-spec parsers throw. Message shape:
 * `invalid <subject> "<input>": <reason>`; `reason` is also kept on its own so an outer
 * parser can wrap an inner failure without repeating prefixes. The service maps the code to 400.
 */
export class InvalidReferenceError extends DomainError {
  override readonly code = 'INVALID_REFERENCE' as const;
  readonly subject: ReferenceSubject;
  readonly input: string;
  readonly reason: string;

  constructor(options: InvalidReferenceErrorOptions) {
    super(
      'INVALID_REFERENCE',
      `invalid ${options.subject} ${JSON.stringify(options.input)}: ${options.reason}`,
      {},
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.subject = options.subject;
    this.input = options.input;
    this.reason = options.reason;
  }
}

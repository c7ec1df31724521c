import { isNameOnly, parseDockerReference } from '../image-spec/docker-reference';
import type { ImageReference, TransportName } from '../image-spec/image-reference';
import { parseImageReference } from '../image-spec/image-reference';
import type { Scope } from '../config/principals-file';
import { InvalidReferenceError } from '../image-spec/invalid-reference-error';
import { dockerRepositoryTarget } from '../image-spec/reference-pattern';
import { type Principal, requireScope } from './principal';
import { type AccessSide, referenceTarget, requireReferenceAccess } from './reference-access';

/** Whether a transport is enabled and the principal may use it (the transport registry answers). */
export interface TransportGate {
  authorize(transport: TransportName, principal: Principal, action: string): void;
}

export interface ReferenceCheck {
  /** The scope the action needs (`images:read` to read, `images:delete` to delete, …). */
  scope: Scope;
  /** Which of the principal's pattern sets must cover the reference. */
  side: AccessSide;
  /** What is attempted, for the 403 message ("inspecting images"). */
  action: string;
}

/**
 * The one check every image use case makes before touching a reference: the scope, the
 * reference's grammar, its transport (enabled, and `daemons` for the engine transports), its
 * storage path (which must stay inside the storage root: 400 before anything is touched) and the
 * principal's patterns for `side`. Returns the parsed reference.
 */
export class ReferenceAuthorizer {
  constructor(
    private readonly storageRoot: string,
    private readonly gate: TransportGate,
  ) {}

  async authorize(image: string, principal: Principal, check: ReferenceCheck): Promise<ImageReference> {
    requireScope(principal, check.scope, check.action);
    const ref = parseImageReference(image);
    this.gate.authorize(ref.transport, principal, check.action);
    requireReferenceAccess(principal, check.side, await referenceTarget(ref, this.storageRoot));
    return ref;
  }

  /**
   * The same check for a read that reaches a whole repository, layout or archive (a blob by
   * digest belongs to no one image): a `docker://` repository without tag or digest, or an
   * image reference of another transport whose storage (path) the patterns must cover whole.
   */
  async authorizeRepository(repository: string, principal: Principal, check: ReferenceCheck): Promise<ImageReference> {
    requireScope(principal, check.scope, check.action);
    if (repository.startsWith('docker://')) {
      const named = parseDockerReference(repository.slice('docker://'.length));
      if (!isNameOnly(named)) throw new InvalidReferenceError({ input: repository, subject: 'image name', reason: 'a repository has no tag or digest' });
      this.gate.authorize('docker', principal, check.action);
      requireReferenceAccess(principal, check.side, dockerRepositoryTarget(named));
      return { transport: 'docker', named };
    }
    const ref = parseImageReference(repository);
    this.gate.authorize(ref.transport, principal, check.action);
    requireReferenceAccess(principal, check.side, { ...(await referenceTarget(ref, this.storageRoot)), item: undefined });
    return ref;
  }
}

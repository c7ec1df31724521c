import { type Principal, requireScope } from '../auth/principal';
import type { Scope } from '../config/principals-file';
import { DomainError, TransportNotImplementedError } from '../errors/domain-error';
import type { TransportName } from '../image-spec/image-reference';
import type { ImageTransport } from './transport';

/**
 * Transports reaching a host's image engine (every image of the Docker Engine or Podman, and
 * loading under any tag): opt-in through SKIFF_TRANSPORTS, and only for principals with the
 * `daemons` scope.
 */
const REQUIRED_SCOPE: Partial<Record<TransportName, Scope>> = {
  'docker-daemon': 'daemons',
  'containers-storage': 'daemons',
};

/** A transport this service has not enabled (SKIFF_TRANSPORTS). */
export class TransportDisabledError extends DomainError {
  constructor(name: TransportName) {
    super('TRANSPORT_DISABLED', `the "${name}" transport is not enabled on this service (SKIFF_TRANSPORTS lists the enabled ones)`);
  }
}

/**
 * Transports keyed by name (containers/image's transport registry), with the service's
 * choice of which are enabled. Use cases ask it whether a caller may use a transport
 * (`authorize`) before anything is queued; `get` refuses a disabled transport at run time too
 * (an operation queued before the setting changed).
 */
export class TransportRegistry {
  private readonly byName = new Map<TransportName, ImageTransport>();
  private readonly enabledNames: ReadonlySet<TransportName>;

  constructor(transports: ImageTransport[], opts: { enabled?: readonly TransportName[] } = {}) {
    for (const t of transports) this.byName.set(t.name, t);
    this.enabledNames = new Set(opts.enabled ?? transports.map((t) => t.name));
  }

  /** The transport for a name; TRANSPORT_DISABLED (403) when not enabled, TRANSPORT_NOT_IMPLEMENTED (501) for one not built yet. */
  get(name: TransportName, operation: string): ImageTransport {
    if (!this.enabledNames.has(name)) throw new TransportDisabledError(name);
    const t = this.byName.get(name);
    if (!t) throw new TransportNotImplementedError(name, operation);
    return t;
  }

  /** Throws TRANSPORT_DISABLED, or FORBIDDEN when the transport needs a scope the principal lacks. */
  authorize(name: TransportName, principal: Principal, action: string): void {
    if (!this.enabledNames.has(name)) throw new TransportDisabledError(name);
    const scope = REQUIRED_SCOPE[name];
    if (scope) requireScope(principal, scope, `${action} through the "${name}" transport`);
  }

  isEnabled(name: TransportName): boolean {
    return this.enabledNames.has(name);
  }

  /**
   * Whether opening a source of this transport extracts or indexes a whole archive file (heavy,
   * local work proportional to the archive), so that callers bound how many run at once.
   */
  opensArchive(name: TransportName): boolean {
    return name === 'docker-archive' || name === 'oci-archive';
  }

  implemented(): TransportName[] {
    return [...this.byName.keys()];
  }
}

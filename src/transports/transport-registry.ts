import { TransportNotImplementedError } from '../errors/domain-error';
import type { TransportName } from '../image-spec/image-reference';
import type { ImageTransport } from './transport';

/** Transports keyed by name (containers/image's transport registry). */
export class TransportRegistry {
  private readonly byName = new Map<TransportName, ImageTransport>();

  constructor(transports: ImageTransport[]) {
    for (const t of transports) this.byName.set(t.name, t);
  }

  /** The transport for a name; TRANSPORT_NOT_IMPLEMENTED (501) for one not built yet. */
  get(name: TransportName, operation: string): ImageTransport {
    const t = this.byName.get(name);
    if (!t) throw new TransportNotImplementedError(name, operation);
    return t;
  }

  implemented(): TransportName[] {
    return [...this.byName.keys()];
  }
}

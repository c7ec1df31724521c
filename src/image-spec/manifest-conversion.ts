import { DomainError } from '../errors/domain-error';
import { type Descriptor, type ImageManifest, type IndexManifest, type Platform, systemPlatform } from './manifest';
import { MediaType } from './media-types';
import { goJson } from './go-json';
import { sortedMap } from './oci-config';

/**
 * Builds and converts manifests the way containers/image writes them (Go's json.Marshal of its
 * structs: compact, fixed field order, `<`, `>`, `&` escaped), so that a conversion skiff makes
 * has the same bytes — and digest — as the one skopeo makes.
 */
export type ManifestFormat = 'oci' | 'v2s2';

export class ConversionError extends DomainError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

const OCI_NONDISTRIBUTABLE_GZIP = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
const DOCKER_LAYER_UNCOMPRESSED = 'application/vnd.docker.image.rootfs.diff.tar';

function layerTypeFor(format: ManifestFormat, mediaType: string): string {
  if (format === 'oci') {
    switch (mediaType) {
      case MediaType.dockerLayerGzip:
        return MediaType.ociLayerGzip;
      case MediaType.dockerForeignLayerGzip:
        return OCI_NONDISTRIBUTABLE_GZIP;
      case DOCKER_LAYER_UNCOMPRESSED:
        return MediaType.ociLayer;
      default:
        return mediaType;
    }
  }
  switch (mediaType) {
    case MediaType.ociLayerGzip:
      return MediaType.dockerLayerGzip;
    case OCI_NONDISTRIBUTABLE_GZIP:
      return MediaType.dockerForeignLayerGzip;
    case MediaType.ociLayer:
      return DOCKER_LAYER_UNCOMPRESSED;
    case MediaType.dockerLayerGzip:
    case MediaType.dockerForeignLayerGzip:
    case DOCKER_LAYER_UNCOMPRESSED:
      return mediaType;
    default:
      throw new ConversionError(`a layer of media type ${mediaType} cannot be stored in a Docker v2s2 manifest (use format "oci")`);
  }
}

export function manifestMediaType(format: ManifestFormat): string {
  return format === 'oci' ? MediaType.ociManifest : MediaType.dockerV2S2;
}

export function indexMediaType(format: ManifestFormat): string {
  return format === 'oci' ? MediaType.ociIndex : MediaType.dockerManifestList;
}

export function formatOfManifestType(mediaType: string): ManifestFormat | undefined {
  if (mediaType === MediaType.ociManifest || mediaType === MediaType.ociIndex) return 'oci';
  if (mediaType === MediaType.dockerV2S2 || mediaType === MediaType.dockerManifestList) return 'v2s2';
  return undefined;
}

/**
 * The layer types containers/image converts from each manifest format to the other; any other
 * layer type (another format's, or unknown) fails its conversion ("Unknown media type during
 * manifest conversion"), so skopeo writes no such manifest.
 */
const CONVERTIBLE_LAYER_TYPES: Record<ManifestFormat, readonly string[]> = {
  oci: [MediaType.ociLayer, MediaType.ociLayerGzip, OCI_NONDISTRIBUTABLE_GZIP, MediaType.ociLayerZstd],
  v2s2: [DOCKER_LAYER_UNCOMPRESSED, MediaType.dockerLayerGzip, MediaType.dockerForeignLayerGzip],
};

/** Rewrites an image manifest's media types (manifest, config, layers) for the target format. */
export function convertImageManifest(m: ImageManifest, format: ManifestFormat): ImageManifest {
  const configType = format === 'oci' ? MediaType.ociConfig : MediaType.dockerConfig;
  if (m.config.mediaType !== MediaType.ociConfig && m.config.mediaType !== MediaType.dockerConfig) {
    throw new ConversionError(`a config of media type ${m.config.mediaType} (not an image) cannot be converted`);
  }
  const from = formatOfManifestType(m.mediaType);
  if (from && from !== format) {
    const odd = m.layers.find((l) => !CONVERTIBLE_LAYER_TYPES[from].includes(l.mediaType));
    if (odd) throw new ConversionError(`a layer of media type ${odd.mediaType} in a ${m.mediaType} manifest cannot be converted (skopeo: Unknown media type during manifest conversion)`);
  }
  return {
    kind: 'image',
    mediaType: manifestMediaType(format),
    config: { ...m.config, mediaType: configType },
    layers: m.layers.map((l) => ({ ...l, mediaType: layerTypeFor(format, l.mediaType) })),
    ...(format === 'oci' && m.annotations ? { annotations: m.annotations } : {}),
    ...(format === 'oci' && m.artifactType ? { artifactType: m.artifactType } : {}),
  };
}

function ociDescriptor(d: Descriptor): Record<string, unknown> {
  return {
    mediaType: d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(d.urls?.length ? { urls: d.urls } : {}),
    ...(d.annotations && Object.keys(d.annotations).length ? { annotations: sortedMap(d.annotations) } : {}),
    ...(d.platform ? { platform: ociPlatform(d.platform) } : {}),
  };
}

function ociPlatform(p: Platform): Record<string, unknown> {
  return {
    architecture: p.architecture,
    os: p.os,
    ...(p['os.version'] ? { 'os.version': p['os.version'] } : {}),
    ...(p['os.features']?.length ? { 'os.features': p['os.features'] } : {}),
    ...(p.variant ? { variant: p.variant } : {}),
  };
}

function dockerDescriptor(d: Descriptor): Record<string, unknown> {
  return { mediaType: d.mediaType, size: d.size, digest: d.digest, ...(d.urls?.length ? { urls: d.urls } : {}) };
}

/** Serialises an image manifest as containers/image does for its media type. */
export function serializeImageManifest(m: ImageManifest): Buffer {
  if (m.mediaType === MediaType.ociManifest) {
    return Buffer.from(
      goJson({
        schemaVersion: 2,
        mediaType: m.mediaType,
        ...(m.artifactType ? { artifactType: m.artifactType } : {}),
        config: ociDescriptor(m.config),
        layers: m.layers.map(ociDescriptor),
        ...(m.annotations && Object.keys(m.annotations).length ? { annotations: sortedMap(m.annotations) } : {}),
      }),
    );
  }
  if (m.mediaType === MediaType.dockerV2S2) {
    return Buffer.from(goJson({ schemaVersion: 2, mediaType: m.mediaType, config: dockerDescriptor(m.config), layers: m.layers.map(dockerDescriptor) }));
  }
  throw new ConversionError(`cannot write a manifest of type ${m.mediaType}`);
}

/** Serialises an index / manifest list of the given format over the given instances. */
export function serializeIndex(format: ManifestFormat, manifests: Descriptor[], annotations?: Record<string, string>): Buffer {
  if (format === 'oci') {
    return Buffer.from(
      goJson({
        schemaVersion: 2,
        mediaType: MediaType.ociIndex,
        manifests: manifests.map(ociDescriptor),
        ...(annotations && Object.keys(annotations).length ? { annotations: sortedMap(annotations) } : {}),
      }),
    );
  }
  return Buffer.from(
    goJson({
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: manifests.map((d) => ({
        ...dockerDescriptor(d),
        platform: d.platform ? ociPlatform(d.platform) : { architecture: '', os: '' },
      })),
    }),
  );
}

/**
 * The index converted to a format, with instance descriptors replaced where instances changed.
 * An OCI index made a Docker list gives an instance without `platform` the host's (as
 * containers/image's ToSchema2List fills in runtime.GOOS/GOARCH, so skopeo writes the same list).
 */
export function convertIndex(index: IndexManifest, format: ManifestFormat, replaced: Map<string, { digest: string; size: number; mediaType: string }>): Buffer {
  const fill = format === 'v2s2' && index.mediaType === MediaType.ociIndex ? systemPlatform() : undefined;
  const manifests = index.manifests.map((d) => {
    const r = replaced.get(d.digest);
    const withPlatform = fill && !d.platform ? { ...d, platform: fill } : d;
    return r ? { ...withPlatform, ...r } : withPlatform;
  });
  return serializeIndex(format, manifests, format === 'oci' ? index.annotations : undefined);
}

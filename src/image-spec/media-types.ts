/** Media types of manifests, configs and layers (OCI image spec and Docker's distribution formats). */
export const MediaType = {
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerV2S2: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** OCI 1.1's empty descriptor content (`{}`): the config of artifacts that have none. */
  ociEmpty: 'application/vnd.oci.empty.v1+json',
} as const;

/** Config media types of runnable images (anything else makes a manifest an artifact). */
export function isImageConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;
}

/**
 * Whether an image manifest is an image as containers/image takes it (else an artifact): an OCI
 * manifest's config must be the OCI image config (its Inspect and its conversion to v2s2 refuse
 * any other, a Docker config included, as an artifact); a Docker manifest's either image config.
 */
export function isImageManifestConfig(manifest: { mediaType: string; config: { mediaType: string } }): boolean {
  if (manifest.mediaType === MediaType.ociManifest) return manifest.config.mediaType === MediaType.ociConfig;
  return isImageConfigMediaType(manifest.config.mediaType);
}

/** Every manifest type we can read, in the order we prefer them in an `Accept` header. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  MediaType.ociIndex,
  MediaType.dockerManifestList,
  MediaType.ociManifest,
  MediaType.dockerV2S2,
  MediaType.dockerSchema1Signed,
  MediaType.dockerSchema1,
];

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

export function isSchema1MediaType(mediaType: string): boolean {
  return mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed;
}

/** A media type as RFC 6838 names them (`type/subtype`, no parameters): what callers may filter on. */
export const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

import { join } from 'node:path';
import { digestHex } from '../../image-spec/digest';

/**
 * skopeo's `dir:` format (containers/image 5.23 directory transport): a `version` file, the
 * top-level manifest as `manifest.json`, instance manifests of a multi-image copy as
 * `<hex>.manifest.json`, and every blob as a file named by its digest's hex part (no algorithm
 * prefix). Signatures would be `signature-N`; skiff writes none.
 */
export const DIR_VERSION_CONTENT = 'Directory Transport Version: 1.1\n';

export function dirManifestPath(dir: string, instanceDigest?: string): string {
  return join(dir, instanceDigest ? `${digestHex(instanceDigest)}.manifest.json` : 'manifest.json');
}

export function dirBlobPath(dir: string, digest: string): string {
  return join(dir, digestHex(digest));
}

export function dirVersionPath(dir: string): string {
  return join(dir, 'version');
}

import { setFlagsFromString } from 'node:v8';

/**
 * V8's young generation kept at its initial size: applied when this module is imported, which
 * main.ts does first, before the framework loads (the young generation grows during start-up).
 *
 * Why: every socket read of a blob body is a fresh ~64 KiB ArrayBuffer that is garbage a few
 * milliseconds later. With the default growth the young generation reaches V8's largest
 * semi-space (~30 MiB) during start-up, and a copy allocates too few JS objects to fill it: no
 * scavenge runs while blobs stream, the dead buffers are only freed by full mark-compacts that
 * V8 starts per ~64 MiB of external memory (about ten per 329 MiB copy, each marking the whole
 * heap). Peak RSS rose ~110 MB above idle (idle itself held ~30 MiB of young generation). A small young
 * generation is scavenged every megabyte or so of JS allocation, which frees dead buffers as
 * it goes and cheaply (measured in the commit that added this: peak RSS and copy time both down).
 *
 * An operator who sizes the young generation (`--max-semi-space-size`, `--min-semi-space-size`
 * or `--semi-space-growth-factor` on the node command line or in NODE_OPTIONS) is left alone.
 */
export function youngGenerationFlags(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const sized = (s: string): boolean => /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor/.test(s);
  if (execArgv.some(sized) || sized(nodeOptions ?? '')) return undefined;
  return '--semi-space-growth-factor=1';
}

const flags = youngGenerationFlags(process.execArgv, process.env['NODE_OPTIONS']);
if (flags) setFlagsFromString(flags);

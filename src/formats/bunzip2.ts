import { createRequire } from 'node:module';
import { PassThrough, pipeline, type Readable } from 'node:stream';

// bzip2 decompression for whole-file reading (`.bz2` logs, e.g. Amazon RDS downloads). Node has no bzip2 in
// zlib; unbzip2-stream is a small pure-JS streaming decoder. It is a classic (through) stream, so it is wrapped
// in a PassThrough to be async-iterable, and its terse errors are given the file name.

type Through = NodeJS.ReadWriteStream;
const unbzip2 = createRequire(import.meta.url)('unbzip2-stream') as () => Through;

export function bunzip2(raw: Readable, path: string): Readable {
  const out = new PassThrough();
  const decoder = unbzip2();
  pipeline(raw, decoder, (err) => {
    if (err) out.destroy(new Error(`${path}: not a complete bzip2 file (${err.message})`));
  });
  decoder.pipe(out);
  return out;
}

import { Transform } from 'class-transformer';

/**
 * Query-string booleans: `true`/`false` (also `1`/`0`); anything else is left as a string so
 * that @IsBoolean reports it.
 */
export function QueryBoolean(): PropertyDecorator {
  return Transform(({ value }: { value: unknown }) => {
    if (value === 'true' || value === '1' || value === true) return true;
    if (value === 'false' || value === '0' || value === false) return false;
    return value;
  });
}

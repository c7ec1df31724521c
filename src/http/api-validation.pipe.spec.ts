import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { IsBoolean, IsOptional, IsString } from 'class-validator';
import { ApiValidationPipe } from './api-validation.pipe';
import { QueryBoolean } from './query-boolean';
import { RequestValidationError } from './request-validation.error';

class Query {
  @IsString()
  image: string;

  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  raw?: boolean;
}

class Body {
  @IsString()
  image: string;
}

function pipe(): ApiValidationPipe {
  return new ApiValidationPipe({
    transform: true,
    whitelist: true,
    forbidNonWhitelisted: true,
    exceptionFactory: (errors) => RequestValidationError.fromClassValidator(errors),
  });
}

const query = { type: 'query' as const, metatype: Query, data: undefined };

describe('ApiValidationPipe', () => {
  it('gives a repeated query a fresh copy of the DTO it built the first time', async () => {
    const p = pipe();
    const first = (await p.transform({ image: 'docker://a/b:1', raw: 'true' }, query)) as Query;
    const second = (await p.transform({ image: 'docker://a/b:1', raw: 'true' }, query)) as Query;
    assert.ok(first instanceof Query && second instanceof Query);
    assert.deepEqual({ ...second }, { image: 'docker://a/b:1', raw: true });
    assert.notEqual(first, second);
    second.image = 'changed';
    const third = (await p.transform({ image: 'docker://a/b:1', raw: 'true' }, query)) as Query;
    assert.equal(third.image, 'docker://a/b:1', 'a caller changing its copy does not change the next answer');
  });

  it('validates invalid queries every time, and a different query is validated on its own', async () => {
    const p = pipe();
    for (let i = 0; i < 2; i++) {
      await assert.rejects(p.transform({ image: 'x', raw: 'maybe' }, query), RequestValidationError);
      await assert.rejects(p.transform({ image: 'x', unknown: '1' }, query), RequestValidationError);
    }
    assert.equal(((await p.transform({ image: 'x', raw: 'false' }, query)) as Query).raw, false);
    assert.equal(((await p.transform({ image: 'x', raw: '1' }, query)) as Query).raw, true);
  });

  it('leaves bodies to the plain pipe', async () => {
    const p = pipe();
    const a = (await p.transform({ image: 'x' }, { type: 'body', metatype: Body, data: undefined })) as Body;
    const b = (await p.transform({ image: 'x' }, { type: 'body', metatype: Body, data: undefined })) as Body;
    assert.ok(a instanceof Body && b instanceof Body);
    await assert.rejects(p.transform({ image: 1 }, { type: 'body', metatype: Body, data: undefined }), RequestValidationError);
  });
});

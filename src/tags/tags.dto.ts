import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsNotEmpty, IsOptional, IsString, MaxLength } from 'class-validator';
import { QueryBoolean } from '../http/query-boolean';

/** Query of DELETE /v1/tags. */
export class DeleteTagQueryDto {
  /** The tag to remove, `docker://REPOSITORY:TAG`. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:old' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4096)
  image: string;

  /** `false` skips TLS verification and allows plain HTTP. */
  @ApiPropertyOptional({ type: Boolean, default: true })
  @IsOptional()
  @QueryBoolean()
  @IsBoolean()
  tlsVerify?: boolean;
}

/** Answer of DELETE /v1/tags. */
export class DeletedTagDto {
  /** The tag as given. */
  @ApiProperty({ example: 'docker://127.0.0.1:5000/app:old' })
  image: string;

  /** The digest the tag pointed at; that manifest and its other tags stay. */
  @ApiProperty({ example: 'sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae' })
  digest: string;

  /** `tag-delete`: the registry deleted the tag itself; `placeholder`: the tag was moved to a unique empty manifest, which was deleted. */
  @ApiProperty({ enum: ['tag-delete', 'placeholder'], enumName: 'TagDeleteMethod', example: 'placeholder' })
  method: 'tag-delete' | 'placeholder';
}
